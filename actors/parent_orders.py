"""Parent orders as a pure state machine over journal entries: what the router sends, cancels and settles. No Ray.

The router (:mod:`actors.router`) journals a :class:`~actors.messages.ParentIntent`
as a ``parent`` entry before any child; every child is an ordinary
:class:`~actors.messages.OrderIntent` sent through the OMS (pre-trade risk,
state machine, journal) whose ``parent_id`` names the parent and whose
intent id is :func:`actors.algos.child_client_id` ``(parent_id, index)``.
So the journal alone holds each parent's state:

* :func:`fold` / :func:`parents_from_entries` - ``parent``, ``parent_status``,
  the children's ``intent``, ``state_change`` and ``fill`` entries -> one
  :class:`ParentState` per parent (a restarted router rebuilds the same);
* :func:`decide` - a parent and the time -> a :class:`Decision`: children to
  send (:class:`ChildSpec`, deterministic index and quantity), children to
  cancel, a status to journal, and when to look again.

Per algorithm (``qty`` base units, ``step`` the lot size):

* ``direct``: child 0 for the whole quantity; done when it is settled.
* ``route``: needs the venues' books: :func:`route_plan` splits the parent
  (:func:`actors.routing.route`) and :func:`decide` answers ``needs_plan``
  until a ``working`` status with the plan is journaled; then child ``i`` is
  ``plan[i]`` (sent once each, so a restart sends the rest of the same plan).
  Each venue's share is capped by what its free balance pays for
  (:func:`balance_caps`: quote at the limit or the book walk plus the taker
  fee for a buy, base for a sell), so no child is sent that the venue would
  refuse for funds. With a limit the children are ``IOC``
  (:func:`child_time_in_force`): they take what the books show within the
  limit at once and the venue expires the rest, which comes back to the
  parent as unfilled and is re-routed (below) instead of resting.
  **Re-route**: when every child is settled and the parent is short by at
  least one lot (a child expired or was cancelled part-filled, the venue
  rejected it, the risk check denied it), :func:`decide` answers
  ``reroute`` (the short quantity) and :func:`reroute_plan` plans it over the
  venues still able to trade (not one that refused a child of this parent; on
  fresh books, net of fees, within the participation limit) as *new* children
  appended to the plan (indexes ``len(plan)``, ...: new deterministic ids),
  journaled as one ``working`` status before any of them is sent. At most
  ``max_reroutes`` times; then, or when no venue can take any of it, the
  parent ends ``done`` with a reason that states the unfilled quantity. A
  child's quantity filled is the larger of its fills journaled and the
  venue's own count in its last answer (the fills may be journaled after the
  state that closed it), so a re-route never plans what already filled.
* ``twap``: child ``i`` at ``start_ms + i x duration / slices``
  (:func:`actors.algos.twap_schedule`). Before child ``i`` goes out every
  earlier child still resting is cancelled (cancel-replace on the
  remainder): child ``i`` is the schedule's quantity through slice ``i`` minus
  what the earlier children filled, so an unfilled remainder moves into it.
* ``iceberg``: one resting clip (a limit order at ``limit``) of at most
  ``display``; when the clip has filled (or was cancelled at the venue) the
  next clip is :func:`actors.algos.iceberg_next`'s; never more than one clip
  open, so the venue never shows more than ``display``.

A parent is ``done`` when nothing is left to send and every child is
settled; a child the risk check denied or the venue rejected ends an
iceberg (``cancelled`` with the reason) instead of repeating it.
``cancelled`` (the user, or that reason) cancels every child still open.

Units: quantities in base, prices in quote per base, times in UTC ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from actors.algos import IcebergState, child_client_id, iceberg_next, twap_schedule
from actors.exchange_core import client_order_id
from actors.journal import EntryKind, JournalEntry
from actors.messages import BookSnapshot, OrderIntent, ParentIntent, ParentStatusChange
from actors.routing import ParentOrder, RoutePlan, VenueBook, balance_cap, best_single_venue, route

__all__ = ["ChildOrder", "ParentState", "ChildSpec", "Decision", "TERMINAL", "MAX_REROUTES", "fold",
           "parents_from_entries", "decide", "route_plan", "reroute_plan", "venue_book", "child_intent",
           "arrival_price", "status_change", "child_time_in_force", "capped_text", "balance_caps"]

#: OMS order states after which a child neither fills nor rests any more
TERMINAL = ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED")
_REFUSED = ("REJECTED", "DENIED")
#: how many times a route parent re-plans what its children left unfilled (then it ends ``done``, short)
MAX_REROUTES = 2


def _lots(qty: float, step: float) -> float:
    """``qty`` rounded down to whole lots of ``step`` (0.0 when below one lot)."""
    return round(math.floor(qty / step + 1e-9) * step, 12) if qty > 0 else 0.0


@dataclass(frozen=True)
class ChildOrder:
    """One child as the journal has it: the OMS ``state`` (``SUBMITTED`` until a state change says more),
    ``filled`` / ``value`` (sum of price x qty) / ``fees`` (in the fee currency) from its FILL entries;
    ``venue_filled``: the filled quantity the venue's last answer about it stated (ACK / REJECT entries);
    ``closed``: a state change has closed it (a fill that raced its cancel may reopen the OMS state to
    ``PARTIALLY_FILLED``, but the venue holds nothing of it any more)."""

    index: int
    client_order_id: str
    venue: str
    type: str
    qty: float
    price: float | None
    sent_ms: int
    state: str = "SUBMITTED"
    filled: float = 0.0
    value: float = 0.0
    fees: float = 0.0
    trade_ids: frozenset[str] = frozenset()
    venue_filled: float = 0.0
    closed: bool = False

    @property
    def settled(self) -> bool:
        return self.closed or self.state in TERMINAL

    @property
    def done_qty(self) -> float:
        """Base units this child has filled as far as anyone knows: its fills, or the venue's count if larger."""
        return max(self.filled, self.venue_filled)

    @property
    def open_qty(self) -> float:
        """Base units still able to fill (0 once settled)."""
        return 0.0 if self.settled else max(0.0, self.qty - self.filled)


