"""Hand-computed examples for fractional/signed targets, slippage and stops (see backtest/engine.py)."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.errors import BarsFieldMissingError
from tests._bars import FIVE_MIN_MS, T0_MS, bars_from_close

from market.bars import Bars

OPEN = [100.0, 100.0, 110.0, 120.0, 125.0]
CLOSE = [100.0, 105.0, 115.0, 125.0, 130.0]
BARS = bars_from_close(CLOSE, OPEN)


def ohlc(rows, volume=None) -> Bars:
    """5m bars from (open, high, low, close) rows."""
    arr = np.asarray(rows, dtype=np.float64)
    n = arr.shape[0]
    vol = np.ones(n) if volume is None else np.asarray(volume, dtype=np.float64)
    return Bars(timestamp=T0_MS + FIVE_MIN_MS * np.arange(n, dtype=np.int64), open=arr[:, 0], high=arr[:, 1],
                low=arr[:, 2], close=arr[:, 3], volume=vol, symbol="TEST/USDT", timeframe="5m", venue="test")


def ts(i: int) -> int:
    return T0_MS + i * FIVE_MIN_MS


# ------------------------------------------------------------------ fractional and signed targets
def test_half_target_keeps_half_of_equity_after_fees_in_the_position():
    res = run_backtest(BARS, [0.5, 0.5, 0.5, 0.5, 0.5], fees_bps=10)
    # buy at bar 1's open (100): u = 0.5 * 10000 / (100 * (1 + 0.5 * 0.001)) = 49.97501249375312
    units = 0.5 * 10_000 / (100 * 1.0005)
    fee = units * 100 * 0.001  # 4.997501249375312
    assert res.units[1] == pytest.approx(units, rel=1e-14)
    assert res.cash[1] == pytest.approx(10_000 - units * 100 - fee, rel=1e-14)  # 4997.501249375312
    # the invariant: position value at the fill price = 0.5 * (equity - fee)
    assert units * 100 == pytest.approx(0.5 * (10_000 - fee), rel=1e-14)
    # no further trades: the target never changes, the position drifts
    assert np.count_nonzero(np.diff(res.units[1:])) == 0 and res.n_trades == 1
    assert res.final_equity == pytest.approx(res.cash[1] + units * 130.0, rel=1e-14)


def test_resizing_a_long_is_one_trade_with_average_prices():
    res = run_backtest(BARS, [0.5, 1.0, 0.5, 0.0, 0.0])
    # bar1 open 100: 50 units, cash 5000
    # bar2 open 110: equity 10500 -> 95.4545.. units (buy 45.4545.. @ 110), cash 0
    # bar3 open 120: equity 11454.54.. -> 47.7272.. units (sell 47.7272.. @ 120), cash 5727.27..
    # bar4 open 125: sell the rest -> cash 5727.27.. + 47.7272.. * 125 = 11693.1818..
    u2 = 10_500 / 110
    u3 = 0.5 * u2 * 120 / 120
    np.testing.assert_allclose(res.units, [0.0, 50.0, u2, u3, 0.0], rtol=1e-14, atol=1e-12)
    assert res.final_equity == pytest.approx(u3 * 120 + u3 * 125, rel=1e-13)  # 11693.18181818182
    (trade,) = res.trades
    assert (trade.entry_time, trade.exit_time, trade.side) == (ts(1), ts(4), "long")
    assert trade.units == pytest.approx(u2, rel=1e-14)  # 95.45 units added in all
    assert trade.entry_price == pytest.approx((50 * 100 + (u2 - 50) * 110) / u2, rel=1e-13)  # 104.7619..
    assert trade.exit_price == pytest.approx(122.5, rel=1e-13)  # half at 120, half at 125
    assert trade.pnl == pytest.approx(res.final_equity - 10_000, rel=1e-12)
    np.testing.assert_allclose(res.traded, [0, 5000, 5000, u3 * 120, u3 * 125], rtol=1e-13)


def test_short_without_fees():
    res = run_backtest(BARS, [-1, -1, 0, 0, 0])
    # sell 100 units at bar1's open (100): cash 20000; buy back at bar3's open (120): cash 8000
    np.testing.assert_allclose(res.units, [0, -100, -100, 0, 0], rtol=1e-15)
    np.testing.assert_allclose(res.equity, [10_000, 9_500, 8_500, 8_000, 8_000], rtol=1e-14)
    (trade,) = res.trades
    assert trade.side == "short" and (trade.entry_price, trade.exit_price) == (100.0, 120.0)
    assert trade.pnl == pytest.approx(-2_000, rel=1e-13)
    assert trade.return_pct == pytest.approx(-20.0, rel=1e-13)


def test_short_with_fees_sizes_on_equity_after_fee():
    res = run_backtest(BARS, [-1, -1, 0, 0, 0], fees_bps=10)
    units = 10_000 / (100 * 1.001)  # 99.9000999000999 short
    assert res.units[1] == pytest.approx(-units, rel=1e-14)
    cash1 = 10_000 + units * 100 * 0.999  # 19980.01998001998
    assert res.cash[1] == pytest.approx(cash1, rel=1e-14)
    cash3 = cash1 - units * 120 * 1.001  # buy back at 120 plus fee: 7980.019980019978
    assert res.final_equity == pytest.approx(cash3, rel=1e-13)
    (trade,) = res.trades
    assert trade.pnl == pytest.approx(cash3 - 10_000, rel=1e-12)


def test_flip_from_long_to_short_closes_one_trade_and_opens_the_next():
    res = run_backtest(BARS, [1, -1, -1, 0, 0])
    # bar1 open 100: long 100; bar2 open 110: equity 11000 -> short 100 (sell 200, cash 22000);
    # target 0 on bar 3 -> cover at bar 4's open (125): cash 22000 - 12500 = 9500
    np.testing.assert_allclose(res.units, [0, 100, -100, -100, 0], rtol=1e-15)
    long_, short = res.trades
    assert (long_.side, long_.entry_price, long_.exit_price, long_.exit_time) == ("long", 100.0, 110.0, ts(2))
    assert (short.side, short.entry_price, short.exit_price, short.entry_time) == ("short", 110.0, 125.0, ts(2))
    assert long_.pnl == pytest.approx(1_000, rel=1e-13) and short.pnl == pytest.approx(-1_500, rel=1e-13)
    assert res.final_equity == pytest.approx(9_500, rel=1e-14)
    assert res.traded[2] == pytest.approx(200 * 110, rel=1e-14)


def test_leverage_two_borrows_cash():
    res = run_backtest(BARS, [2, 2, 2, 2, 2])
    # 200 units at 100: cash -10000; equity at bar 4's close = 200 * 130 - 10000
    assert res.cash[1] == pytest.approx(-10_000, rel=1e-14)
    assert res.final_equity == pytest.approx(16_000, rel=1e-14)


# ------------------------------------------------------------------ slippage
def test_fixed_slippage_moves_both_fills_against_the_order():
    res = run_backtest(BARS, [1, 1, 0, 0, 0], slippage_bps=10)
    # buy at 100 * 1.001 = 100.1 -> 99.9000999.. units; sell at 120 * 0.999 = 119.88
    (trade,) = res.trades
    assert trade.entry_price == pytest.approx(100.1, rel=1e-15)
    assert trade.exit_price == pytest.approx(119.88, rel=1e-15)
    # same money as 10 bps of fees and no slippage, but nothing is booked as a fee
    assert res.final_equity == pytest.approx(11976.023976023977, rel=1e-13)
    assert res.fees_paid == 0.0


def test_participation_slippage_scales_with_order_size_over_bar_volume():
    bars = ohlc([[100, 100, 100, 100], [100, 100, 100, 100], [120, 120, 120, 120]], volume=[200, 200, 400])
    res = run_backtest(bars, [1, 0, 0], slippage_k_bps=50)
    # buy at bar 1: naive 100 units / 200 volume = 0.5 -> 25 bps -> price 100.25
    buy = 100 * (1 + 0.0025)
    units = 10_000 / buy  # 99.75062344139651
    # sell at bar 2: 99.75.. units / 400 = 0.2493765.. -> 12.468827 bps
    sell = 120 * (1 - 0.005 * units / 400)
    (trade,) = res.trades
    assert trade.entry_price == pytest.approx(buy, rel=1e-14)
    assert trade.exit_price == pytest.approx(sell, rel=1e-14)  # 119.85037406483791
    assert res.final_equity == pytest.approx(units * sell, rel=1e-13)


def test_participation_is_capped_at_the_whole_bar_and_zero_volume_pays_k():
    bars = ohlc([[100, 100, 100, 100], [100, 100, 100, 100], [120, 120, 120, 120]], volume=[0, 0, 0])
    (trade,) = run_backtest(bars, [1, 0, 0], slippage_k_bps=50, slippage_bps=5).trades
    assert trade.entry_price == pytest.approx(100 * 1.0055, rel=1e-14)
    assert trade.exit_price == pytest.approx(120 * 0.9945, rel=1e-14)


# ------------------------------------------------------------------ stops
def _flat_then(rows):
    """Bar 0 (100 everywhere) then ``rows``; target 1 from bar 0 enters at bar 1's open."""
    return ohlc([[100, 100, 100, 100], *rows])


