import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.errors import (
    BarsShapeError,
    CashError,
    FeeError,
    PriceError,
    SlippageError,
    StopError,
    TargetLengthError,
    TargetNaNError,
    TargetValueError,
    UnknownFillError,
)
from backtest.trades import trade_to_json
from raytrader.errors import InputError
from tests._bars import FIVE_MIN_MS, T0_MS, bars_from_close

# five bars; fees 10 bps -> f = 0.001
OPEN = [100.0, 100.0, 110.0, 120.0, 125.0]
CLOSE = [100.0, 105.0, 115.0, 125.0, 130.0]
BARS = bars_from_close(CLOSE, OPEN)


def ts(i: int) -> int:
    return T0_MS + i * FIVE_MIN_MS


def test_round_trip_with_fees_fill_at_next_open():
    res = run_backtest(BARS, [1, 1, 0, 0, 0], fees_bps=10, cash=10_000)
    # target 1 on bar 0 -> buy at bar 1's open (100): units = 10000 / (100 * 1.001) = 99.9000999000999
    units = 10_000 / 100.1
    # target 0 on bar 2 -> sell at bar 3's open (120): cash = units * 120 * 0.999 = 11976.023976023977
    np.testing.assert_allclose(
        res.equity,
        [10_000.0, 10489.510489510489, 11488.511488511489, 11976.023976023977, 11976.023976023977],
        rtol=1e-13,
    )
    np.testing.assert_allclose(res.units, [0.0, units, units, 0.0, 0.0], rtol=1e-13)
    np.testing.assert_allclose(res.cash, [10_000.0, 0.0, 0.0, 11976.023976023977, 11976.023976023977], rtol=1e-13)
    (trade,) = res.trades
    assert (trade.entry_time, trade.exit_time) == (ts(1), ts(3))
    assert (trade.entry_price, trade.exit_price) == (100.0, 120.0)
    assert trade.side == "long"
    assert trade.units == pytest.approx(units, rel=1e-13)
    # pnl = 11976.02... - 10000 (entry fee 9.99 and exit fee 11.99 included)
    assert trade.pnl == pytest.approx(1976.023976023976, rel=1e-12)
    # return = pnl / (units * 100) = (120 * 0.999 - 100 * 1.001) / 100 = 19.78 %
    assert trade.return_pct == pytest.approx(19.78, rel=1e-12)
    assert res.final_equity == pytest.approx(11976.023976023977, rel=1e-13)


def test_fill_at_close_uses_the_signal_bar_close():
    res = run_backtest(BARS, [1, 1, 0, 0, 0], fees_bps=10, fill="close")
    # buy at bar 0's close (100): equity[0] already pays the 9.99 fee
    # sell at bar 2's close (115): cash = units * 115 * 0.999 = 11477.022977022976
    np.testing.assert_allclose(
        res.equity,
        [9990.00999000999, 10489.510489510489, 11477.022977022976, 11477.022977022976, 11477.022977022976],
        rtol=1e-13,
    )
    (trade,) = res.trades
    assert (trade.entry_time, trade.exit_time) == (ts(0), ts(2))
    assert (trade.entry_price, trade.exit_price) == (100.0, 115.0)
    assert trade.return_pct == pytest.approx((115 * 0.999 - 100 * 1.001), rel=1e-12)  # 14.785 %
    # the same target filled at the next open ends elsewhere
    assert run_backtest(BARS, [1, 1, 0, 0, 0], fees_bps=10, fill="open").final_equity != pytest.approx(res.final_equity)


def test_open_position_at_the_end_is_marked_at_last_close_without_exit_fee():
    res = run_backtest(BARS, [0, 1, 1, 1, 1], fees_bps=10)
    # buy at bar 2's open (110): units = 10000 / 110.11 = 90.81827263645445; never sold
    units = 10_000 / 110.11
    assert res.final_equity == pytest.approx(units * 130.0, rel=1e-13)  # 11806.37544273908
    assert res.final_equity == pytest.approx(11806.37544273908, rel=1e-12)
    (trade,) = res.trades
    assert trade.is_open and trade.exit_time is None and trade.exit_price is None
    assert trade.entry_time == ts(2)
    assert trade.pnl == pytest.approx(units * 130.0 - 10_000, rel=1e-12)  # 1806.375442739079
    as_json = trade_to_json(trade)
    assert as_json["exit_time"] is None and as_json["exit_price"] is None
    assert as_json["entry_time"] == "2018-01-10T00:10:00Z"


