"""The lookahead checker on every registered strategy (real data, default params) and on leaky ones."""

import numpy as np
import pytest

from backtest.lookahead import LookaheadInputError, LookaheadReport, check_lookahead
from raytrader.errors import InputError
from strategies import get_strategy, list_strategies
from strategies.mtf_trend import MTF_TREND
from strategies.params import ParamSpec
from strategies.registry import Strategy
from tests.strategies._data import alt_panel, eth_ltc, sample


def _data(record: Strategy, single: str = "ETH-BTC-5m"):
    if not record.multi_asset:
        return sample(single)
    return eth_ltc() if record.max_assets == 2 else alt_panel()


@pytest.mark.parametrize("name", list_strategies())
def test_every_registered_strategy_passes_on_real_data(name):
    record = get_strategy(name)
    data = _data(record)
    report = check_lookahead(record, data)
    assert isinstance(report, LookaheadReport)
    assert report.ok, report.reason
    assert report.first_bad_bar is None and report.reason == ""
    assert len(report.points) >= 25 and report.points == tuple(sorted(set(report.points)))
    assert report.points[0] >= record.min_bars(record.defaults()) - 1
    full = record.run(data)
    changes = np.flatnonzero((np.diff(full, axis=0) != 0).reshape(full.shape[0] - 1, -1).any(axis=1)) + 1
    assert np.isin(changes, report.points).sum() >= 10  # the check looked where the targets change


@pytest.mark.parametrize("name", [n for n in list_strategies() if not get_strategy(n).multi_asset])
def test_single_asset_strategies_also_pass_on_daily_bitcoin(name):
    report = check_lookahead(name, sample("BTC-USD-1d"), points=15)
    assert report.ok, report.reason


# ----------------------------------------------------------------------------- leaky strategies


def _next_close_up(bars, hold):
    """Leaky on purpose: long at bar t when close[t + 1] > close[t] (the last bar sees nothing)."""
    close = np.asarray(bars.close)
    out = np.zeros(close.shape[0])
    out[:-1] = (close[1:] > close[:-1]).astype(float)
    return out


def _record(name, fn, **kw):
    return Strategy(name=name, doc="leaky on purpose", fn=fn,
                    params=(ParamSpec(name="hold", kind="int", low=1, high=5, default=1),),
                    min_bars=lambda p: 10, **kw)


def test_a_strategy_that_reads_the_next_close_is_caught_at_the_first_bar_it_leaks():
    bars = sample("ETH-BTC-5m")
    leaky = _record("next_close", _next_close_up)
    report = check_lookahead(leaky, bars, points=[100, 2_000, 3_000])
    close = np.asarray(bars.close)
    leaking = [t for t in (100, 2_000, 3_000) if close[t + 1] > close[t]]
    assert leaking, "the chosen points must include an up bar"
    assert not report.ok
    assert report.first_bad_bar == leaking[0] == report.first_bad_point
    assert report.full_value == (1.0,) and report.truncated_value == (0.0,)
    assert report.first_bad_time_ms == int(bars.timestamp[leaking[0]])
    assert f"bar {leaking[0]}" in report.reason and "next_close" in report.reason
    assert not check_lookahead(leaky, bars).ok  # default points catch it too


def _centred_mean_sign(bars, hold):
    """Leaky on purpose, subtly: a centred (two-sided) 5-bar moving average."""
    close = np.asarray(bars.close)
    smooth = np.convolve(close, np.ones(5) / 5, mode="same")
    return (close > smooth).astype(float)


def test_a_centred_moving_average_is_caught():
    report = check_lookahead(_record("centred", _centred_mean_sign), sample("ETH-BTC-5m"))
    assert not report.ok and report.first_bad_bar is not None


def _mtf_with_partial_bins(bars, hold):
    """Leaky on purpose: mtf_trend's HTF trend, but taking the current, still-forming bin."""
    from strategies.indicators import ema

    ts, close = np.asarray(bars.timestamp), np.asarray(bars.close)
    label = ts - ts % (12 * 300_000)
    bin_of = np.cumsum(np.r_[True, label[1:] != label[:-1]]) - 1
    last = np.r_[np.flatnonzero(label[1:] != label[:-1]), ts.shape[0] - 1]
    hclose = close[last]
    hdir = np.sign(np.nan_to_num(hclose - ema(hclose, 20)))
    return hdir[bin_of]  # uses the bin's final close before the bin is over


def test_using_an_incomplete_higher_timeframe_bar_is_caught():
    bars = sample("ETH-BTC-5m")
    report = check_lookahead(_record("mtf_partial", _mtf_with_partial_bins), bars)
    assert not report.ok
    assert report.first_bad_point is not None and (bars.timestamp[report.first_bad_bar] // 300_000) % 12 != 11
    assert check_lookahead(MTF_TREND, bars).ok  # the real one waits for the bin to complete


def _future_winner(bars, hold):
    """Leaky multi-asset strategy: all-in on the asset with the best *next* return."""
    close = np.column_stack([np.asarray(b.close) for b in bars])
    out = np.zeros_like(close)
    nxt = close[1:] / close[:-1]
    out[np.arange(nxt.shape[0]), np.argmax(nxt, axis=1)] = 1.0
    return out


def test_a_leaky_multi_asset_strategy_is_caught_naming_the_asset_values():
    panel = alt_panel()
    leaky = _record("future_winner", _future_winner, min_assets=2, max_assets=None)
    report = check_lookahead(leaky, panel, points=[500, 1_500])
    assert not report.ok and report.first_bad_bar == 500
    assert len(report.full_value) == 10 and sum(report.full_value) == 1.0
    assert report.truncated_value == (0.0,) * 10  # the last row of a truncated run has no next return


def test_bad_points_are_named_errors():
    bars = sample("ETH-BTC-5m")
    with pytest.raises(LookaheadInputError, match=r"^points: 5 is outside \[30, 5759\]") as info:
        check_lookahead("sma_cross", bars, points=[5, 100])
    assert isinstance(info.value, InputError)
    for bad in (0, True, [], ["x"]):
        with pytest.raises(LookaheadInputError, match="^points"):
            check_lookahead("sma_cross", bars, points=bad)
    report = check_lookahead("sma_cross", bars, {"fast": 5, "slow": 20}, points=[5_759, 20, 20])
    assert report.ok and report.points == (20, 5_759) and report.params == {"fast": 5, "slow": 20}
