"""The portfolio ledger: positions, balances and PnL folded from fills. No Ray, no I/O.

Conventions (units):
    * a position is per ``(venue, symbol)``, signed, in base units (long > 0);
      ``avg_price`` is its average entry price (quote per base; 0.0 when flat);
    * average-cost accounting: a fill that grows a position moves the average;
      a fill that shrinks it realises ``(price - avg_price) * closed_qty`` (sign
      of the position) and leaves the average alone; a fill through zero closes
      the old position at the fill price and opens the rest at that price;
    * realised and unrealised PnL are in the symbol's quote currency, so totals
      are per currency (``{"ETH": ...}``): adding ETH to USDT is the caller's
      choice of FX, not the ledger's. Fees are kept apart, in their own fee
      currency, and are *not* subtracted from the PnL figures;
    * ``balances`` per ``(venue, asset)``: a buy adds the base and pays the
      quote (``amount * price``), a sell the reverse, and each fee is paid in
      its currency; seed them with the venue's balances (:meth:`Ledger.seed_balance`);
    * the mark of a symbol is its latest trade price on that venue: the last
      :meth:`Ledger.mark` (market trades) or our own fill, whichever is later
      in the fold.

Determinism: the ledger is a fold. The same fills (and marks) in the same order
give the same ledger (:func:`ledger_from_entries` over journal entries), and
fills are idempotent by ``(venue, symbol, trade_id)``: a fill seen twice counts once.
A position whose size falls within :data:`FLAT_RTOL` of zero (relative to the
fill) is flat (float sums of partial fills).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from actors.journal import EntryKind, JournalEntry
from actors.messages import Fill
from raytrader.errors import InputError

__all__ = ["FLAT_RTOL", "LedgerError", "Position", "PnL", "Ledger", "ledger_from_entries", "split_symbol"]

FLAT_RTOL = 1e-9
K = TypeVar("K")


class LedgerError(InputError):
    """A fill or mark the ledger cannot book; the message names the field."""


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"XRP/ETH"`` -> ``("XRP", "ETH")`` (ccxt's unified form; a ``:settle`` suffix is dropped)."""
    base, sep, quote = symbol.partition("/")
    quote = quote.split(":", 1)[0]
    if not sep or not base or not quote:
        raise LedgerError(f"symbol {symbol!r}: expected BASE/QUOTE")
    return base, quote


@dataclass(frozen=True)
class Position:
    """One position's snapshot. ``qty`` signed base units; prices quote per base; PnL in ``quote``.
    ``mark_price`` is None until a trade price is known (then ``unrealized_pnl`` is 0.0)."""

    venue: str
    symbol: str
    quote: str
    qty: float
    avg_price: float
    realized_pnl: float
    unrealized_pnl: float
    mark_price: float | None


@dataclass(frozen=True)
class PnL:
    """Realised + unrealised PnL (one quote currency) and the notional of the open positions
    (``|qty| * mark``, the average entry price standing in for a missing mark)."""

    realized: float
    unrealized: float
    gross_notional: float

    @property
    def total(self) -> float:
        return self.realized + self.unrealized


class _Book:
    __slots__ = ("qty", "avg", "realized")

    def __init__(self) -> None:
        self.qty, self.avg, self.realized = 0.0, 0.0, 0.0