def test_stop_loss_fills_at_its_level_when_the_low_touches_it():
    bars = _flat_then([[100, 102, 98, 101], [101, 103, 94, 96], [96, 97, 95, 96]])
    res = run_backtest(bars, [1, 1, 1, 1], stop_loss=0.05)
    (trade,) = res.trades
    assert (trade.exit_time, trade.exit_price, trade.exit_reason) == (ts(2), 95.0, "stop_loss")
    np.testing.assert_allclose(res.equity, [10_000, 10_100, 9_500, 9_500], rtol=1e-14)
    # the target stays 1 but the engine does not re-enter until the target changes
    assert res.units[3] == 0.0


def test_stop_loss_gap_fills_at_the_open():
    bars = _flat_then([[100, 102, 98, 101], [93, 94, 92, 93]])
    (trade,) = run_backtest(bars, [1, 1, 1], stop_loss=0.05).trades
    assert (trade.exit_price, trade.exit_reason) == (93.0, "stop_loss")


def test_take_profit_at_its_level_and_on_a_gap():
    hit = _flat_then([[100, 102, 99, 101], [101, 106, 99, 104]])
    (trade,) = run_backtest(hit, [1, 1, 1], take_profit=0.05).trades
    assert (trade.exit_price, trade.exit_reason, trade.exit_time) == (105.0, "take_profit", ts(2))
    gap = _flat_then([[100, 102, 99, 101], [107, 108, 106, 107]])
    (trade,) = run_backtest(gap, [1, 1, 1], take_profit=0.05).trades
    assert trade.exit_price == 107.0