def test_last_bar_target_never_fills_at_next_open():
    res = run_backtest(BARS, [0, 0, 0, 0, 1], fees_bps=10)
    assert res.trades == ()
    np.testing.assert_array_equal(res.equity, np.full(5, 10_000.0))
    # the same target with fill="close" does fill on that bar
    assert run_backtest(BARS, [0, 0, 0, 0, 1], fill="close").n_trades == 1


def test_only_a_change_of_target_trades():
    res = run_backtest(BARS, [1, 1, 1, 1, 1])
    assert res.n_trades == 1
    assert np.count_nonzero(np.diff(res.units)) == 1
    # no fees: all-in from bar 1's open (100) to bar 4's close (130)
    assert res.final_equity == pytest.approx(13_000.0, rel=1e-14)


def test_two_round_trips_without_fees_compound():
    res = run_backtest(BARS, [1, 0, 1, 0, 0])
    # buy 100 @ open1, sell @ open2 110 -> 11000; buy @ open3 120, sell @ open4 125 -> 11458.33
    assert [t.entry_price for t in res.trades] == [100.0, 120.0]
    assert [t.exit_price for t in res.trades] == [110.0, 125.0]
    assert res.final_equity == pytest.approx(10_000 * 110 / 100 * 125 / 120, rel=1e-13)


def test_result_arrays_are_read_only():
    res = run_backtest(BARS, [1, 1, 0, 0, 0])
    with pytest.raises(ValueError):
        res.equity[0] = 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"target": [1, 0, 0]}, TargetLengthError, "target"),
        ({"target": [[1, 0, 0, 0, 0]]}, TargetLengthError, "target"),
        ({"target": [0, 1, np.nan, 0, 0]}, TargetNaNError, r"target\[2\]"),
        ({"target": [0, 10.5, 1, 0, 0]}, TargetValueError, r"target\[1\]"),
        ({"target": [0, 0, -11, 0, 0]}, TargetValueError, r"target\[2\]"),
        ({"fees_bps": 1000}, FeeError, "fees_bps"),
        ({"slippage_bps": -1}, SlippageError, "slippage_bps"),
        ({"slippage_k_bps": float("inf")}, SlippageError, "slippage_k_bps"),
        ({"stop_loss": 0.0}, StopError, "stop_loss"),
        ({"take_profit": 1.5}, StopError, "take_profit"),
        ({"trailing_stop": True}, StopError, "trailing_stop"),
        ({"fees_bps": -1}, FeeError, "fees_bps"),
        ({"fees_bps": float("nan")}, FeeError, "fees_bps"),
        ({"fill": "vwap"}, UnknownFillError, "fill"),
        ({"cash": 0}, CashError, "cash"),
    ],
)
def test_bad_inputs_raise_named_errors(kwargs, error, field):
    args = {"target": [1, 1, 0, 0, 0], **kwargs}
    target = args.pop("target")
    with pytest.raises(error, match=rf"^{field}") as info:
        run_backtest(BARS, target, **args)
    assert isinstance(info.value, InputError)


def test_bad_bars_raise_named_errors():
    class NoOpen:
        timestamp = np.arange(3, dtype=np.int64)
        close = np.ones(3)

    with pytest.raises(BarsShapeError, match=r"bars\.open"):
        run_backtest(NoOpen(), [0, 0, 0])
    bad = bars_from_close([1.0, 2.0, 3.0], [1.0, 0.0, 3.0])
    with pytest.raises(PriceError, match=r"bars\.open\[1\]"):
        run_backtest(bad, [0, 0, 0])
