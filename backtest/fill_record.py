"""One executed fill as a plain record: what tax lots and performance attribution compute from. No I/O.

Units: ``price`` in the quote currency per base unit, ``amount`` in base units
(> 0; ``side`` gives the direction), ``fee_cost`` in ``fee_currency``,
``timestamp_ms`` UTC milliseconds. Symbols in ccxt's unified form
(``XRP/ETH``: base ``XRP``, quote ``ETH``). ``strategy`` names the strategy the
fill is attributed to (``""`` when none is known).

The journal-reading glue (:mod:`actors.audit_trail`) builds these from the
trading journal; tests build them by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from raytrader.errors import InputError

__all__ = ["FillRecord", "FillRecordError", "checked_fills", "split_pair", "fee_in_quote"]


class FillRecordError(InputError):
    """A fill record cannot be booked; the message names the record (index, trade id) and the field."""


@dataclass(frozen=True)
class FillRecord:
    """One fill (module docstring for units); ``(venue, symbol, trade_id)`` identifies it."""

    venue: str
    symbol: str
    side: str
    price: float
    amount: float
    timestamp_ms: int
    trade_id: str
    fee_cost: float = 0.0
    fee_currency: str | None = None
    strategy: str = ""

    @property
    def signed_amount(self) -> float:
        """Base units, + for a buy, - for a sell."""
        return self.amount if self.side == "buy" else -self.amount


def split_pair(symbol: str) -> tuple[str, str]:
    """``"XRP/ETH"`` -> ``("XRP", "ETH")``; a ``:settle`` suffix is dropped."""
    base, sep, quote = symbol.partition("/")
    quote = quote.split(":", 1)[0]
    if not sep or not base or not quote:
        raise FillRecordError(f"symbol {symbol!r}: expected BASE/QUOTE")
    return base, quote


def fee_in_quote(fill: FillRecord) -> float | None:
    """The fee in the fill's quote currency: as is when paid in the quote, valued at the fill price when paid
    in the base asset (how Binance charges a buy), 0.0 when there is none; None when paid in a third currency
    (it then has no quote value here)."""
    if not fill.fee_cost:
        return 0.0
    base, quote = split_pair(fill.symbol)
    if fill.fee_currency == quote:
        return fill.fee_cost
    if fill.fee_currency == base:
        return fill.fee_cost * fill.price
    return None


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def checked_fills(fills: Iterable[FillRecord]) -> list[FillRecord]:
    """The fills validated, a fill seen again (same venue, symbol, trade id) dropped, then sorted by time
    (stable: equal times keep their given order). Raises :class:`FillRecordError` naming the bad one."""
    seen: set[tuple[str, str, str]] = set()
    out: list[FillRecord] = []
    for i, f in enumerate(fills):
        where = f"fill #{i} ({f.venue} {f.symbol} trade {f.trade_id})"
        if f.side not in ("buy", "sell"):
            raise FillRecordError(f"{where}: side {f.side!r}: expected buy or sell")
        for name in ("price", "amount"):
            value = getattr(f, name)
            if not _finite(value) or value <= 0:
                raise FillRecordError(f"{where}: {name} must be a finite number > 0, got {value!r}")
        if not _finite(f.fee_cost) or f.fee_cost < 0:
            raise FillRecordError(f"{where}: fee_cost must be a finite number >= 0, got {f.fee_cost!r}")
        if f.fee_cost and not f.fee_currency:
            raise FillRecordError(f"{where}: fee_cost {f.fee_cost} without a fee_currency")
        if not isinstance(f.timestamp_ms, int) or isinstance(f.timestamp_ms, bool):
            raise FillRecordError(f"{where}: timestamp_ms must be an int (UTC ms), got {f.timestamp_ms!r}")
        split_pair(f.symbol)
        key = (f.venue, f.symbol, f.trade_id)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    out.sort(key=lambda f: f.timestamp_ms)
    return out
