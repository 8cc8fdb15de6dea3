"""backtest.strategy_check: the lookahead check and the warm-up stability check as one verdict, on real bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import strategies  # noqa: F401
from backtest.strategy_check import (
    StrategyCheck,
    StrategyRefusedError,
    WarmupInputError,
    check_strategy,
    check_warmup,
    default_startup,
    require_safe,
)
from strategies import registry, user
from strategies.registry import get_strategy
from tests.strategies._data import eth_ltc, sample
from tests.strategies._user_files import CHEAT, EXPANDING, unique, write


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(user, "_LOADED", {})


def _load(tmp_path: Path, source: str, prefix: str) -> str:
    name = unique(prefix)
    write(tmp_path, name, source)
    user.load_user_strategies(tmp_path / f"{name}.py")
    return name


@pytest.mark.parametrize("name", ["sma_cross", "ema_cross", "rsi_reversion", "macd_trend", "bollinger_reversion"])
def test_builtin_strategies_pass_both_checks_on_real_data(name: str) -> None:
    for bars in (sample("BTC-USD-1d"), sample("ETH-BTC-5m")):
        result = check_strategy(name, bars)
        assert isinstance(result, StrategyCheck)
        assert result.ok and result.reason == "" and result.lookahead.ok and result.warmup.ok, result.reason
        warm = result.warmup
        need = get_strategy(name).min_bars(get_strategy(name).defaults())
        assert warm.startup == default_startup(need) >= need
        assert warm.starts[-1] == 0 and warm.starts[0] == len(bars) - warm.window - warm.startup
        assert warm.max_difference <= warm.tolerance


def test_a_multi_asset_strategy_is_checked_on_aligned_series() -> None:
    result = check_strategy("pairs_trading", list(eth_ltc()), {"window": 300})
    assert result.ok, result.reason
    assert result.warmup.n_bars == len(eth_ltc()[0])


def test_a_lookahead_cheat_fails_with_the_bar_and_the_reason(tmp_path: Path) -> None:
    name = _load(tmp_path, CHEAT, "cheat")
    bars = sample("ETH-BTC-5m")
    result = check_strategy(name, bars)
    assert not result.ok and not result.lookahead.ok
    bad = result.lookahead.first_bad_bar
    assert bad is not None and result.lookahead.first_bad_time_ms == int(bars.timestamp[bad])
    assert f"target at bar {bad}" in result.reason and "uses data from after bar" in result.reason
    # the cheat really is one: its target at the bad bar is decided by the next close
    assert (bars.close[bad + 1] > bars.close[bad]) == (result.lookahead.full_value == (1.0,))
    with pytest.raises(StrategyRefusedError) as refused:  # what paper and live trading will call
        require_safe(name, bars)
    assert refused.value.check == result and result.reason in str(refused.value)
    assert require_safe("sma_cross", bars).ok


def test_a_target_that_depends_on_all_history_fails_the_warm_up_check(tmp_path: Path) -> None:
    name = _load(tmp_path, EXPANDING, "expanding")
    bars = sample("BTC-USD-1d")
    result = check_strategy(name, bars)
    assert result.lookahead.ok  # causal ...
    warm = result.warmup
    assert not warm.ok and not result.ok  # ... but not stable when history is prepended
    assert warm.first_bad_bar is not None and warm.first_bad_bar >= len(bars) - warm.window
    assert warm.values is not None and len(set(warm.values)) > 1
    assert "changes with the history before it" in result.reason and f"bar {warm.first_bad_bar}" in result.reason
    assert warm.first_bad_time_ms == int(bars.timestamp[warm.first_bad_bar])
    # independently: the all-history mean from bar 0 and from a later start disagree on that bar
    close, bar, start = bars.close, warm.first_bad_bar, warm.starts[0]
    from_zero = close[bar] > close[: bar + 1].mean()
    from_start = close[bar] > close[start: bar + 1].mean()
    assert warm.values[0] == float(from_start) and warm.values[-1] == float(from_zero)


EMA_SIZED = """
import numpy as np

from strategies import Strategy, register
from strategies.indicators import ema
from strategies.params import ParamSpec


def NAME(bars, n):
    close = np.asarray(bars.close, dtype=np.float64)
    return np.nan_to_num(np.clip((close / ema(close, n) - 1.0) * 10.0, -1.0, 1.0))


register(Strategy(name="NAME", doc="position sized by the distance to an EMA", fn=NAME,
                  params=(ParamSpec(name="n", kind="int", low=2, high=100, default=20),),
                  min_bars=lambda values: int(values["n"])))
"""


def test_an_ema_seeded_at_the_first_bar_needs_a_long_enough_warm_up(tmp_path: Path) -> None:
    """The EMA of a run that starts later is seeded elsewhere; the gap shrinks by (n-1)/(n+1) a bar."""
    bars = sample("BTC-USD-1d")
    name = _load(tmp_path, EMA_SIZED, "ema_sized")
    short = check_warmup(name, bars, startup=40)
    assert not short.ok and short.max_difference > short.tolerance
    assert "changes with the history before it" in short.reason
    assert check_warmup(name, bars, startup=40, tolerance=0.05).ok  # the tolerance is what it says
    long = check_warmup(name, bars, startup=1500)
    assert long.ok and long.max_difference <= 1e-9
    assert check_warmup(name, bars, startup=1500).max_difference < short.max_difference
    # the same comparison by hand: the run from bar 0 and the run from the shortest start, on the window
    record = get_strategy(name)
    cut = bars.take(slice(short.starts[0], None))
    ref = record.run(bars)[-short.window:]
    got = record.run(cut)[-short.window:]
    assert short.tolerance < np.max(np.abs(ref - got)) <= short.max_difference


def test_too_few_bars_and_bad_arguments_are_input_errors() -> None:
    bars = sample("BTC-USD-1d")
    short = bars.take(slice(0, 150))
    with pytest.raises(WarmupInputError, match="needs at least startup"):
        check_warmup("sma_cross", short, window=100)
    with pytest.raises(WarmupInputError, match="startup: 10 bars is fewer than the 31"):
        check_warmup("sma_cross", bars, startup=10)
    with pytest.raises(WarmupInputError, match="window: must be an integer >= 1"):
        check_warmup("sma_cross", bars, window=0)
    with pytest.raises(WarmupInputError, match="tolerance"):
        check_warmup("sma_cross", bars, tolerance=float("nan"))
    with pytest.raises(WarmupInputError, match="take"):
        check_warmup("sma_cross", type("B", (), {"close": np.ones(500)})())
