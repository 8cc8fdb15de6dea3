"""Ruin (liquidation at equity 0) against an independent, plain-Python reference written from the engine's docstring.

The reference restates "Ruin (liquidation)" and "Sizing" of ``backtest/engine.py`` one
event at a time, with no shared code: targets in {-2, -1, 0, 1, 2} that change only
through flat (each fill either opens a position from flat or closes it), fees on both
sides, no slippage or stops, both fill modes, on volatile generated paths with gaps so
that shorts and 2x longs are often wiped out. Before any fill, equity marked at the fill
price <= 0 means ruin at that price; after a bar's fills, equity at the close <= 0 means
ruin at the close; the position is closed there (fee paid, reason "liquidation"), the
unpaid loss is the shortfall, and equity is 0 for that bar and every later one.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.engine import run_backtest
from market.bars import Bars
from tests._bars import FIVE_MIN_MS, T0_MS


def reference(o, c, target, *, fee, fill, cash0=10_000.0):
    """``(trades, equity, ruined_at or None, shortfall)``; a trade is ``[entry_i, exit_i, side, entry_p, exit_p, reason]``."""
    cash, units, held = cash0, 0.0, 0.0
    trades: list[list] = []
    equity: list[float] = []
    ruined_at = None
    shortfall = 0.0

    def close_position(price: float, i: int, reason: str) -> None:
        nonlocal cash, units
        cash += units * price - abs(units) * price * fee
        trades[-1][1], trades[-1][4], trades[-1][5] = i, price, reason
        units = 0.0

    def ruin(price: float, i: int) -> None:
        nonlocal ruined_at, shortfall
        if units != 0.0:
            close_position(price, i, "liquidation")
        ruined_at = i
        shortfall = max(-cash, 0.0)

    def trade_to(w: float, price: float, i: int) -> None:
        nonlocal cash, units
        if cash + units * price <= 0.0:  # nothing left at the price of this fill
            ruin(price, i)
            return
        if units != 0.0:  # targets change only through flat: this fill closes the whole position
            close_position(price, i, "signal")
        if w != 0.0:  # from flat: u * p = w * (E - |u| * p * fee)  ->  u = w * E / (p * (1 + |w| * fee))
            units = w * cash / (price * (1.0 + abs(w) * fee))
            cash -= units * price + abs(units) * price * fee
            trades.append([i, None, "long" if w > 0 else "short", price, None, "open"])

    for i in range(len(c)):
        if ruined_at is not None:
            equity.append(0.0)
            continue
        if fill == "open" and i >= 1 and target[i - 1] != held:
            held = target[i - 1]
            trade_to(held, o[i], i)
        if ruined_at is None and fill == "close" and target[i] != held:
            held = target[i]
            trade_to(held, c[i], i)
        if ruined_at is None and cash + units * c[i] <= 0.0:
            ruin(c[i], i)
        equity.append(0.0 if ruined_at is not None else cash + units * c[i])
    return [tuple(t) for t in trades], np.array(equity), ruined_at, shortfall


def _through_flat(raw: list[float]) -> np.ndarray:
    """``raw`` with a 0 put between any two different non-zero targets (so every change goes through flat)."""
    out: list[float] = []
    for w in raw:
        if out and out[-1] != 0.0 and w != 0.0 and w != out[-1]:
            out.append(0.0)
        out.append(w)
    return np.array(out)


@st.composite
def scenario(draw):
    raw = draw(st.lists(st.sampled_from([0.0, 1.0, -1.0, 2.0, -2.0]), min_size=8, max_size=50))
    target = _through_flat(raw)
    n = len(target)
    steps = draw(st.lists(st.floats(-0.3, 0.3), min_size=n, max_size=n))
    gaps = draw(st.lists(st.floats(-0.2, 0.2), min_size=n, max_size=n))
    close = 100.0 * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(gaps)
    fill = draw(st.sampled_from(["open", "close"]))
    fee = draw(st.sampled_from([0.0, 0.001, 0.01]))
    return open_, close, target, fill, fee


def _bars(o, c) -> Bars:
    n = len(c)
    return Bars(timestamp=T0_MS + FIVE_MIN_MS * np.arange(n, dtype=np.int64), open=o, high=np.maximum(o, c),
                low=np.minimum(o, c), close=c, volume=np.ones(n), symbol="TEST/USDT", timeframe="5m", venue="test")


def _check(o, c, target, fill, fee) -> bool:
    """Engine == reference on one path; returns whether the path was ruined."""
    res = run_backtest(_bars(o, c), target, fees_bps=fee * 1e4, fill=fill)
    want, equity, ruined_at, shortfall = reference(o, c, target, fee=fee, fill=fill)
    assert res.ruined_at == ruined_at
    got = [(int((t.entry_time - T0_MS) // FIVE_MIN_MS),
            None if t.exit_time is None else int((t.exit_time - T0_MS) // FIVE_MIN_MS),
            t.side, t.entry_price, t.exit_price, t.exit_reason) for t in res.trades]
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert g[:3] == w[:3] and g[5] == w[5], (g, w)
        assert math.isclose(g[3], w[3], rel_tol=1e-12)
        assert (g[4] is None and w[5] == "open") or math.isclose(g[4], w[4], rel_tol=1e-12), (g, w)
    np.testing.assert_allclose(res.equity, equity, rtol=1e-9, atol=1e-9 * 10_000.0)
    assert math.isclose(res.ruin_shortfall, shortfall, rel_tol=1e-9, abs_tol=1e-9)
    if ruined_at is not None:
        assert (res.equity[ruined_at:] == 0.0).all() and (res.units[ruined_at:] == 0.0).all()
        assert (res.cash[ruined_at:] == 0.0).all() and (res.traded[ruined_at + 1:] == 0.0).all()
    return ruined_at is not None


@settings(max_examples=300)
@given(scenario())
def test_engine_liquidation_equals_the_reference(case) -> None:
    _check(*case)


def test_seeded_paths_ruin_often_and_agree_with_the_reference() -> None:
    """The same comparison on 400 seeded paths, counting ruins so the rule is known to be exercised."""
    rng = np.random.default_rng(11)
    ruined = 0
    for k in range(400):
        target = _through_flat(list(rng.choice([0.0, 1.0, -1.0, 2.0, -2.0], size=int(rng.integers(8, 50)))))
        n = len(target)
        close = 100.0 * np.exp(np.cumsum(rng.uniform(-0.3, 0.3, n)))
        open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.uniform(-0.2, 0.2, n))
        ruined += _check(open_, close, target, "open" if k % 2 else "close", (0.0, 0.001, 0.01)[k % 3])
    assert 40 <= ruined <= 360  # both outcomes are common on these paths


def test_the_reference_itself_on_a_hand_case() -> None:
    """Short 100 units at 100 (fill at close, no fee): the close at 210 leaves 20000 - 21000 < 0 -> ruin there."""
    c = np.array([100.0, 150.0, 210.0, 120.0, 90.0])
    trades, equity, ruined_at, shortfall = reference(c, c, np.array([-1.0, -1.0, -1.0, 0.0, 1.0]), fee=0.0,
                                                     fill="close")
    assert trades == [(0, 2, "short", 100.0, 210.0, "liquidation")]
    assert equity.tolist() == [10_000.0, 5_000.0, 0.0, 0.0, 0.0] and ruined_at == 2 and shortfall == 1_000.0
