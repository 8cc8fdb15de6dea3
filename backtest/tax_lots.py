"""Realised gains by tax lot, FIFO or average cost, per asset and year. Pure: plain fill records in, frozen
records out.

Conventions (units: the quote currency of the pair; quantities in base units):
    * lots are pooled per ``(asset, quote)`` across venues, or per ``(venue, asset, quote)`` with
      ``per_venue=True``. A gain is in the pair's quote currency (``XRP/ETH`` gains are in ETH);
      disposing of the quote asset itself (ETH spent on XRP) is not a taxable event here, as that needs a
      price of ETH in a reporting currency;
    * a buy acquires a lot at ``price`` per unit; a sell disposes of the oldest lots first (``fifo``) or
      of the pool at its average cost per unit (``average``). A sell with nothing (or less than its amount)
      held opens a short lot at its price; a later buy closes it (the gain is realised at the buy);
    * fees: a fee in the quote currency, or in the base asset valued at the fill price
      (:func:`backtest.fill_record.fee_in_quote`), adds to the cost of what is bought and reduces the
      proceeds of what is sold, spread over the fill's amount pro rata. A fee in a third currency is left
      out of the gains and summed in :attr:`TaxLotReport.fees_excluded`;
    * a disposal is dated by the closing fill (UTC) and counted in that year;
    * fills are taken in time order (:func:`backtest.fill_record.checked_fills`: validated, a trade id seen
      twice counted once).

Invariant: for each pool, the sum of the gains of its disposals is ``proceeds - cost`` of the closed
quantities, and the total quantity disposed plus the open lots' quantity equals what was traded.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Iterable, Literal

from backtest.fill_record import FillRecord, FillRecordError, checked_fills, fee_in_quote, split_pair

__all__ = ["METHODS", "Method", "Disposal", "YearGain", "OpenLot", "TaxLotReport", "realised_gains", "year_of"]

Method = Literal["fifo", "average"]
METHODS: tuple[str, ...] = ("fifo", "average")
#: a lot smaller than this fraction of the fill that closes it is treated as closed (float sums)
_FLAT_RTOL = 1e-9


def year_of(ts_ms: int) -> int:
    """The UTC calendar year of a time in ms since the epoch."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).year


@dataclass(frozen=True)
class Disposal:
    """One closed quantity. ``position``: ``long`` (bought, then sold) or ``short`` (sold, then bought back).
    ``cost``: what buying it cost (fees in); ``proceeds``: what selling it brought (fees out); ``gain`` =
    ``proceeds - cost``; all in ``quote``. ``opened_ms`` / ``open_trade_id``: the lot's opening fill (FIFO),
    None under ``average`` (the pool has no single opening). ``venue`` is ``""`` when pooled across venues."""

    asset: str
    quote: str
    venue: str
    position: str
    quantity: float
    opened_ms: int | None
    closed_ms: int
    open_trade_id: str | None
    close_trade_id: str
    cost: float
    proceeds: float
    gain: float
    year: int


@dataclass(frozen=True)
class YearGain:
    """The disposals of one ``(asset, quote, year)`` (and ``venue`` when per venue) summed."""

    asset: str
    quote: str
    venue: str
    year: int
    disposals: int
    quantity: float
    cost: float
    proceeds: float
    gain: float


@dataclass(frozen=True)
class OpenLot:
    """What is still held (``quantity`` > 0, ``position`` long) or owed (short) at the end, at ``basis``
    (total cost of a long, total proceeds of a short, in ``quote``). Under ``average`` one lot per pool."""

    asset: str
    quote: str
    venue: str
    position: str
    quantity: float
    basis: float
    opened_ms: int | None
    open_trade_id: str | None


@dataclass(frozen=True)
class TaxLotReport:
    """``disposals`` in the order they happened; ``by_year`` sorted by (asset, quote, venue, year);
    ``fees_excluded``: fees paid in a third currency, per currency, left out of the gains."""

    method: str
    per_venue: bool
    disposals: tuple[Disposal, ...]
    by_year: tuple[YearGain, ...]
    open_lots: tuple[OpenLot, ...]
    fees_excluded: dict[str, float]


