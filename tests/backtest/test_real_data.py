"""The engine on real Binance ETH/BTC 5m bars (2018-01-10 -> 2018-01-30)."""

import numpy as np
import pytest

from market.samples import sample_path

from backtest.engine import run_backtest
from backtest.metrics import summary
from strategies.sma_cross import sma_cross
from tests._bars import load_parquet_bars

ETH_BTC = str(sample_path("ETH-BTC-5m"))  # bundled real data: never skipped



@pytest.fixture(scope="module")
def bars():
    loaded = load_parquet_bars(ETH_BTC)
    assert np.all(np.diff(loaded.timestamp) == 300_000)
    return loaded


@pytest.mark.parametrize("fill", ["open", "close"])
def test_invariants_on_real_data(bars, fill):
    target = sma_cross(bars, fast=5, slow=20)
    res = run_backtest(bars, target, fees_bps=10, fill=fill, cash=10_000.0)
    n = bars.close.shape[0]
    assert res.equity.shape == res.units.shape == res.cash.shape == (n,)
    assert np.all(res.equity > 0)
    np.testing.assert_allclose(res.cash + res.units * bars.close, res.equity, rtol=1e-12)
    assert np.all(res.units >= 0) and np.all(res.cash[res.units > 0] == 0)

    # every entry (flat -> long) is one trade; fills = entries + exits
    held = res.units > 0
    entries = int(held[0]) + int(np.count_nonzero(held[1:] & ~held[:-1]))
    fills = int(held[0]) + int(np.count_nonzero(np.diff(res.units)))
    assert res.n_trades == entries > 50
    assert fills == 2 * res.n_trades - int(res.trades[-1].is_open)

    # positions follow the target with a one-bar delay at the open, none with fill="close"
    lag = 1 if fill == "open" else 0
    np.testing.assert_array_equal(held[lag:], target[: n - lag] == 1.0)

    # fills happen at the documented prices and the ledger adds up
    prices = bars.open if fill == "open" else bars.close
    index = {int(t): i for i, t in enumerate(bars.timestamp)}
    for trade in res.trades:
        assert trade.entry_price == prices[index[trade.entry_time]]
        if trade.exit_time is not None:
            assert trade.exit_price == prices[index[trade.exit_time]]
    assert 10_000.0 + sum(t.pnl for t in res.trades) == pytest.approx(res.final_equity, rel=1e-10)
    assert summary(res, 300_000)["n_trades"] == res.n_trades


def test_fees_only_ever_cost(bars):
    target = sma_cross(bars, fast=5, slow=20)
    free = run_backtest(bars, target, fees_bps=0)
    paid = run_backtest(bars, target, fees_bps=10)
    assert paid.n_trades == free.n_trades
    assert np.all(paid.equity <= free.equity + 1e-9)
    # fees compound: each closed round trip keeps 0.999 / 1.001 of the fee-free growth; an open one 1 / 1.001
    still_open = int(paid.trades[-1].is_open)
    expected = (0.999 / 1.001) ** (paid.n_trades - still_open) / 1.001**still_open
    assert paid.final_equity / free.final_equity == pytest.approx(expected, rel=1e-10)

def _vectorbt_from_signals(open_, close, entries, exits, fee, cash):
    """vectorbt's from_signals(size=inf, fees=fee, price=open) arithmetic, one bar at a time (buy_nb/sell_nb)."""
    position = 0.0
    value = np.empty(close.shape[0])
    for i in range(close.shape[0]):
        if entries[i] and position == 0.0:
            max_req_cash = cash / (1 + fee)
            position = max_req_cash / open_[i]
            cash = 0.0  # cash - (fees_paid + max_req_cash) with fees_paid = cash - max_req_cash
        elif exits[i] and position > 0.0:
            acq_cash = position * open_[i]
            cash = cash + (acq_cash - acq_cash * fee)
            position = 0.0
        value[i] = cash + position * close[i]
    return value


def test_equity_equals_vectorbt_arithmetic_with_signals_shifted_one_bar(bars):
    target = sma_cross(bars, fast=8, slow=21)
    rising = np.concatenate(([target[0] > 0], np.diff(target) > 0))
    falling = np.concatenate(([False], np.diff(target) < 0))
    entries = np.concatenate(([False], rising[:-1]))  # shifted one bar: acted on at the next open
    exits = np.concatenate(([False], falling[:-1]))
    expected = _vectorbt_from_signals(bars.open, bars.close, entries, exits, 0.00075, 10_000.0)
    res = run_backtest(bars, target, fees_bps=7.5)
    np.testing.assert_array_equal(res.equity, expected)


def test_engine_and_strategy_leave_read_only_bars_untouched(bars):
    assert not bars.close.flags.writeable  # market.bars.Bars freezes its arrays
    before = bars.close.copy()
    target = sma_cross(bars, fast=5, slow=20)
    run_backtest(bars, target, fees_bps=10)
    np.testing.assert_array_equal(bars.close, before)