@dataclass(frozen=True)
class ParentState:
    """A parent (its intent as journaled), its children by index, its status and the route plan;
    ``routes``: how many plans were journaled for it (1: routed once; each re-route, which extends the plan,
    adds one; folding the same entry again - the router folds what it appends, then reads it back - adds none)."""

    intent: ParentIntent
    children: Mapping[int, ChildOrder] = field(default_factory=dict)
    status: str = "working"
    reason: str = ""
    plan: tuple[tuple[str, float], ...] | None = None
    routes: int = 0

    @property
    def filled(self) -> float:
        return sum(c.filled for c in self.children.values())

    @property
    def avg_price(self) -> float | None:
        """Fill-weighted average price of every child's fills (fees excluded); None before any fill."""
        filled = self.filled
        return sum(c.value for c in self.children.values()) / filled if filled > 0 else None

    @property
    def open_children(self) -> tuple[ChildOrder, ...]:
        return tuple(c for _, c in sorted(self.children.items()) if not c.settled)

    @property
    def unfilled(self) -> float:
        """Whole lots of the parent no child has filled (by :attr:`ChildOrder.done_qty`), base units."""
        return _lots(self.intent.qty - sum(c.done_qty for c in self.children.values()), self.intent.step)

    @property
    def refused_venues(self) -> tuple[str, ...]:
        """Venues where a child of this parent was rejected (the venue) or denied (the risk check)."""
        return tuple(dict.fromkeys(c.venue for _, c in sorted(self.children.items()) if c.state in _REFUSED))

    def to_json(self) -> dict:
        """What ``raytrader orders --parents`` and ``GET /v1/orders?parents=true`` show."""
        p = self.intent
        return {"parent_id": p.parent_id, "algo": p.algo, "venues": list(p.venues), "symbol": p.symbol,
                "side": p.side, "qty": p.qty, "limit": p.limit, "status": self.status, "reason": self.reason,
                "filled": round(self.filled, 12), "avg_price": self.avg_price, "arrival_price": p.arrival_price,
                "children": len(self.children), "open_children": len(self.open_children),
                "start_ms": p.start_ms, "reroutes": max(0, self.routes - 1)}


@dataclass(frozen=True)
class ChildSpec:
    """Send child ``index`` of a parent: ``qty`` base units at ``venue``, ``type`` market or limit at ``price``."""

    index: int
    venue: str
    type: str
    qty: float
    price: float | None


@dataclass(frozen=True)
class Decision:
    """What to do for one parent now: journal ``status`` (a :class:`ParentStatusChange`) first, then cancel
    ``cancel`` (client order ids), then send ``send``; ``needs_plan``: a route parent waits for its plan
    (:func:`route_plan`); ``reroute``: a route parent's children left this many base units unfilled: plan them
    again (:func:`reroute_plan`); ``wake_ms``: the next time :func:`decide` has something new to say (a TWAP
    slice)."""

    send: tuple[ChildSpec, ...] = ()
    cancel: tuple[str, ...] = ()
    status: ParentStatusChange | None = None
    needs_plan: bool = False
    reroute: float = 0.0
    wake_ms: int | None = None