def test_stop_wins_when_stop_and_take_profit_touch_in_one_bar():
    bars = _flat_then([[100, 102, 99, 101], [100, 106, 94, 104]])
    (trade,) = run_backtest(bars, [1, 1, 1], stop_loss=0.05, take_profit=0.05).trades
    assert (trade.exit_price, trade.exit_reason) == (95.0, "stop_loss")


def test_stop_can_fire_on_the_entry_bar_when_filling_at_the_open():
    bars = _flat_then([[100, 101, 90, 92]])
    (trade,) = run_backtest(bars, [1, 1], stop_loss=0.05).trades
    assert (trade.entry_time, trade.exit_time, trade.exit_price) == (ts(1), ts(1), 95.0)


def test_trailing_stop_uses_the_peak_up_to_the_previous_bar():
    # entry 100 at bar 1's open; bar 1: trail 90, high 110 raises the peak for bar 2 -> trail 99
    # bar 2: high 112 does not count yet; low 98.5 <= 99 -> exit at 99
    bars = _flat_then([[100, 110, 99, 108], [108, 112, 98.5, 100]])
    res = run_backtest(bars, [1, 1, 1], trailing_stop=0.10)
    (trade,) = res.trades
    assert (trade.exit_time, trade.exit_reason) == (ts(2), "trailing_stop")
    assert trade.exit_price == pytest.approx(99.0, rel=1e-15)
    # with a 5 % stop-loss too, the higher (trailing) level is the one hit
    (trade,) = run_backtest(bars, [1, 1, 1], trailing_stop=0.10, stop_loss=0.05).trades
    assert trade.exit_reason == "trailing_stop"


