"""Performance attribution: realised + unrealised PnL and fees by strategy, venue and symbol. Pure.

Each ``(strategy, venue, symbol)`` is one book, kept with the portfolio
ledger's average-cost rules (:mod:`actors.ledger`): a fill that grows the
position moves its average price; one that shrinks it realises
``(price - average) * closed`` (sign of the position); one through zero
closes at the fill price and opens the rest there. Unrealised PnL is
``(mark - average) * position`` with the mark of ``(venue, symbol)`` given by
the caller, else the last fill price there (any strategy's). PnL is in the
symbol's quote currency and excludes fees, as in the ledger.

Fees are summed per book in each fee currency; ``fees_in_quote`` values them
in the quote currency (:func:`backtest.fill_record.fee_in_quote`: base-asset
fees at the fill price; a third currency is not valued) and ``net`` =
``total - fees_in_quote``.

Invariant (tested): every grouping - by strategy, by venue, by symbol - is a
partition of the books, so within each quote currency its rows sum to the
total (sums taken with :func:`math.fsum`). When two strategies trade one
``(venue, symbol)``, each keeps its own position, so their realised PnL can
differ from a single netted book of that venue and symbol.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from backtest.fill_record import FillRecord, FillRecordError, checked_fills, fee_in_quote, split_pair

__all__ = ["Book", "AttributionRow", "Attribution", "attribute", "GROUPINGS"]

#: a position within this fraction of the closing fill is flat (float sums of partial fills)
_FLAT_RTOL = 1e-9
GROUPINGS: tuple[str, ...] = ("strategy", "venue", "symbol")


@dataclass(frozen=True)
class Book:
    """One ``(strategy, venue, symbol)`` at the end: ``position`` signed base units at ``avg_price``;
    PnL and ``fees_in_quote`` in ``quote``; ``fees`` per fee currency; ``fills`` booked."""

    strategy: str
    venue: str
    symbol: str
    quote: str
    position: float
    avg_price: float
    mark: float | None
    realized: float
    unrealized: float
    fees: dict[str, float]
    fees_in_quote: float
    fills: int


@dataclass(frozen=True)
class AttributionRow:
    """The books of one group value (``key``) in one quote currency, summed. ``total`` = realised +
    unrealised; ``net`` = ``total - fees_in_quote``."""

    key: str
    quote: str
    realized: float
    unrealized: float
    total: float
    fees: dict[str, float]
    fees_in_quote: float
    net: float
    fills: int


@dataclass(frozen=True)
class Attribution:
    """``books`` sorted by (strategy, venue, symbol); ``by_strategy`` / ``by_venue`` / ``by_symbol`` rows
    sorted by (key, quote); ``total`` one row per quote currency (key ``"total"``)."""

    books: tuple[Book, ...]
    by_strategy: tuple[AttributionRow, ...]
    by_venue: tuple[AttributionRow, ...]
    by_symbol: tuple[AttributionRow, ...]
    total: tuple[AttributionRow, ...]


class _Acc:
    __slots__ = ("qty", "avg", "realized", "fees", "fees_q", "fills")

    def __init__(self) -> None:
        self.qty, self.avg, self.realized, self.fees_q, self.fills = 0.0, 0.0, 0.0, 0.0, 0
        self.fees: defaultdict[str, float] = defaultdict(float)


def _book_fill(acc: _Acc, signed: float, price: float) -> None:
    if acc.qty == 0.0 or (acc.qty > 0) == (signed > 0):
        new_qty = acc.qty + signed
        acc.avg = (acc.avg * abs(acc.qty) + price * abs(signed)) / abs(new_qty)
        acc.qty = new_qty
        return
    closed = min(abs(signed), abs(acc.qty))
    acc.realized += (price - acc.avg) * closed * (1.0 if acc.qty > 0 else -1.0)
    new_qty = acc.qty + signed
    if abs(new_qty) <= _FLAT_RTOL * max(abs(signed), abs(acc.qty)):
        acc.qty, acc.avg = 0.0, 0.0
    elif (new_qty > 0) != (acc.qty > 0):
        acc.qty, acc.avg = new_qty, price
    else:
        acc.qty = new_qty


def attribute(fills: Iterable[FillRecord], marks: Mapping[tuple[str, str], float] | None = None) -> Attribution:
    """Attribution of ``fills`` (module docstring). ``marks``: ``(venue, symbol) -> price`` overriding the
    last fill price as the mark for unrealised PnL."""
    accs: dict[tuple[str, str, str], _Acc] = {}
    last: dict[tuple[str, str], float] = {}
    for f in checked_fills(fills):
        acc = accs.setdefault((f.strategy, f.venue, f.symbol), _Acc())
        _book_fill(acc, f.signed_amount, f.price)
        acc.fills += 1
        if f.fee_cost:
            acc.fees[str(f.fee_currency)] += f.fee_cost
            acc.fees_q += fee_in_quote(f) or 0.0
        last[(f.venue, f.symbol)] = f.price
    for key, price in (marks or {}).items():
        if not isinstance(price, (int, float)) or not math.isfinite(price) or price <= 0:
            raise FillRecordError(f"mark of {key[0]} {key[1]}: expected a finite price > 0, got {price!r}")
    marks_all = {**last, **(marks or {})}
    books = []
    for (strategy, venue, symbol), acc in sorted(accs.items()):
        mark = marks_all.get((venue, symbol))
        unreal = (mark - acc.avg) * acc.qty if (mark is not None and acc.qty) else 0.0
        books.append(Book(strategy, venue, symbol, split_pair(symbol)[1], acc.qty, acc.avg, mark, acc.realized,
                          unreal, dict(sorted(acc.fees.items())), acc.fees_q, acc.fills))
    return Attribution(tuple(books), _group(books, lambda b: b.strategy), _group(books, lambda b: b.venue),
                       _group(books, lambda b: b.symbol), _group(books, lambda b: "total"))


def _group(books: list[Book], key_of: Callable[[Book], str]) -> tuple[AttributionRow, ...]:
    groups: dict[tuple[str, str], list[Book]] = defaultdict(list)
    for b in books:
        groups[(key_of(b), b.quote)].append(b)
    rows = []
    for (key, quote), bs in sorted(groups.items()):
        realized = math.fsum(b.realized for b in bs)
        unrealized = math.fsum(b.unrealized for b in bs)
        fees: defaultdict[str, float] = defaultdict(float)
        for b in bs:
            for ccy, x in b.fees.items():
                fees[ccy] += x
        fees_q = math.fsum(b.fees_in_quote for b in bs)
        total = math.fsum([b.realized for b in bs] + [b.unrealized for b in bs])
        rows.append(AttributionRow(key, quote, realized, unrealized, total, dict(sorted(fees.items())), fees_q,
                                   total - fees_q, sum(b.fills for b in bs)))
    return tuple(rows)
