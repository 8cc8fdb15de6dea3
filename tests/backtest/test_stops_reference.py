"""Stops against an independent, plain-Python reference written from the engine's docstring.

The reference below restates the stated contract (``backtest/engine.py``, "Stops") one
event at a time, with no shared code: targets in {-1, 0, 1} (whole-equity entries and
full exits, so every fill starts or ends a trade), fees on both sides, no slippage, both
fill modes. Hypothesis draws random OHLC walks with gaps, target paths and stop settings;
the engine's trades (times, prices, reasons) and equity must equal the reference's.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.engine import run_backtest
from market.bars import Bars
from tests._bars import FIVE_MIN_MS, T0_MS


def reference(o, h, l, c, target, *, fee, fill, sl, tp, tsl, cash0=10_000.0):
    """Trades ``(entry_i, exit_i or None, side, entry_price, exit_price, reason)`` and equity per bar."""
    cash, units, held = cash0, 0.0, 0.0
    trades: list[list] = []
    entry = peak = 0.0
    check_from = 0
    equity = []

    def trade_to(w: float, price: float, i: int, reason: str) -> None:
        nonlocal cash, units, entry, peak, check_from
        if units != 0.0:  # close the open trade first (w is 0 here: no flips are generated)
            cash += units * price - abs(units) * price * fee
            trades[-1][1], trades[-1][4], trades[-1][5] = i, price, reason
            units = 0.0
        if w != 0.0:  # enter with all equity: |u| * p = E - |u| * p * fee
            size = cash / (price * (1.0 + fee))
            units = w * size
            cash -= units * price + size * price * fee
            trades.append([i, None, "long" if w > 0 else "short", price, None, "open"])
            entry = peak = price
            check_from = i + 1 if fill == "close" else i

    for i in range(len(c)):
        if fill == "open" and i >= 1 and target[i - 1] != held:
            held = target[i - 1]
            trade_to(held, o[i], i, "signal")
        if units != 0.0 and i >= check_from:
            long = units > 0
            sign = 1.0 if long else -1.0
            levels = []  # (level, reason): a stop is "nearer" when it is higher for a long, lower for a short
            if sl:
                levels.append((entry * (1 - sign * sl), "stop_loss"))
            if tsl:
                levels.append((peak * (1 - sign * tsl), "trailing_stop"))
            stop = None
            if levels:
                stop = levels[0]
                for lvl in levels[1:]:
                    if (lvl[0] > stop[0]) if long else (lvl[0] < stop[0]):
                        stop = lvl
            take = entry * (1 + sign * tp) if tp else None
            hit = None
            if stop is not None and (o[i] <= stop[0] if long else o[i] >= stop[0]):
                hit = (o[i], stop[1])
            elif stop is not None and (l[i] <= stop[0] if long else h[i] >= stop[0]):
                hit = (stop[0], stop[1])
            elif take is not None and (o[i] >= take if long else o[i] <= take):
                hit = (o[i], "take_profit")
            elif take is not None and (h[i] >= take if long else l[i] <= take):
                hit = (take, "take_profit")
            if hit:
                trade_to(0.0, hit[0], i, hit[1])
            else:
                peak = max(peak, h[i]) if long else min(peak, l[i])
        if fill == "close" and target[i] != held:
            held = target[i]
            trade_to(held, c[i], i, "signal")
        equity.append(cash + units * c[i])
    return [tuple(t) for t in trades], np.array(equity)


@st.composite
def scenario(draw):
    n = draw(st.integers(8, 60))
    steps = draw(st.lists(st.floats(-0.04, 0.04), min_size=n, max_size=n))
    gaps = draw(st.lists(st.floats(-0.03, 0.03), min_size=n, max_size=n))
    # two flat lists, not a list of pairs, and the stops below built rather than filtered: the same cases,
    # drawn with fewer hypothesis steps (generation, not the engine, is most of this test's time)
    upper_wicks = draw(st.lists(st.floats(0, 0.03), min_size=n, max_size=n))
    lower_wicks = draw(st.lists(st.floats(0, 0.03), min_size=n, max_size=n))
    close = 100.0 * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(gaps)
    high = np.maximum(open_, close) * (1 + np.array(upper_wicks))
    low = np.minimum(open_, close) * (1 - np.array(lower_wicks))
    side = draw(st.sampled_from([1.0, -1.0]))
    target = np.array(draw(st.lists(st.sampled_from([0.0, side]), min_size=n, max_size=n)))
    kinds = draw(st.sampled_from([c for c in itertools.product((False, True), repeat=3) if any(c)]))  # >= 1 stop
    stops = {k: draw(st.floats(0.005, 0.08)) if on else None for k, on in zip(("sl", "tp", "tsl"), kinds)}
    fill = draw(st.sampled_from(["open", "close"]))
    fee = draw(st.sampled_from([0.0, 0.001]))
    return open_, high, low, close, target, stops, fill, fee


@settings(max_examples=300)
@given(scenario())
def test_engine_stops_equal_the_reference(case) -> None:
    o, h, l, c, target, stops, fill, fee = case
    n = len(c)
    bars = Bars(timestamp=T0_MS + FIVE_MIN_MS * np.arange(n, dtype=np.int64), open=o, high=h, low=l, close=c,
                volume=np.ones(n), symbol="TEST/USDT", timeframe="5m", venue="test")
    res = run_backtest(bars, target, fees_bps=fee * 1e4, fill=fill, stop_loss=stops["sl"],
                       take_profit=stops["tp"], trailing_stop=stops["tsl"])
    want, equity = reference(o, h, l, c, target, fee=fee, fill=fill, sl=stops["sl"], tp=stops["tp"],
                             tsl=stops["tsl"])
    got = [(int((t.entry_time - T0_MS) // FIVE_MIN_MS),
            None if t.exit_time is None else int((t.exit_time - T0_MS) // FIVE_MIN_MS),
            t.side, t.entry_price, t.exit_price, t.exit_reason) for t in res.trades]
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert g[:3] == w[:3] and g[5] == w[5], (g, w)
        assert math.isclose(g[3], w[3], rel_tol=1e-12)
        assert (g[4] is None and w[5] == "open") or math.isclose(g[4], w[4], rel_tol=1e-12), (g, w)
    np.testing.assert_allclose(res.equity, equity, rtol=1e-9)


def test_the_reference_itself_on_a_hand_case() -> None:
    """Long from bar 1's open at 100; bar 2 trades down through the 5 % stop: exit at 95, not at the low."""
    o = np.array([100.0, 100.0, 99.0, 96.0])
    h = np.array([100.0, 101.0, 99.5, 97.0])
    l = np.array([100.0, 99.0, 94.0, 95.0])
    c = np.array([100.0, 100.0, 96.0, 96.0])
    trades, _ = reference(o, h, l, c, np.array([1.0, 1.0, 1.0, 1.0]), fee=0.0, fill="open", sl=0.05, tp=None,
                          tsl=None)
    assert trades == [(1, 2, "long", 100.0, 95.0, "stop_loss")]
