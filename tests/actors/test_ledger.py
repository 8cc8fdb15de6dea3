"""The ledger against an independent reference: exact fractions and cost-basis accounting.

The reference below tracks each position's *total cost* (not its average
price) in :class:`fractions.Fraction`, so it shares neither the formulation nor
the float arithmetic of :mod:`actors.ledger`.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.journal import EntryKind, JournalEntry
from actors.ledger import Ledger, LedgerError, ledger_from_entries
from actors.messages import Fill, OrderIntent

VENUES = ("binance", "binanceus")
SYMBOLS = ("XRP/ETH", "BTC/USDT")


def _fill(venue: str, symbol: str, side: str, amount: float, price: float, trade_id: str, fee: float = 0.0,
          fee_ccy: str | None = None) -> Fill:
    return Fill(venue=venue, symbol=symbol, trade_id=trade_id, order_id="o", client_order_id=None, side=side,
                price=price, amount=amount, fee_cost=fee, fee_currency=fee_ccy if fee else None, is_maker=None,
                timestamp_ms=0)


class Reference:
    """Cost-basis accounting in exact fractions."""

    def __init__(self) -> None:
        self.qty: defaultdict[tuple[str, str], Fraction] = defaultdict(Fraction)
        self.cost: defaultdict[tuple[str, str], Fraction] = defaultdict(Fraction)  # signed: avg * qty
        self.realized: defaultdict[tuple[str, str], Fraction] = defaultdict(Fraction)
        self.mark: dict[tuple[str, str], Fraction] = {}
        self.balance: defaultdict[tuple[str, str], Fraction] = defaultdict(Fraction)
        self.fees: defaultdict[tuple[str, str], Fraction] = defaultdict(Fraction)
        self.seen: set[tuple[str, str, str]] = set()

    def fill(self, f: Fill) -> None:
        if (f.venue, f.symbol, f.trade_id) in self.seen:
            return
        self.seen.add((f.venue, f.symbol, f.trade_id))
        key, p = (f.venue, f.symbol), Fraction(f.price)
        dx = Fraction(f.amount) * (1 if f.side == "buy" else -1)
        q = self.qty[key]
        if q != 0 and (q > 0) != (dx > 0):
            closing = min(abs(dx), abs(q))
            removed = self.cost[key] * closing / abs(q)
            self.realized[key] += closing * p * (1 if q > 0 else -1) - removed
            self.cost[key] -= removed
            self.qty[key] += closing * (1 if dx > 0 else -1)
            rest = abs(dx) - closing
        else:
            rest = abs(dx)
        sign = 1 if dx > 0 else -1
        self.qty[key] += sign * rest
        self.cost[key] += sign * rest * p
        base, quote = f.symbol.split("/")
        self.balance[(f.venue, base)] += dx
        self.balance[(f.venue, quote)] -= dx * p
        if f.fee_cost:
            self.balance[(f.venue, f.fee_currency)] -= Fraction(f.fee_cost)
            self.fees[(f.venue, f.fee_currency)] += Fraction(f.fee_cost)
        self.mark[key] = p

    def unrealized(self, key: tuple[str, str]) -> Fraction:
        return self.qty[key] * self.mark[key] - self.cost[key] if key in self.mark else Fraction(0)

    def avg(self, key: tuple[str, str]) -> Fraction:
        return self.cost[key] / self.qty[key] if self.qty[key] else Fraction(0)


def _close(a: float, b: Fraction, scale: float = 1.0) -> bool:
    return a == pytest.approx(float(b), rel=1e-9, abs=1e-9 * scale)


_fills = st.lists(
    st.tuples(st.sampled_from(VENUES), st.sampled_from(SYMBOLS), st.sampled_from(["buy", "sell"]),
              st.integers(1, 40).map(lambda n: n / 4),               # amounts 0.25 .. 10, some exactly closing
              st.integers(50, 150).map(lambda n: n / 10),            # prices 5.0 .. 15.0
              st.integers(0, 30),                                    # trade ids: repeats are duplicates
              st.sampled_from([0.0, 0.001, 0.01])),
    max_size=60)


@given(_fills, st.lists(st.tuples(st.sampled_from(VENUES), st.sampled_from(SYMBOLS), st.integers(50, 150)),
                        max_size=3))
def test_ledger_matches_the_reference(raw: list, marks: list) -> None:
    ledger, ref = Ledger(), Reference()
    booked = 0
    for venue, symbol, side, amount, price, tid, fee in raw:
        # a repeated (venue, symbol, trade id) is a duplicate report: ignored, whatever it says
        fill = _fill(venue, symbol, side, amount, price, f"t{tid}", fee, symbol.split("/")[1])
        first = (venue, symbol, fill.trade_id) not in ref.seen
        if first:
            ref.fill(fill)
            booked += 1
        assert ledger.apply_fill(fill) is first
    for venue, symbol, price in marks:
        ledger.mark(venue, symbol, price / 10)
        ref.mark[(venue, symbol)] = Fraction(price) / 10
    assert ledger.fills_booked() == booked
    for pos in ledger.positions():
        key = (pos.venue, pos.symbol)
        assert _close(pos.qty, ref.qty[key], 10)
        assert _close(pos.avg_price, ref.avg(key), 10)
        assert _close(pos.realized_pnl, ref.realized[key], 100)
        assert _close(pos.unrealized_pnl, ref.unrealized(key), 100)
    for (venue, asset), value in ledger.balances().items():
        assert _close(value, ref.balance[(venue, asset)], 100)
    assert set(ledger.fees()) == {k for k, v in ref.fees.items() if v}
    for currency, pnl in ledger.pnl_total().items():
        keys = [k for k in ref.qty if k[1].endswith("/" + currency)]
        assert _close(pnl.realized, sum((ref.realized[k] for k in keys), Fraction(0)), 1000)
        assert _close(pnl.unrealized, sum((ref.unrealized(k) for k in keys), Fraction(0)), 1000)
    by_venue = ledger.pnl_by_venue()
    for (venue, currency), pnl in by_venue.items():
        keys = [k for k in ref.qty if k[0] == venue and k[1].endswith("/" + currency)]
        assert _close(pnl.realized, sum((ref.realized[k] for k in keys), Fraction(0)), 1000)
    by_symbol = ledger.pnl_by_symbol()
    for (symbol, _), pnl in by_symbol.items():
        keys = [k for k in ref.qty if k[1] == symbol]
        assert _close(pnl.unrealized, sum((ref.unrealized(k) for k in keys), Fraction(0)), 1000)


def test_a_worked_example_through_zero() -> None:
    """Buy 2 @ 10, buy 2 @ 12 (avg 11), sell 5 @ 13 (realise 4 * 2 = 8, short 1 @ 13), mark 12."""
    ledger = Ledger()
    ledger.seed_balance("binance", "USDT", 100.0)
    ledger.apply_fill(_fill("binance", "BTC/USDT", "buy", 2, 10, "a"))
    ledger.apply_fill(_fill("binance", "BTC/USDT", "buy", 2, 12, "b", fee=0.5, fee_ccy="USDT"))
    assert ledger.position("binance", "BTC/USDT").avg_price == 11
    ledger.apply_fill(_fill("binance", "BTC/USDT", "sell", 5, 13, "c"))
    ledger.mark("binance", "BTC/USDT", 12)
    pos = ledger.position("binance", "BTC/USDT")
    assert (pos.qty, pos.avg_price, pos.realized_pnl, pos.unrealized_pnl) == (-1, 13, 8, 1)
    assert ledger.balances() == {("binance", "BTC"): -1, ("binance", "USDT"): 100 - 20 - 24 - 0.5 + 65}
    assert ledger.fees() == {("binance", "USDT"): 0.5}
    assert ledger.pnl_total()["USDT"].total == 9


def test_fold_over_journal_entries_is_deterministic_and_idempotent() -> None:
    fills = [_fill("binance", "XRP/ETH", "buy", 100, 0.0005, "t1"), _fill("binance", "XRP/ETH", "sell", 40, 0.0006, "t2"),
             _fill("binanceus", "XRP/ETH", "sell", 10, 0.0007, "t1")]  # same trade id, other venue: another fill
    intent = OrderIntent(venue="binance", symbol="XRP/ETH", side="buy", type="market", amount=1.0, intent_id="i")
    entries = [JournalEntry(seq=i + 1, kind=EntryKind.FILL, ts_ms=0, payload=f, prev_hash="", hash="", stream_id="")
               for i, f in enumerate(fills)]
    entries.insert(1, JournalEntry(seq=0, kind=EntryKind.INTENT, ts_ms=0, payload=intent, prev_hash="", hash="",
                                   stream_id=""))
    replayed = entries + entries[:2]  # a restart replays a prefix again
    a, b = ledger_from_entries(entries), ledger_from_entries(replayed)
    assert a.positions() == b.positions() and a.balances() == b.balances()
    assert a.fills_booked() == 3
    assert a.position("binance", "XRP/ETH").qty == 60
    assert a.position("binanceus", "XRP/ETH").qty == -10


def test_bad_fills_are_named() -> None:
    ledger = Ledger()
    with pytest.raises(LedgerError, match="price"):
        ledger.apply_fill(_fill("binance", "BTC/USDT", "buy", 1, 0, "z"))
    with pytest.raises(LedgerError, match="BASE/QUOTE"):
        ledger.apply_fill(_fill("binance", "BTCUSDT", "buy", 1, 1, "z"))
    with pytest.raises(LedgerError, match="mark"):
        ledger.mark("binance", "BTC/USDT", -1)
    assert ledger.fills_booked() == 0 and ledger.positions() == ()
