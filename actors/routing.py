"""Smart order routing: split a parent order across venues by their visible books, net of fees. Pure.

A parent order (side, quantity in base units, optional limit price) is cut
into one child per venue. Each venue's visible book levels are priced
*net of that venue's taker fee* (a buy pays ``price x (1 + fee)``, a sell
receives ``price x (1 - fee)``), and the cheapest levels across all venues
are taken first (a greedy walk over the merged levels, which is optimal:
the cost of taking ``q`` from one venue is convex in ``q`` because its
levels are sorted, so the marginal-cost merge is the minimum-cost split).

Limits on the walk:

* **participation**: at most ``participation x`` the visible quantity of a
  venue's book (within the limit price) is taken there, so a child does not
  eat the whole book it sees;
* **lot size and minimum**: each child is rounded *down* to its venue's lot
  step and dropped when below its venue's minimum quantity or notional; the
  rounded-off remainder goes to the venues that can still take it.

* **free balance**: ``caps`` (base units per venue, :func:`balance_cap`)
  bound what each venue may take, so that no child is sent that the venue
  would refuse for funds; the plan names the venues whose balance bound them
  (:attr:`RoutePlan.capped`).

When the parent is too small to split (a second child would fall below a
venue's minimum), the whole order goes to the single venue whose own walk is
cheapest (:func:`best_single_venue`).

Units: prices in quote per base, quantities in base, fees in bps, costs in
quote. Invariant: ``sum(child.qty) <= parent.qty`` and each child's
``qty <= min(participation x visible, cap)`` at its venue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from raytrader.errors import InputError

__all__ = ["RoutingError", "VenueBook", "ParentOrder", "Child", "RoutePlan", "route", "best_single_venue", "walk_cost",
           "balance_cap"]


class RoutingError(InputError):
    """A routing input (named in the message) is invalid."""


@dataclass(frozen=True)
class VenueBook:
    """One venue's visible side of the book a parent would take from.

    ``levels``: ``(price, qty)`` best first (asks ascending for a buy, bids descending for a sell);
    ``taker_bps``: the venue's taker fee; ``step``: lot size (base); ``min_qty``/``min_notional``: the
    smallest child the venue accepts (base / quote).
    """

    venue: str
    levels: tuple[tuple[float, float], ...]
    taker_bps: float = 10.0
    step: float = 1e-8
    min_qty: float = 0.0
    min_notional: float = 0.0

    def __post_init__(self) -> None:
        if not self.venue:
            raise RoutingError("VenueBook.venue must be named")
        for name in ("taker_bps", "step", "min_qty", "min_notional"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0 or (name == "step" and v <= 0):
                raise RoutingError(f"VenueBook {self.venue}: {name} must be a finite number >= 0 (step > 0), got {v!r}")
        for i, (p, q) in enumerate(self.levels):
            if not (math.isfinite(p) and math.isfinite(q)) or p <= 0 or q < 0:
                raise RoutingError(f"VenueBook {self.venue}: level {i} ({p!r}, {q!r}) needs price > 0 and qty >= 0")


@dataclass(frozen=True)
class ParentOrder:
    """``side`` buy|sell, ``qty`` in base (> 0), ``limit``: worst price (before fees) or None for any."""

    side: str
    qty: float
    limit: float | None = None

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise RoutingError(f"ParentOrder.side {self.side!r}: expected buy or sell")
        if not math.isfinite(self.qty) or self.qty <= 0:
            raise RoutingError(f"ParentOrder.qty must be a finite number > 0, got {self.qty!r}")
        if self.limit is not None and (not math.isfinite(self.limit) or self.limit <= 0):
            raise RoutingError(f"ParentOrder.limit must be a finite price > 0, got {self.limit!r}")


@dataclass(frozen=True)
class Child:
    """The part of a parent sent to ``venue``: ``qty`` base, expected ``avg_price`` (before fees) and
    ``cost`` (quote, fees included: paid for a buy, received for a sell)."""

    venue: str
    qty: float
    avg_price: float
    cost: float


@dataclass(frozen=True)
class RoutePlan:
    """Children (one per venue used), the quantity routed, and the expected net average price per base
    unit (fees included). ``unfilled``: the part of the parent no venue could take within the limits;
    ``capped``: the venues whose free-balance cap was below what their book (within the limit and the
    participation) and the parent would have let them take."""

    side: str
    children: tuple[Child, ...]
    qty: float
    net_price: float | None
    unfilled: float
    capped: tuple[str, ...] = ()


def _within(side: str, price: float, limit: float | None) -> bool:
    return limit is None or (price <= limit if side == "buy" else price >= limit)


def _net(side: str, price: float, bps: float) -> float:
    return price * (1 + bps / 1e4) if side == "buy" else price * (1 - bps / 1e4)


def walk_cost(book: VenueBook, side: str, qty: float) -> tuple[float, float, float]:
    """``(qty taken, gross quote value, quote cost incl. fees)`` of walking ``book`` from the top for ``qty``."""
    left, gross, cost = qty, 0.0, 0.0
    for price, size in book.levels:
        if left <= 0:
            break
        take = min(left, size)
        gross += take * price
        cost += take * _net(side, price, book.taker_bps)
        left -= take
    return qty - max(left, 0.0), gross, cost


def _floor_step(qty: float, step: float) -> float:
    return math.floor(qty / step + 1e-9) * step


def _child(book: VenueBook, side: str, qty: float) -> Child | None:
    """The child of ``qty`` (rounded down to the lot) at ``book``, or None when the venue would refuse it."""
    qty = _floor_step(qty, book.step)
    if qty <= 0:
        return None
    taken, gross, cost = walk_cost(book, side, qty)
    if taken <= 0 or taken < book.min_qty or gross < book.min_notional:
        return None
    return Child(book.venue, taken, gross / taken, cost)


def _visible(book: VenueBook, parent: ParentOrder) -> float:
    return sum(q for p, q in book.levels if _within(parent.side, p, parent.limit))


def _plan(side: str, children: list[Child], parent_qty: float, capped: tuple[str, ...] = ()) -> RoutePlan:
    routed = sum(c.qty for c in children)
    net = sum(c.cost for c in children) / routed if routed > 0 else None
    return RoutePlan(side, tuple(children), routed, net, parent_qty - routed, capped)


def balance_cap(book: VenueBook, side: str, free: float, limit: float | None = None) -> float:
    """The most base units ``book``'s venue can pay for with its ``free`` balance (a sell: ``free`` base; a
    buy: ``free`` quote) - what :func:`route` takes as that venue's cap. A buy is priced with the venue's
    taker fee at ``limit`` when the parent has one (a venue holds ``qty x limit`` for a limit order), else
    by walking ``book``'s levels from the top (a market child's expected cost; past the last level at the
    last level's price). Never below 0."""
    if not math.isfinite(free):
        raise RoutingError(f"balance_cap {book.venue}: free must be a finite number, got {free!r}")
    free = max(free, 0.0)
    if side == "sell":
        return free
    if limit is not None:
        return free / _net("buy", limit, book.taker_bps)
    qty, left = 0.0, free
    for price, size in book.levels:
        unit = _net("buy", price, book.taker_bps)
        if size * unit >= left:
            return qty + left / unit
        qty, left = qty + size, left - size * unit
    return qty + left / _net("buy", book.levels[-1][0], book.taker_bps) if book.levels else math.inf


