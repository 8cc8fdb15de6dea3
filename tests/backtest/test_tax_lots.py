"""Tax lots (FIFO, average cost): hand-computed cases, then random fills against two independent computations:
a unit-by-unit FIFO queue written here, and the portfolio ledger's average-cost fold (actors.ledger)."""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from datetime import UTC, datetime

import pytest

from actors.ledger import Ledger
from actors.messages import Fill
from backtest.fill_record import FillRecord, FillRecordError
from backtest.tax_lots import realised_gains, year_of


def ms(y: int, m: int = 1, d: int = 1) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp() * 1000)


def fill(side: str, amount: float, price: float, t: int, tid: str, venue: str = "A", symbol: str = "XRP/ETH",
         fee: float = 0.0, fee_ccy: str | None = None, strategy: str = "") -> FillRecord:
    return FillRecord(venue, symbol, side, price, amount, t, tid, fee, fee_ccy, strategy)


def test_fifo_takes_the_oldest_lot_first() -> None:
    fills = [fill("buy", 10, 1.0, ms(2024), "b1"), fill("buy", 10, 2.0, ms(2024, 6), "b2"),
             fill("sell", 15, 3.0, ms(2025, 1, 10), "s1")]
    r = realised_gains(fills, "fifo")
    # 10 from b1: cost 10, proceeds 30; 5 from b2: cost 10, proceeds 15
    assert [(d.open_trade_id, d.quantity, d.cost, d.proceeds, d.gain) for d in r.disposals] == [
        ("b1", 10, 10.0, 30.0, 20.0), ("b2", 5, 10.0, 15.0, 5.0)]
    assert [(y.asset, y.quote, y.year, y.gain, y.quantity) for y in r.by_year] == [("XRP", "ETH", 2025, 25.0, 15)]
    assert [(o.quantity, o.basis, o.open_trade_id) for o in r.open_lots] == [(5, 10.0, "b2")]


def test_average_cost_uses_the_pool_average() -> None:
    fills = [fill("buy", 10, 1.0, ms(2024), "b1"), fill("buy", 10, 2.0, ms(2024, 6), "b2"),
             fill("sell", 15, 3.0, ms(2025, 1, 10), "s1")]
    r = realised_gains(fills, "average")
    # average 1.5: cost 22.5, proceeds 45
    assert [(d.quantity, d.cost, d.proceeds, d.gain, d.opened_ms) for d in r.disposals] == [
        (15, 22.5, 45.0, 22.5, None)]
    assert [(o.quantity, o.basis) for o in r.open_lots] == [(5, 7.5)]


def test_fees_add_to_cost_and_reduce_proceeds() -> None:
    fills = [fill("buy", 10, 1.0, ms(2024), "b1", fee=0.1, fee_ccy="ETH"),  # quote fee: cost 10.1
             fill("buy", 10, 2.0, ms(2024, 2), "b2", fee=0.01, fee_ccy="XRP"),  # base fee at 2.0: cost 20.02
             fill("sell", 20, 3.0, ms(2024, 3), "s1", fee=0.6, fee_ccy="ETH"),  # proceeds 60 - 0.6
             fill("buy", 1, 1.0, ms(2024, 4), "b3", fee=0.5, fee_ccy="BNB")]  # third currency: not in the gain
    r = realised_gains(fills, "fifo")
    assert [round(d.cost, 12) for d in r.disposals] == [10.1, 20.02]
    assert [round(d.proceeds, 12) for d in r.disposals] == [29.7, 29.7]
    assert math.isclose(r.by_year[0].gain, 59.4 - 30.12)
    assert r.fees_excluded == {"BNB": 0.5}
    assert [(o.quantity, o.basis) for o in r.open_lots] == [(1, 1.0)]