class Ledger:
    """The fold's accumulator. Mutated only by :meth:`apply_fill`, :meth:`mark` and :meth:`seed_balance`;
    every reader returns frozen snapshots."""

    def __init__(self) -> None:
        self._books: dict[tuple[str, str], _Book] = {}
        self._marks: dict[tuple[str, str], float] = {}
        self._balances: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._fees: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._seen: set[tuple[str, str, str]] = set()

    # -- booking ----------------------------------------------------------------------------------------

    def seed_balance(self, venue: str, asset: str, amount: float) -> None:
        """Set the starting balance of ``asset`` on ``venue`` (before any fill is booked)."""
        self._balances[(venue, asset)] = float(amount)

    def mark(self, venue: str, symbol: str, price: float) -> None:
        """The latest trade price of ``symbol`` on ``venue`` (quote per base, > 0)."""
        if not (price > 0) or price == float("inf"):
            raise LedgerError(f"mark price for {venue} {symbol} must be a finite number > 0, got {price!r}")
        self._marks[(venue, symbol)] = float(price)

    def apply_fill(self, fill: Fill) -> bool:
        """Book ``fill``; False (and nothing changes) when its trade id was booked before."""
        key = (fill.venue, fill.symbol, fill.trade_id)
        if key in self._seen:
            return False
        if fill.side not in ("buy", "sell"):
            raise LedgerError(f"fill {fill.trade_id}: side {fill.side!r}: expected buy or sell")
        for name in ("price", "amount"):
            value = getattr(fill, name)
            if not (value > 0) or value == float("inf"):
                raise LedgerError(f"fill {fill.trade_id}: {name} must be a finite number > 0, got {value!r}")
        if not (fill.fee_cost >= 0) or fill.fee_cost == float("inf"):
            raise LedgerError(f"fill {fill.trade_id}: fee_cost must be a finite number >= 0, got {fill.fee_cost!r}")
        base, quote = split_symbol(fill.symbol)
        self._seen.add(key)
        book = self._books.setdefault((fill.venue, fill.symbol), _Book())
        signed = fill.amount if fill.side == "buy" else -fill.amount
        price = fill.price
        if book.qty == 0.0 or (book.qty > 0) == (signed > 0):
            new_qty = book.qty + signed
            book.avg = (book.avg * abs(book.qty) + price * abs(signed)) / abs(new_qty)
            book.qty = new_qty
        else:
            closed = min(abs(signed), abs(book.qty))
            book.realized += (price - book.avg) * closed * (1.0 if book.qty > 0 else -1.0)
            new_qty = book.qty + signed
            if abs(new_qty) <= FLAT_RTOL * max(abs(signed), abs(book.qty)):
                book.qty, book.avg = 0.0, 0.0
            elif (new_qty > 0) != (book.qty > 0):  # through zero: the rest opens at the fill price
                book.qty, book.avg = new_qty, price
            else:
                book.qty = new_qty
        self._balances[(fill.venue, base)] += signed
        self._balances[(fill.venue, quote)] -= signed * price
        if fill.fee_cost and fill.fee_currency:
            self._balances[(fill.venue, fill.fee_currency)] -= fill.fee_cost
            self._fees[(fill.venue, fill.fee_currency)] += fill.fee_cost
        elif fill.fee_cost:
            raise LedgerError(f"fill {fill.trade_id}: fee_cost {fill.fee_cost} without a fee_currency")
        self._marks[(fill.venue, fill.symbol)] = price
        return True

    # -- reading ----------------------------------------------------------------------------------------

    def position(self, venue: str, symbol: str) -> Position:
        book = self._books.get((venue, symbol)) or _Book()
        mark = self._marks.get((venue, symbol))
        unrealized = (mark - book.avg) * book.qty if (mark is not None and book.qty) else 0.0
        return Position(venue, symbol, split_symbol(symbol)[1], book.qty, book.avg, book.realized, unrealized, mark)

    def positions(self) -> tuple[Position, ...]:
        """Every (venue, symbol) ever traded, sorted, flat ones included (they carry realised PnL)."""
        return tuple(self.position(v, s) for v, s in sorted(self._books))

    def balances(self) -> dict[tuple[str, str], float]:
        return dict(sorted(self._balances.items()))

    def fees(self) -> dict[tuple[str, str], float]:
        """Fees paid per ``(venue, fee currency)``."""
        return dict(sorted(self._fees.items()))

    def _sum(self, key_of: Callable[[Position], K]) -> dict[K, PnL]:
        acc: dict[K, tuple[float, float, float]] = {}
        for p in self.positions():
            k = key_of(p)
            r, u, g = acc.get(k, (0.0, 0.0, 0.0))
            acc[k] = (r + p.realized_pnl, u + p.unrealized_pnl, g + abs(p.qty) * (p.mark_price or p.avg_price))
        return {k: PnL(*v) for k, v in sorted(acc.items())}  # type: ignore[type-var]

    def pnl_by_symbol(self) -> dict[tuple[str, str], PnL]:
        """Per ``(symbol, quote)`` across venues."""
        return self._sum(lambda p: (p.symbol, p.quote))

    def pnl_by_venue(self) -> dict[tuple[str, str], PnL]:
        """Per ``(venue, quote currency)``."""
        return self._sum(lambda p: (p.venue, p.quote))

    def pnl_total(self) -> dict[str, PnL]:
        """Per quote currency, over every venue and symbol."""
        return self._sum(lambda p: p.quote)

    def fills_booked(self) -> int:
        return len(self._seen)


def ledger_from_entries(entries: Iterable[JournalEntry], ledger: Ledger | None = None) -> Ledger:
    """Fold journal entries into a ledger: every ``FILL`` entry is booked (duplicates once); other kinds
    leave it unchanged. Same entries, same ledger."""
    ledger = ledger or Ledger()
    for entry in entries:
        if entry.kind is EntryKind.FILL:
            ledger.apply_fill(entry.payload)
    return ledger