def test_short_stop_loss_and_take_profit_mirror_the_long_ones():
    stop = _flat_then([[100, 103, 99, 101], [101, 106, 100, 104]])
    res = run_backtest(stop, [-1, -1, -1], stop_loss=0.05, take_profit=0.05)
    (trade,) = res.trades
    assert (trade.side, trade.exit_price, trade.exit_reason) == ("short", 105.0, "stop_loss")
    assert res.final_equity == pytest.approx(20_000 - 100 * 105, rel=1e-14)  # 9500
    profit = _flat_then([[100, 101, 97, 98], [98, 99, 94, 96]])
    (trade,) = run_backtest(profit, [-1, -1, -1], take_profit=0.05).trades
    assert (trade.exit_price, trade.exit_reason) == (95.0, "take_profit")


def test_fill_at_close_checks_stops_from_the_next_bar():
    # entry at bar 0's close (100): bar 0's low 90 came before the entry and does not count
    bars = ohlc([[100, 100, 90, 100], [100, 101, 94, 97], [97, 98, 96, 97]])
    (trade,) = run_backtest(bars, [1, 1, 1], stop_loss=0.05, fill="close").trades
    assert (trade.entry_time, trade.exit_time, trade.exit_price) == (ts(0), ts(1), 95.0)


def test_stop_exit_pays_fees_and_slippage_and_target_change_reenters():
    bars = _flat_then([[100, 102, 98, 101], [101, 103, 94, 96], [96, 97, 95, 96], [96, 97, 95, 96]])
    res = run_backtest(bars, [1, 1, 0, 1, 1], stop_loss=0.05, fees_bps=10, slippage_bps=20)
    first, second = res.trades
    # entry fill 100 * 1.002 = 100.2 (slippage); the stop level is 5 % under that fill: 95.19,
    # and the stop's sell slips too: 95.19 * 0.998 = 94.99962
    units = 10_000 / (100 * 1.002 * 1.001)
    assert first.exit_price == pytest.approx(100.2 * 0.95 * 0.998, rel=1e-14)
    cash = units * 100.2 * 0.95 * 0.998 * 0.999
    assert res.cash[2] == pytest.approx(cash, rel=1e-13)
    # target 0 on bar 2 changes nothing (already flat); 1 on bar 3 re-enters at bar 4's open
    assert (second.entry_time, second.entry_price) == (ts(4), pytest.approx(96 * 1.002, rel=1e-14))


def test_stops_need_high_and_low():
    class OpenClose:
        timestamp = np.arange(3, dtype=np.int64)
        open = np.ones(3)
        close = np.ones(3)

    with pytest.raises(BarsFieldMissingError, match=r"^bars\.high"):
        run_backtest(OpenClose(), [1, 1, 1], stop_loss=0.1)
    with pytest.raises(BarsFieldMissingError, match=r"^bars\.volume"):
        run_backtest(OpenClose(), [1, 1, 1], slippage_k_bps=1)
    assert run_backtest(OpenClose(), [1, 1, 1]).n_trades == 1


def test_trade_records_match_the_trade_objects():
    res = run_backtest(BARS, [1, -1, -1, 0.5, 0.5], fees_bps=10)
    rec = res.trade_records
    assert not rec.flags.writeable and rec.shape == (res.n_trades,) == (3,)
    for row, trade in zip(rec, res.trades, strict=True):
        assert row["entry_time"] == trade.entry_time and row["entry_price"] == trade.entry_price
        assert row["pnl"] == trade.pnl and row["ret"] * 100 == trade.return_pct
        assert (row["side"] > 0) == (trade.side == "long")
    assert rec["exit_time"][-1] == -1 and res.trades[-1].exit_reason == "open"