# ---------------------------------------------------------------- state from the journal
def status_change(p: ParentState, status: str, reason: str = "",
                  plan: tuple[tuple[str, float], ...] = ()) -> ParentStatusChange:
    return ParentStatusChange(p.intent.parent_id, status, round(p.filled, 12), p.avg_price, reason, plan)


def fold(parents: dict[str, ParentState], entry: JournalEntry, namespace: str,
         children_of: dict[str, tuple[str, int]]) -> dict[str, ParentState]:
    """Apply one journal entry to ``parents`` (in place; returned). ``children_of`` maps each child's client
    order id to ``(parent_id, index)`` and is kept up to date here. Entries of other orders change nothing."""
    k, p = entry.kind, entry.payload
    if k is EntryKind.PARENT:
        parents.setdefault(p.parent_id, ParentState(p))
    elif k is EntryKind.PARENT_STATUS:
        ps = parents.get(p.parent_id)
        if ps is not None:
            parents[p.parent_id] = replace(ps, status=p.status, reason=p.reason,
                                           plan=p.plan if p.plan else ps.plan,
                                           routes=ps.routes + bool(p.plan and p.plan != ps.plan))
    elif k is EntryKind.INTENT and p.parent_id is not None and p.parent_id in parents:
        ps = parents[p.parent_id]
        index = _child_index(p.parent_id, p.intent_id)
        cid = client_order_id(namespace, p.intent_id)
        if index is not None and index not in ps.children:
            children_of[cid] = (p.parent_id, index)
            child = ChildOrder(index, cid, p.venue, p.type, p.amount, p.price, entry.ts_ms)
            parents[p.parent_id] = replace(ps, children={**ps.children, index: child})
    elif k is EntryKind.STATE_CHANGE and p.client_order_id in children_of:
        pid, index = children_of[p.client_order_id]
        ps = parents[pid]
        before = ps.children[index]
        child = replace(before, state=p.to_state, closed=before.closed or p.to_state in TERMINAL)
        parents[pid] = replace(ps, children={**ps.children, index: child})
    elif k in (EntryKind.ACK, EntryKind.REJECT) and p.client_order_id in children_of:
        pid, index = children_of[p.client_order_id]
        ps = parents[pid]
        before = ps.children[index]
        if p.filled > before.venue_filled:
            child = replace(before, venue_filled=float(p.filled))
            parents[pid] = replace(ps, children={**ps.children, index: child})
    elif k is EntryKind.FILL and p.client_order_id in children_of:
        pid, index = children_of[p.client_order_id]
        ps = parents[pid]
        child = ps.children[index]
        if p.trade_id not in child.trade_ids:
            child = replace(child, filled=round(child.filled + p.amount, 12), value=child.value + p.amount * p.price,
                            fees=child.fees + p.fee_cost, trade_ids=child.trade_ids | {p.trade_id})
            parents[pid] = replace(ps, children={**ps.children, index: child})
    return parents


def _child_index(parent_id: str, intent_id: str) -> int | None:
    prefix = f"{parent_id}-c"
    if not intent_id.startswith(prefix) or not intent_id[len(prefix):].isdigit():
        return None
    index = int(intent_id[len(prefix):])
    return index if child_client_id(parent_id, index) == intent_id else None


def parents_from_entries(entries: Iterable[JournalEntry], namespace: str) -> dict[str, ParentState]:
    """Every parent in the journal, as :func:`fold` leaves it (how a restarted router rebuilds)."""
    parents: dict[str, ParentState] = {}
    children_of: dict[str, tuple[str, int]] = {}
    for e in entries:
        fold(parents, e, namespace, children_of)
    return parents


# ---------------------------------------------------------------- books and prices
def venue_book(venue: str, side: str, book: BookSnapshot, taker_bps: float, step: float,
               min_qty: float = 0.0) -> VenueBook:
    """The side of ``book`` a ``side`` parent takes from (asks for a buy, bids for a sell) as a routing input."""
    levels = book.asks if side == "buy" else book.bids
    return VenueBook(venue, tuple((float(p), float(q)) for p, q in levels), taker_bps, step, min_qty)


def arrival_price(books: Sequence[BookSnapshot]) -> float | None:
    """The mid of the best touch across ``books`` (highest bid, lowest ask); one side's best when the other
    is empty; None with no levels at all."""
    bids = [b.bids[0][0] for b in books if b.bids]
    asks = [b.asks[0][0] for b in books if b.asks]
    if bids and asks:
        return (max(bids) + min(asks)) / 2
    if bids or asks:
        return max(bids) if bids else min(asks)
    return None