def test_gains_fall_in_the_year_of_the_closing_fill() -> None:
    fills = [fill("buy", 4, 1.0, ms(2023, 5), "b1"), fill("sell", 1, 2.0, ms(2023, 12, 31), "s1"),
             fill("sell", 3, 0.5, ms(2024, 1, 1), "s2")]
    for method in ("fifo", "average"):
        r = realised_gains(fills, method)
        assert [(y.year, y.gain, y.disposals) for y in r.by_year] == [(2023, 1.0, 1), (2024, -1.5, 1)]
        assert r.open_lots == ()


def test_shorts_and_positions_through_zero() -> None:
    fills = [fill("sell", 5, 4.0, ms(2024), "s1"), fill("buy", 5, 3.0, ms(2024, 2), "b1"),  # short: +5
             fill("buy", 3, 1.0, ms(2024, 3), "b2"), fill("sell", 5, 2.0, ms(2024, 4), "s2"),  # long 3: +3, short 2 @ 2
             fill("buy", 2, 1.5, ms(2025), "b3")]  # covers the short: +1, in 2025
    for method in ("fifo", "average"):
        r = realised_gains(fills, method)
        assert [(d.position, d.quantity, d.gain, d.year) for d in r.disposals] == [
            ("short", 5, 5.0, 2024), ("long", 3, 3.0, 2024), ("short", 2, 1.0, 2025)]
        assert [(y.year, y.gain) for y in r.by_year] == [(2024, 8.0), (2025, 1.0)]
        assert r.open_lots == ()


def test_pooled_across_venues_or_per_venue() -> None:
    fills = [fill("buy", 1, 3.0, ms(2024), "b1", venue="B"), fill("buy", 1, 1.0, ms(2024, 2), "a1", venue="A"),
             fill("sell", 1, 2.0, ms(2024, 3), "a2", venue="A")]
    assert realised_gains(fills, "fifo").by_year[0].gain == -1.0  # the oldest lot is B's, at 3
    assert realised_gains(fills, "average").by_year[0].gain == 0.0  # pool average 2
    per_venue = realised_gains(fills, "fifo", per_venue=True)
    assert [(y.venue, y.gain) for y in per_venue.by_year] == [("A", 1.0)]
    assert [(o.venue, o.basis) for o in per_venue.open_lots] == [("B", 3.0)]


def test_a_fill_seen_twice_counts_once_and_time_orders_the_fills() -> None:
    sell = fill("sell", 2, 5.0, ms(2024, 3), "s1")
    r = realised_gains([sell, fill("buy", 2, 1.0, ms(2024), "b1"), sell], "fifo")
    assert [(d.position, d.gain) for d in r.disposals] == [("long", 8.0)]


@pytest.mark.parametrize("bad, field", [
    (dict(price=0.0), "price"), (dict(amount=-1.0), "amount"), (dict(side="hold"), "side"),
    (dict(fee_cost=float("nan"), fee_currency="ETH"), "fee_cost"), (dict(fee_cost=1.0), "fee_currency"),
    (dict(symbol="XRPETH"), "XRPETH"), (dict(timestamp_ms=1.5), "timestamp_ms")])
def test_bad_fills_are_named(bad: dict, field: str) -> None:
    good = dict(venue="A", symbol="XRP/ETH", side="buy", price=1.0, amount=1.0, timestamp_ms=1, trade_id="t9")
    with pytest.raises(FillRecordError, match=field) as info:
        realised_gains([fill("buy", 1, 1.0, 0, "t0"), FillRecord(**{**good, **bad})])
    assert "t9" in str(info.value) or field == "XRPETH"


def test_unknown_method_is_refused() -> None:
    with pytest.raises(FillRecordError, match="lifo"):
        realised_gains([], "lifo")


# ---- independent computations --------------------------------------------------------------------------