class _Lot:
    __slots__ = ("qty", "unit", "opened_ms", "trade_id")

    def __init__(self, qty: float, unit: float, opened_ms: int | None, trade_id: str | None) -> None:
        self.qty, self.unit, self.opened_ms, self.trade_id = qty, unit, opened_ms, trade_id


def realised_gains(fills: Iterable[FillRecord], method: str = "fifo", *, per_venue: bool = False) -> TaxLotReport:
    """Tax lots of ``fills`` by ``method`` (``fifo`` | ``average``); module docstring for the rules."""
    if method not in METHODS:
        raise FillRecordError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    ordered = checked_fills(fills)
    # pool key -> (sign of the lots: +1 long, -1 short, 0 none; the lots)
    pools: dict[tuple[str, str, str], tuple[int, deque[_Lot]]] = {}
    disposals: list[Disposal] = []
    excluded: defaultdict[str, float] = defaultdict(float)
    for f in ordered:
        base, quote = split_pair(f.symbol)
        key = (f.venue if per_venue else "", base, quote)
        fee = fee_in_quote(f)
        if fee is None:
            excluded[str(f.fee_currency)] += f.fee_cost
            fee = 0.0
        sign = 1 if f.side == "buy" else -1
        # per unit: what a buy costs, what a sell brings
        unit = f.price + fee / f.amount if sign > 0 else f.price - fee / f.amount
        held_sign, lots = pools.get(key, (0, deque()))
        left = f.amount
        if held_sign == -sign:
            while lots and left > 0:
                lot = lots[0]
                take = min(left, lot.qty)
                if method == "average":
                    opened, opened_id = None, None
                else:
                    opened, opened_id = lot.opened_ms, lot.trade_id
                basis = take * lot.unit
                mine = take * unit
                cost, proceeds = (basis, mine) if held_sign > 0 else (mine, basis)
                disposals.append(Disposal(base, quote, key[0], "long" if held_sign > 0 else "short", take, opened,
                                          f.timestamp_ms, opened_id, f.trade_id, cost, proceeds, proceeds - cost,
                                          year_of(f.timestamp_ms)))
                lot.qty -= take
                left -= take
                if lot.qty <= _FLAT_RTOL * f.amount:
                    lots.popleft()
            if left <= _FLAT_RTOL * f.amount:
                left = 0.0
            held_sign = held_sign if lots else 0
        if left > 0:
            if method == "average" and lots:
                pool = lots[0]
                pool.unit = (pool.unit * pool.qty + unit * left) / (pool.qty + left)
                pool.qty += left
            else:
                lots.append(_Lot(left, unit, None if method == "average" else f.timestamp_ms,
                                 None if method == "average" else f.trade_id))
            held_sign = sign
        pools[key] = (held_sign, lots)
    return TaxLotReport(method, per_venue, tuple(disposals), _by_year(disposals), _open(pools, method),
                        dict(sorted(excluded.items())))


def _by_year(disposals: list[Disposal]) -> tuple[YearGain, ...]:
    groups: dict[tuple[str, str, str, int], list[Disposal]] = defaultdict(list)
    for d in disposals:
        groups[(d.asset, d.quote, d.venue, d.year)].append(d)
    out = []
    for (asset, quote, venue, year), ds in sorted(groups.items()):
        out.append(YearGain(asset, quote, venue, year, len(ds), math.fsum(d.quantity for d in ds),
                            math.fsum(d.cost for d in ds), math.fsum(d.proceeds for d in ds),
                            math.fsum(d.gain for d in ds)))
    return tuple(out)


def _open(pools: dict[tuple[str, str, str], tuple[int, deque[_Lot]]], method: str) -> tuple[OpenLot, ...]:
    out = []
    for (venue, asset, quote), (sign, lots) in sorted(pools.items()):
        for lot in lots:
            out.append(OpenLot(asset, quote, venue, "long" if sign > 0 else "short", lot.qty, lot.qty * lot.unit,
                               lot.opened_ms, lot.trade_id))
    return tuple(out)