def route_plan(intent: ParentIntent, books: Sequence[VenueBook],
               caps: Mapping[str, float] | None = None) -> tuple[RoutePlan, RoutePlan]:
    """``(routed plan, best single venue's plan)`` of ``intent`` over ``books`` (the same books and balance
    ``caps``, base units per venue: how much the split saves is their difference)."""
    parent = ParentOrder(intent.side, intent.qty, intent.limit)
    return (route(books, parent, intent.participation, caps=caps),
            best_single_venue(books, parent, intent.participation, caps))


def balance_caps(intent: ParentIntent, books: Sequence[VenueBook],
                 free: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Each venue's cap (base units, :func:`actors.routing.balance_cap`) for ``intent`` from ``free``: venue ->
    asset -> free balance (asset units; an asset not listed holds 0). A buy spends the quote asset at the
    parent's limit (else the venue's book walk) plus the taker fee; a sell the base asset. A venue not in
    ``free`` (its balance could not be read) gets no cap: the venue itself refuses what it cannot pay, and
    the parent re-routes the rest."""
    base, _, quote = intent.symbol.partition("/")
    asset = quote if intent.side == "buy" else base
    return {b.venue: balance_cap(b, intent.side, float(free[b.venue].get(asset, 0.0)), intent.limit)
            for b in books if b.venue in free}


def capped_text(plan: RoutePlan, caps: Mapping[str, float] | None) -> str:
    """``"; capped by free balance: beta 1200"`` (base units) for the venues ``plan`` names in
    :attr:`~actors.routing.RoutePlan.capped`, else ``""``: what the journaled reason of a plan adds."""
    if not plan.capped or not caps:
        return ""
    return "; capped by free balance: " + ", ".join(f"{v} {caps[v]:.8g}" for v in plan.capped if v in caps)


def reroute_plan(ps: ParentState, books: Sequence[VenueBook],
                 caps: Mapping[str, float] | None = None) -> ParentStatusChange:
    """The status that re-routes what ``ps``'s children left unfilled (:attr:`ParentState.unfilled`) over
    ``books`` (fresh books of the venues that answered; a venue in :attr:`ParentState.refused_venues` is left
    out; each venue's share at most its ``caps`` entry, base units bought or sold with its free balance):
    ``working`` with the plan extended by the new children (their indexes follow the old plan's), or
    ``done`` with a reason stating the unfilled quantity when no venue can take any of it."""
    p, short = ps.intent, ps.unfilled
    refused = ps.refused_venues
    able = [b for b in books if b.venue in p.venues and b.venue not in refused]
    plan = route(able, ParentOrder(p.side, short, p.limit), p.participation, caps=caps) if short > 0 and able \
        else None
    if plan is None or not plan.children:
        why = [f"refused by {', '.join(refused)}"] if refused else []
        missing = [v for v in p.venues if v not in refused and v not in {b.venue for b in books}]
        why += [f"no book from {', '.join(missing)}"] if missing else []
        why += ["no visible liquidity within the limit"] if able and not (plan is not None and plan.capped) else []
        text = f"unfilled {short:g} of {p.qty:g}: {'; '.join(why) or 'nothing to route'}"
        return status_change(ps, "done", text + (capped_text(plan, caps) if plan is not None else ""))
    added = tuple((c.venue, c.qty) for c in plan.children)
    where = ", ".join(f"{v} {q:g}" for v, q in added)
    return status_change(ps, "working", f"re-route {ps.routes}: {plan.qty:g} of the unfilled {short:g} to {where}"
                         + capped_text(plan, caps), (ps.plan or ()) + added)


# ---------------------------------------------------------------- decisions
def child_time_in_force(p: ParentIntent) -> str:
    """The time in force of ``p``'s limit children: the parent's, else ``IOC`` for a ``route`` parent (its
    children take what the books show at once; what they leave comes back and is routed again on fresh books,
    see :func:`decide`) and ``GTC`` for every other algorithm (a TWAP slice or iceberg clip rests)."""
    if p.time_in_force is not None:
        return p.time_in_force
    return "IOC" if p.algo == "route" else "GTC"


def child_intent(p: ParentIntent, spec: ChildSpec) -> OrderIntent:
    """The OMS order of child ``spec.index``: intent id :func:`~actors.algos.child_client_id`, ``parent_id`` set;
    a limit child's time in force is :func:`child_time_in_force` (a market child's GTC: it is immediate)."""
    limit = spec.type == "limit"
    return OrderIntent(spec.venue, p.symbol, p.side, spec.type, spec.qty,  # type: ignore[arg-type]
                       child_client_id(p.parent_id, spec.index), spec.price if limit else None,
                       parent_id=p.parent_id,
                       time_in_force=child_time_in_force(p) if limit else "GTC")  # type: ignore[arg-type]


def _spec(p: ParentIntent, index: int, venue: str, qty: float) -> ChildSpec:
    return ChildSpec(index, venue, "market" if p.limit is None else "limit", qty, p.limit)


def _settle(ps: ParentState, wake: int | None = None) -> Decision:
    """Nothing left to send: ``done`` once every child is settled."""
    if ps.open_children:
        return Decision(wake_ms=wake)
    return Decision(status=status_change(ps, "done", "every child settled"))


def decide(ps: ParentState, now_ms: int, max_reroutes: int = MAX_REROUTES) -> Decision:
    """What to do for ``ps`` at ``now_ms`` (module docstring); a route parent re-plans what its children left
    unfilled at most ``max_reroutes`` times. Pure: the same state and time, the same answer."""
    p = ps.intent
    if ps.status == "cancelled":
        return Decision(cancel=tuple(c.client_order_id for c in ps.open_children if c.state != "PENDING_CANCEL"))
    if ps.status != "working":
        return Decision()
    if p.algo == "direct":
        if not ps.children:
            return Decision(send=(_spec(p, 0, p.venues[0], _lots(p.qty, p.step)),))
        return _settle(ps)
    if p.algo == "route":
        if ps.plan is None:
            return Decision(needs_plan=True)
        todo = tuple(_spec(p, i, v, q) for i, (v, q) in enumerate(ps.plan) if i not in ps.children)
        if todo or ps.open_children:
            return Decision(send=todo)
        short = ps.unfilled
        if short <= 0:
            reroutes = f" after {ps.routes - 1} re-route(s)" if ps.routes > 1 else ""
            return Decision(status=status_change(ps, "done", f"every child settled{reroutes}"))
        if ps.routes - 1 < max_reroutes:
            return Decision(reroute=short)
        return Decision(status=status_change(ps, "done", f"unfilled {short:g} of {p.qty:g} after "
                                                         f"{ps.routes - 1} re-route(s)"))
    if p.algo == "twap":
        return _decide_twap(ps, now_ms)
    return _decide_iceberg(ps)


def _decide_twap(ps: ParentState, now_ms: int) -> Decision:
    p = ps.intent
    schedule = twap_schedule(p.qty, p.start_ms, p.start_ms + int(round(p.duration_s * 1000)), p.slices, p.step)
    later = [s.at_ms for s in schedule if s.at_ms > now_ms]
    wake = min(later) if later else None
    for s in schedule:
        if s.at_ms > now_ms or s.index in ps.children:
            continue
        resting = [c for c in ps.open_children if c.index < s.index]
        if resting:  # cancel-replace: the earlier children's remainder moves into this one once they settle
            return Decision(cancel=tuple(c.client_order_id for c in resting if c.state != "PENDING_CANCEL"),
                            wake_ms=wake)
        target = sum(x.qty for x in schedule if x.index <= s.index)
        earlier = sum(c.filled for c in ps.children.values() if c.index < s.index)
        qty = _lots(target - earlier, p.step)
        if qty > 0:  # else the earlier children already filled this slice's share: no child at this index
            return Decision(send=(_spec(p, s.index, p.venues[0], qty),), wake_ms=wake)
    return Decision(wake_ms=wake) if later else _settle(ps)


def _decide_iceberg(ps: ParentState) -> Decision:
    p = ps.intent
    if ps.open_children:
        return Decision()
    refused = [c for c in ps.children.values() if c.state in _REFUSED]
    if refused:
        last = max(refused, key=lambda c: c.index)
        return Decision(status=status_change(ps, "cancelled", f"clip {last.index} {last.state.lower()}"))
    filled = min(ps.filled, p.qty)
    if p.qty - filled < p.step / 2:
        return Decision(status=status_change(ps, "done", "every clip filled"))
    state = IcebergState(p.qty, p.display, p.step, filled=filled, shown=0.0, clips=len(ps.children))
    _, clip = iceberg_next(state, 0.0)
    if clip <= 0:
        return Decision(status=status_change(ps, "done", "less than one lot left"))
    index = max(ps.children, default=-1) + 1
    return Decision(send=(ChildSpec(index, p.venues[0], "limit", round(clip, 12), p.limit),))