def _random_fills(seed: int, n: int = 300) -> list[FillRecord]:
    rng = random.Random(seed)
    t = ms(2023, 6)
    out = []
    for i in range(n):
        t += rng.randint(1, 5) * 86_400_000  # days: the fills span several years
        venue = rng.choice(["A", "B"])
        symbol = rng.choice(["XRP/ETH", "BTC/USDT"])
        side = rng.choice(["buy", "buy", "sell"]) if i % 50 < 25 else rng.choice(["buy", "sell", "sell"])
        out.append(fill(side, rng.randint(1, 9), rng.randint(50, 150) / 100, t, f"t{i}", venue, symbol,
                        fee=rng.randint(0, 5) / 100, fee_ccy=symbol.split("/")[1]))
    return out


def _unit_fifo(fills: list[FillRecord], per_venue: bool) -> tuple[dict, dict]:
    """FIFO one base unit at a time (integer amounts): gains per (venue?, asset, quote, year) and open units."""
    queues: dict[tuple, deque] = defaultdict(deque)
    gains: dict[tuple, float] = defaultdict(float)
    for f in fills:
        base, quote = f.symbol.split("/")
        key = (f.venue if per_venue else "", base, quote)
        sign = 1 if f.side == "buy" else -1
        per_unit_fee = f.fee_cost / f.amount
        for _ in range(int(f.amount)):
            q = queues[key]
            if q and q[0][0] == -sign:
                held_sign, unit = q.popleft()
                mine = f.price + per_unit_fee if sign > 0 else f.price - per_unit_fee
                gains[(*key, year_of(f.timestamp_ms))] += (mine - unit) if held_sign > 0 else (unit - mine)
            else:
                q.append((sign, f.price + per_unit_fee if sign > 0 else f.price - per_unit_fee))
    open_units = {k: sum(s for s, _ in q) for k, q in queues.items() if q}
    return dict(gains), open_units


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("per_venue", [False, True])
def test_fifo_matches_a_unit_by_unit_queue(seed: int, per_venue: bool) -> None:
    fills = _random_fills(seed)
    report = realised_gains(fills, "fifo", per_venue=per_venue)
    expected, open_units = _unit_fifo(fills, per_venue)
    got = {(y.venue, y.asset, y.quote, y.year): y.gain for y in report.by_year}
    assert got.keys() == {k for k, v in expected.items()}
    for key, gain in expected.items():
        assert math.isclose(got[key], gain, rel_tol=1e-9, abs_tol=1e-9), key
    held = defaultdict(float)
    for lot in report.open_lots:
        held[(lot.venue, lot.asset, lot.quote)] += lot.quantity * (1 if lot.position == "long" else -1)
    assert {k: round(v, 9) for k, v in held.items()} == {k: float(v) for k, v in open_units.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_average_cost_matches_the_portfolio_ledger(seed: int) -> None:
    """Without fees, per venue, average-cost gains equal the ledger's realised PnL per (venue, symbol)."""
    fills = [FillRecord(f.venue, f.symbol, f.side, f.price, f.amount, f.timestamp_ms, f.trade_id)
             for f in _random_fills(seed)]
    ledger = Ledger()
    for f in fills:
        ledger.apply_fill(Fill(f.venue, f.symbol, f.trade_id, "o", None, f.side, f.price, f.amount, 0.0, None, None,
                               f.timestamp_ms))
    report = realised_gains(fills, "average", per_venue=True)
    got: dict[tuple[str, str], float] = defaultdict(float)
    for y in report.by_year:
        got[(y.venue, f"{y.asset}/{y.quote}")] += y.gain
    for p in ledger.positions():
        assert math.isclose(got[(p.venue, p.symbol)], p.realized_pnl, rel_tol=1e-9, abs_tol=1e-9)
    for lot in report.open_lots:
        p = ledger.position(lot.venue, f"{lot.asset}/{lot.quote}")
        assert math.isclose(abs(p.qty), lot.quantity) and (p.qty > 0) == (lot.position == "long")
        assert math.isclose(p.avg_price * abs(p.qty), lot.basis, rel_tol=1e-9)