def _check_caps(caps: Mapping[str, float] | None) -> dict[str, float]:
    for venue, cap in (caps or {}).items():
        if not (cap >= 0):  # NaN too
            raise RoutingError(f"caps[{venue!r}] must be a number >= 0 (base units), got {cap!r}")
    return dict(caps or {})


def _better(side: str, a: RoutePlan, b: RoutePlan) -> bool:
    """``a`` fills more, or as much at a better net price."""
    if abs(a.qty - b.qty) > 1e-12:
        return a.qty > b.qty
    if a.net_price is None or b.net_price is None:
        return b.net_price is None and a.net_price is not None
    return a.net_price < b.net_price if side == "buy" else a.net_price > b.net_price


def best_single_venue(books: Sequence[VenueBook], parent: ParentOrder, participation: float = 1.0,
                      caps: Mapping[str, float] | None = None) -> RoutePlan:
    """The whole parent at the one venue whose own walk (within the limit, the participation cap and the
    venue's balance cap in ``caps``, base units) fills the most, at the best net price."""
    caps = _check_caps(caps)
    best = _plan(parent.side, [], parent.qty)
    for book in books:
        child = _child(book, parent.side, min(parent.qty, participation * _visible(book, parent),
                                              caps.get(book.venue, math.inf)))
        if child is not None:
            plan = _plan(parent.side, [child], parent.qty)
            if _better(parent.side, plan, best):
                best = plan
    return best


def route(books: Sequence[VenueBook], parent: ParentOrder, participation: float = 1.0,
          fee_bps: Mapping[str, float] | None = None, caps: Mapping[str, float] | None = None) -> RoutePlan:
    """Split ``parent`` across ``books`` (module docstring). ``participation`` in (0, 1]; ``fee_bps``
    overrides each venue's taker fee by name (e.g. a fee tier learned from the venue); ``caps``: the most
    base units each named venue may take (its free balance, :func:`balance_cap`; a venue not named: no
    cap). The split is kept only when it beats every single venue (it does unless lot or minimum rounding
    spoiled it)."""
    balance = _check_caps(caps)
    if not 0 < participation <= 1:
        raise RoutingError(f"participation {participation!r}: expected a fraction in (0, 1]")
    if len({b.venue for b in books}) != len(books):
        raise RoutingError("route: each venue may appear once")
    books = [b if not fee_bps or b.venue not in fee_bps else
             VenueBook(b.venue, b.levels, fee_bps[b.venue], b.step, b.min_qty, b.min_notional) for b in books]
    room = {b.venue: min(parent.qty, participation * _visible(b, parent)) for b in books}
    capped = tuple(b.venue for b in books if balance.get(b.venue, math.inf) < room[b.venue])
    # a balance cap in whole lots: a child is rounded down to its lot anyway, and what a cap's fraction of a
    # lot would hold back from the walk is then taken by another venue
    caps = {b.venue: min(room[b.venue], _floor_step(balance[b.venue], b.step) if b.venue in balance and
                         math.isfinite(balance[b.venue]) else math.inf) for b in books}
    # every level within the limit, cheapest net first for a buy, dearest net first for a sell
    merged = sorted(((_net(parent.side, p, b.taker_bps), b.venue, q) for b in books for p, q in b.levels
                     if q > 0 and _within(parent.side, p, parent.limit)),
                    key=lambda x: x[0], reverse=parent.side == "sell")
    alloc = {b.venue: 0.0 for b in books}
    left = parent.qty
    for _net_price, venue, size in merged:
        if left <= 0:
            break
        take = min(size, left, caps[venue] - alloc[venue])
        if take > 0:
            alloc[venue] += take
            left -= take
    children = [c for b in books if (c := _child(b, parent.side, alloc[b.venue])) is not None]
    split = _plan(parent.side, children, parent.qty, capped)
    single = best_single_venue(books, parent, participation, balance)
    single = RoutePlan(single.side, single.children, single.qty, single.net_price, single.unfilled, capped)
    return split if _better(parent.side, split, single) or len(children) <= 1 and not single.children else single
