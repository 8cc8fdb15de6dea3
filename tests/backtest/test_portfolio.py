"""Multi-asset backtest with shared cash: hand-computed cases, the single-asset engine as a special case, real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.engine import run_backtest
from backtest.errors import AlignmentError, FeeError, WeightsError
from backtest.metrics import max_drawdown, sharpe, total_return
from backtest.portfolio import align_bars, panel_from_close, run_portfolio
from market.bars import Bars
from raytrader.errors import InputError
from market.samples import load_sample, load_sample_frame
from strategies.sma_cross import sma_cross
from tests._bars import FIVE_MIN_MS, T0_MS, bars_from_close

ALTS = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")


def _bars(close, open_, symbol, ts=None):
    b = bars_from_close(close, open_)
    if ts is not None:
        b = Bars(timestamp=ts, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                 symbol=symbol, timeframe="5m", venue="test")
    return b.with_meta(symbol=symbol)


A = _bars([100.0, 105.0, 110.0, 120.0], [100.0, 100.0, 110.0, 115.0], "A/USD")
B = _bars([50.0, 40.0, 45.0, 60.0], [50.0, 50.0, 40.0, 50.0], "B/USD")


@pytest.fixture(scope="module")
def alt_panel():
    return align_bars([load_sample(f"{a}-BTC-5m") for a in ALTS])


def test_two_assets_bought_from_flat_share_the_fee_exactly():
    panel = align_bars([A, B])
    res = run_portfolio(panel, [[0.5, 0.5]] * 4, fees_bps=[10, 20])
    # bar 1's opens 100 and 50: E - F = 10000 / (1 + 0.5 * 0.001 + 0.5 * 0.002) = 9985.022466300549
    net = 10_000 / 1.0015
    ua, ub = 0.5 * net / 100, 0.5 * net / 50
    np.testing.assert_allclose(res.units[1], [ua, ub], rtol=1e-14)
    np.testing.assert_allclose(res.fees[1], [ua * 100 * 0.001, ub * 50 * 0.002], rtol=1e-13)
    assert res.cash[1] == 0.0  # all in, rounding residue zeroed
    assert res.fees_paid == pytest.approx(10_000 - net, rel=1e-12)
    np.testing.assert_allclose(res.equity, [10_000, ua * 105 + ub * 40, ua * 110 + ub * 45, ua * 120 + ub * 60],
                               rtol=1e-14)
    assert list(res.n_fills) == [1, 1]


def test_only_assets_whose_weight_changes_trade():
    panel = align_bars([A, B])
    res = run_portfolio(panel, [[0.5, 0.5], [0.5, 0.0], [0.5, 0.0], [0.5, 0.0]])
    # bar 1: 50 A and 100 B; bar 2 (opens 110, 40): sell all B for 4000; A keeps its 50 units
    np.testing.assert_allclose(res.units[:, 0], [0, 50, 50, 50], rtol=1e-15)
    np.testing.assert_allclose(res.units[:, 1], [0, 100, 0, 0], rtol=1e-15)
    np.testing.assert_allclose(res.cash, [10_000, 0, 4_000, 4_000], rtol=1e-15, atol=1e-9)
    assert res.final_equity == pytest.approx(4_000 + 50 * 120, rel=1e-15)
    assert list(res.n_fills) == [1, 2]


def test_alignment_keeps_only_common_timestamps():
    ts = T0_MS + FIVE_MIN_MS * np.array([0, 1, 3, 4], dtype=np.int64)  # bar 2 missing
    b_gap = _bars([50.0, 40.0, 45.0, 60.0], [50.0, 50.0, 40.0, 50.0], "B/USD", ts=ts)
    a5 = _bars([100.0, 105.0, 110.0, 120.0, 130.0], [100.0, 100.0, 110.0, 115.0, 125.0], "A/USD")
    panel = align_bars([a5, b_gap])
    np.testing.assert_array_equal(panel.timestamp, ts)
    np.testing.assert_array_equal(panel.close[:, 0], [100.0, 105.0, 120.0, 130.0])
    np.testing.assert_array_equal(panel.open[:, 1], [50.0, 50.0, 40.0, 50.0])
    with pytest.raises(AlignmentError, match="^symbols"):
        align_bars([A, A])
    far = _bars([1.0], [1.0], "C/USD", ts=np.array([T0_MS + 10**9], dtype=np.int64))
    with pytest.raises(AlignmentError, match="no timestamp"):
        align_bars([A, far])


@pytest.mark.parametrize("fill", ["open", "close"])
@pytest.mark.parametrize("scale", [1.0, 0.5, -1.0])
def test_one_asset_portfolio_equals_the_single_asset_engine(fill, scale):
    bars = load_sample("ETH-BTC-5m")
    target = sma_cross(bars, fast=10, slow=30) * scale
    single = run_backtest(bars, target, fees_bps=10, fill=fill)
    port = run_portfolio(align_bars([bars]), target[:, None], fees_bps=10, fill=fill)
    np.testing.assert_allclose(port.equity, single.equity, rtol=1e-11)
    np.testing.assert_allclose(port.units[:, 0], single.units, rtol=1e-11, atol=1e-12)
    assert port.fees_paid == pytest.approx(single.fees_paid, rel=1e-10)


def _reference(open_, close, weights, fee, cash):
    """Plain-Python shared-cash loop (fill at the next open, fixed-point fee), written from the docstring."""
    n, m = close.shape
    units, held, out = np.zeros(m), np.zeros(m), np.empty(n)
    for i in range(n):
        if i >= 1 and (weights[i - 1] != held).any():
            ch = weights[i - 1] != held
            p, w = open_[i], weights[i - 1]
            eq = cash + units @ p
            f_tot = 0.0
            for _ in range(100):
                new = np.where(ch, w * (eq - f_tot) / p, units)
                f_new = float((np.abs(new - units) * p * fee).sum())
                if abs(f_new - f_tot) <= 1e-15 * eq:
                    break
                f_tot = f_new
            new = np.where(ch, w * (eq - f_new) / p, units)
            cash -= float(((new - units) * p).sum() + (np.abs(new - units) * p * fee).sum())
            units, held = new, np.where(ch, w, held)
        out[i] = cash + units @ close[i]
    return out


def test_ten_alt_btc_pairs_with_shared_cash(alt_panel):
    panel = alt_panel
    assert panel.n_assets == 10 and 5000 < panel.n_bars < 5760  # bars missing in any pair are dropped
    signals = np.column_stack([sma_cross(Bars(timestamp=panel.timestamp, open=panel.open[:, j],
                                                   high=np.maximum(panel.open[:, j], panel.close[:, j]),
                                                   low=np.minimum(panel.open[:, j], panel.close[:, j]),
                                                   close=panel.close[:, j], volume=np.ones(panel.n_bars),
                                                   timeframe="5m"), 12, 48)
                               for j in range(10)])
    weights = signals / 10.0  # each pair 0 or 10 % of equity
    fees = [10.0] * 9 + [25.0]  # per-asset fees: the last pair costs more
    res = run_portfolio(panel, weights, fees_bps=fees)

    np.testing.assert_allclose(res.equity, res.cash + (res.units * panel.close).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.fees.sum(axis=0), res.traded.sum(axis=0) * np.array(fees) / 1e4, rtol=1e-9)
    # positions follow the weights one bar late, and every weight change of an asset is one fill
    held = res.units != 0
    np.testing.assert_array_equal(held[1:], weights[:-1] != 0)
    assert list(res.n_fills) == list((np.diff(weights, axis=0, prepend=0.0)[:-1] != 0).sum(axis=0))
    # weights size against *today's* equity while untouched positions drift, so the book can run slightly
    # over 100 % invested (cash < 0): bounded here by the drift of the other nine 10 % positions
    assert (res.cash > -0.1 * res.equity).all() and res.cash.min() < 0
    expected = _reference(panel.open, panel.close, weights, np.array(fees) / 1e4, 10_000.0)
    np.testing.assert_allclose(res.equity, expected, rtol=1e-10)
    assert total_return(res.equity) < 0 and max_drawdown(res.equity) > 0.05  # the README's losing crossover


def test_twenty_stock_close_panel_fills_at_the_next_close():
    frame = load_sample_frame("sp500-close-1d")
    panel = panel_from_close(frame)
    assert panel.close_only and panel.n_assets == 20 and panel.n_bars == len(frame)
    n, m = panel.n_bars, panel.n_assets
    # equal weight, bought on the first signal and held: fills at day 1's close
    res = run_portfolio(panel, np.full((n, m), 1 / m), fees_bps=0)
    final = sum((10_000 / m) * panel.close[-1, j] / panel.close[1, j] for j in range(m))
    assert res.final_equity == pytest.approx(final, rel=1e-12)
    np.testing.assert_allclose(res.traded[1], np.full(m, 10_000 / m), rtol=1e-12)
    # a 50/200-day crossover per stock, 5 bps: every fill happens at that day's close
    closes = panel.close
    sig = np.column_stack([
        sma_cross(Bars(timestamp=panel.timestamp, open=closes[:, j], high=closes[:, j], low=closes[:, j],
                       close=closes[:, j], volume=np.ones(n), timeframe="1d"), 50, 200) for j in range(m)])
    res = run_portfolio(panel, sig / m, fees_bps=5)
    moved = np.diff(res.units, axis=0, prepend=0.0)
    traded_at = res.traded[moved != 0] / np.abs(moved[moved != 0])
    np.testing.assert_allclose(traded_at, closes[moved != 0], rtol=1e-12)
    assert res.final_equity > 10_000 and sharpe(res.equity, 252) > 0.3
    assert (res.n_fills > 30).all()


def test_close_panel_with_a_missing_value_drops_that_row():
    frame = pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=4, tz="UTC"),
                          "X": [1.0, 2.0, np.nan, 4.0], "Y": [1.0, 1.0, 1.0, 1.0]})
    panel = panel_from_close(frame)
    np.testing.assert_array_equal(panel.close[:, 0], [1.0, 2.0, 4.0])


@pytest.mark.parametrize(("kwargs", "error", "field"), [
    ({"weights": np.zeros((4, 3))}, WeightsError, "weights"),
    ({"weights": [[0.5, np.nan]] * 4}, WeightsError, r"weights\[0, B/USD\]"),
    ({"weights": [[11.0, 0.0]] * 4}, WeightsError, r"weights\[0, A/USD\]"),
    ({"weights": [[6.0, -6.0]] * 4}, WeightsError, r"weights\[0\]"),
    ({"fees_bps": [10.0]}, FeeError, "fees_bps"),
    ({"fees_bps": [10.0, -1.0]}, FeeError, r"fees_bps\[1\]"),
])
def test_bad_portfolio_inputs_raise_named_errors(kwargs, error, field):
    args = {"weights": [[0.5, 0.5]] * 4, **kwargs}
    with pytest.raises(error, match=rf"^{field}") as info:
        run_portfolio(align_bars([A, B]), args.pop("weights"), **args)
    assert isinstance(info.value, InputError)
