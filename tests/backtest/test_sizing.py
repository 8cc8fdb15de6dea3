"""Sizing rules for backtests (backtest.sizing): spec parsing, known cases, and no lookahead (the checker)."""

from __future__ import annotations

import numpy as np
import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from backtest.lookahead import check_lookahead
from backtest.sizing import SizingSpecError, parse_sizing, size_targets, sized_strategy
from market.samples import load_sample
from raytrader.errors import InputError
from risk.sizing import kelly_fraction
from strategies.align import align_series
from strategies.registry import get_strategy
from tests._bars import bars_from_close


@pytest.mark.parametrize(("spec", "names"), [
    ("", "METHOD"), ("bogus:1", "bogus"), ("vol-target", "needs a value"), ("vol-target:0", "vol-target"),
    ("vol-target:0.2,lam=1", "lam"), ("vol-target:0.2,foo=1", "foo"), ("vol-target:x", "'x'"),
    ("kelly:1.5", "kelly"), ("kelly:0.5,window=1", "window"), ("fixed:0", "fixed"), ("fixed:11", "fixed"),
    ("risk-parity:1", "takes no value"), ("risk-parity,every=0", "every"), ("kelly:nan", "finite"),
])
def test_bad_specs_are_named_input_errors(spec: str, names: str) -> None:
    with pytest.raises(SizingSpecError, match=names) as err:
        parse_sizing(spec)
    assert isinstance(err.value, InputError)


def test_method_must_fit_the_strategy() -> None:
    bars = bars_from_close(np.linspace(100, 110, 50))
    with pytest.raises(SizingSpecError, match="single-asset strategy takes"):
        size_targets(bars, np.ones(50), parse_sizing("risk-parity"))
    with pytest.raises(SizingSpecError, match="multi-asset strategy takes"):
        size_targets([bars, bars], np.ones((50, 2)), parse_sizing("vol-target:0.2"))


def test_fixed_scales_every_target() -> None:
    bars = bars_from_close(np.linspace(100, 110, 30))
    signal = np.r_[np.zeros(10), np.ones(10), -np.ones(10)]
    assert np.array_equal(size_targets(bars, signal, parse_sizing("fixed:0.5")), signal * 0.5)


def test_vol_target_reaches_the_closed_form_on_constant_volatility() -> None:
    # log returns alternate +a, -a: every squared return is a², so the EWMA variance tends to a² and the
    # scale to target / (a sqrt(ppy)); ppy given, so no timeframe assumption
    a, n, ppy = 0.01, 400, 8760.0
    close = 100 * np.exp(np.cumsum(np.r_[0.0, a * (-1.0) ** np.arange(n - 1)]))
    bars = bars_from_close(close)
    sized = size_targets(bars, np.ones(n), parse_sizing(f"vol-target:0.2,ppy={ppy:g},max=5,warmup=20"))
    assert np.all(sized[:20] == 0)  # warm-up: no size before 20 returns are known
    assert sized[-1] == pytest.approx(0.2 / (a * np.sqrt(ppy)), rel=1e-9)
    # the cap binds when the asked-for leverage is above it
    capped = size_targets(bars, np.ones(n), parse_sizing(f"vol-target:5,ppy={ppy:g},max=1.5"))
    assert capped[-1] == 1.5
    # default ppy from the 5-minute timeframe: 365.25 days of 288 bars
    dflt = size_targets(bars, np.ones(n), parse_sizing("vol-target:0.2,max=5"))
    assert dflt[-1] == pytest.approx(0.2 / (a * np.sqrt(365.25 * 288)), rel=1e-9)


def test_kelly_matches_the_scalar_rule_bar_by_bar() -> None:
    close = load_sample("BTC-USD-1d").close[:600]
    bars = bars_from_close(close)
    rng = np.random.default_rng(3)
    signal = rng.choice([-1.0, 0.0, 1.0], size=close.size)
    window = 100
    sized = size_targets(bars, signal, parse_sizing(f"kelly:0.5,window={window},cap=2"))
    r = np.diff(np.log(close))
    assert np.all(sized[:window] == 0)
    for t in range(window, close.size, 7):
        win = r[t - window:t]  # returns of bars t-window+1 .. t
        side = np.sign(signal[t])
        want = 0.0 if side == 0 else side * max(0.0, side * kelly_fraction(win.mean(), win.var(ddof=1), fraction=0.5,
                                                                             cap=2.0))
        assert sized[t] == pytest.approx(want, rel=1e-9, abs=1e-12), t


def test_risk_parity_of_two_assets_is_inverse_volatility() -> None:
    # with two assets the equal-risk-contribution weights are 1/σ normalised, whatever the correlation
    a, b = load_sample("ETH-BTC-5m"), load_sample("LTC-BTC-5m")
    series = list(align_series([a, b]))
    n = len(series[0])
    signal = np.tile([0.5, 0.5], (n, 1))
    window, every = 60, 20
    sized = size_targets(series, signal, parse_sizing(f"risk-parity,window={window},every={every}"))
    assert np.all(sized[:window] == 0)
    r = np.diff(np.log(np.column_stack([s.close for s in series])), axis=0)
    for t in (window, window + every, 1000, 3000):
        sd = r[t - window:t].std(axis=0, ddof=1)  # returns of bars t-window+1 .. t
        want = (1 / sd) / (1 / sd).sum()
        np.testing.assert_allclose(sized[t], want, rtol=1e-5)
        np.testing.assert_array_equal(sized[t + every - 1], sized[t])  # held until the next rebalance


@pytest.mark.parametrize("spec", ["vol-target:0.2", "kelly:0.5,window=60", "fixed:0.5"])
def test_sized_single_asset_strategy_has_no_lookahead(spec: str) -> None:
    bars = load_sample("BTC-USD-1d").take(slice(0, 1500))
    record = sized_strategy(get_strategy("sma_cross"), parse_sizing(spec))
    report = check_lookahead(record, bars, {"fast": 10, "slow": 40}, points=20)
    assert report.ok, report.reason
    assert np.any(record.run(bars, {"fast": 10, "slow": 40}) != get_strategy("sma_cross").run(bars, {"fast": 10, "slow": 40}))


def test_sized_multi_asset_strategy_has_no_lookahead() -> None:
    series = list(align_series([load_sample(s).take(slice(0, 1500)) for s in ("ETH-BTC-5m", "LTC-BTC-5m", "XMR-BTC-5m")]))
    record = sized_strategy(get_strategy("xs_momentum"), parse_sizing("risk-parity,window=60,every=50"))
    report = check_lookahead(record, series, {"lookback": 100, "top": 1}, points=8)
    assert report.ok, report.reason


def test_the_checker_catches_a_sizing_that_peeks() -> None:
    # negative control: the same wrapper with a scale taken from the *next* bar's return must fail the check
    from dataclasses import replace

    bars = load_sample("BTC-USD-1d").take(slice(0, 800))
    base = get_strategy("sma_cross")

    def peeking(b: object, **p: object) -> np.ndarray:
        close = np.asarray(b.close)  # type: ignore[attr-defined]
        nxt = np.r_[np.abs(np.diff(np.log(close))), 0.0]
        return base.fn(b, **p) * (1.0 + (nxt > 0.02))

    report = check_lookahead(replace(base, name="peek", fn=peeking, batched=None), bars, {"fast": 10, "slow": 40})
    assert not report.ok
