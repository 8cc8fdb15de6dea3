"""The order manager's core: intent -> risk decision -> journal -> order state, as pure steps. No Ray, no I/O.

Each function takes the current :class:`OmsState` and one input and returns
the next state and a :class:`Step`: the journal entries to append and the
venue actions to take. **The shell (the OMS actor) appends ``step.entries``
to the journal (one atomic ``append_many``) before it performs
``step.actions``**, so every intent is durable before it is sent and every
transition is recorded; the state is a fold of those same entries
(:func:`rebuild`).

Inputs and what they journal:
    * :func:`submit` - an :class:`~actors.messages.OrderIntent`: ``INTENT``,
      the pre-trade decision, then either ``SUBMITTED`` and a
      :class:`PlaceOrder` action, or ``DENIED`` (nothing sent). The client order id is
      :func:`actors.exchange_core.client_order_id` of the intent id, so a
      re-submitted intent (same id) is recognised and does nothing.
    * :func:`on_update` - the venue's view of an order (``ACK`` or ``REJECT``
      entry): ``open`` -> ACCEPT, ``canceled`` -> CANCEL, ``rejected`` ->
      REJECT, ``unknown`` -> TIMEOUT; ``closed`` waits for its fills. An
      update that does not fit the order's state (a stale ``open`` after the
      fill, an ``open`` while a cancel or modify is in flight) is journaled
      but changes nothing; the cancel's own answer settles a cancel. An
      ``open`` order we never placed is adopted as external (``ACCEPTED``).
    * :func:`on_fill` - ``FILL`` entry and the transition; idempotent by the
      venue trade id (a fill seen before journals nothing). A fill of an
      order we do not track, or one that does not fit its order (after a
      rejection, or beyond its amount), is still journaled - money moved, so
      the ledger must count it - and leaves the order as it was.
    * :func:`cancel` / :func:`on_cancel_rejected` / :func:`on_timeout`.

Risk: the caller passes a :class:`~risk.pretrade.RiskView` with positions
and last prices (the RiskMonitor's published state); the open orders in it
are replaced by this manager's own open orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from actors.exchange_core import client_order_id
from actors.journal import EntryKind, JournalEntry, JournalError
from actors.messages import CancelRequest, Fill, OrderIntent, OrderStateChange, OrderUpdate
from actors.order_state import (
    EventKind,
    InvalidOrderTransition,
    Order,
    OrderEvent,
    OrderState,
    OrderStateError,
    apply_event,
    external_order,
    new_order,
)
from risk.pretrade import OpenOrder, OrderRequest, RiskLimits, RiskState, RiskView, check_order, initial_state

__all__ = ["PlaceOrder", "CancelOrder", "Step", "OmsState", "submit", "on_update", "on_fill", "cancel",
           "on_cancel_rejected", "on_timeout", "rebuild", "open_orders", "RebuildError", "initial_oms_state"]


@dataclass(frozen=True)
class PlaceOrder:
    """Send ``intent`` to its venue with ``client_order_id``."""

    intent: OrderIntent
    client_order_id: str


@dataclass(frozen=True)
class CancelOrder:
    venue: str
    symbol: str
    client_order_id: str


@dataclass(frozen=True)
class Step:
    """What one input produced: journal first (``entries``, in order), then act (``actions``).
    ``ignored``: why an input changed nothing (a stale update, a duplicate), for logs and metrics."""

    entries: tuple[tuple[EntryKind, Any], ...] = ()
    actions: tuple[PlaceOrder | CancelOrder, ...] = ()
    ignored: str = ""


@dataclass(frozen=True)
class OmsState:
    """Orders by client order id, and the pre-trade checker's state. ``namespace``: the client-order-id
    namespace of this account/strategy (1..11 of ``A-Z a-z 0-9 _``)."""

    namespace: str
    risk: RiskState
    limits: RiskLimits
    orders: Mapping[str, Order] = field(default_factory=dict)


def initial_oms_state(namespace: str, limits: RiskLimits, now_ms: int) -> OmsState:
    """No orders, trading ACTIVE, a full order-rate bucket at ``now_ms``."""
    return OmsState(namespace, initial_state(limits, now_ms), limits)


def _with(state: OmsState, order: Order) -> OmsState:
    return replace(state, orders={**state.orders, order.client_order_id: order})


def _change(before: Order, after: Order, event: EventKind) -> tuple[EntryKind, OrderStateChange]:
    return (EntryKind.STATE_CHANGE, OrderStateChange(after.client_order_id, after.venue, after.symbol,
                                                     before.state.value, after.state.value, event.value,
                                                     after.filled, after.last_reason))


def open_orders(state: OmsState) -> tuple[OpenOrder, ...]:
    """Our orders that may rest at a venue, for the risk view (self-cross, exposure)."""
    return tuple(OpenOrder(o.venue, o.symbol, o.side, o.price, o.remaining)
                 for o in state.orders.values() if o.is_open)


def submit(state: OmsState, intent: OrderIntent, view: RiskView, now_ms: int) -> tuple[OmsState, Step]:
    cid = client_order_id(state.namespace, intent.intent_id)
    if cid in state.orders:
        return state, Step(ignored=f"intent {intent.intent_id} already known as {cid}")
    request = OrderRequest("submit", intent.intent_id, intent.venue, intent.symbol, intent.side, intent.amount,
                           intent.price)
    decision, risk = check_order(request, replace(view, open_orders=open_orders(state)), state.limits, state.risk,
                                 now_ms)
    order = new_order(cid, intent.venue, intent.symbol, intent.side, intent.amount, intent.price)
    entries: list[tuple[EntryKind, Any]] = [(EntryKind.INTENT, intent), (EntryKind.RISK_DECISION, decision)]
    if not decision.approved:
        denied = apply_event(order, OrderEvent(EventKind.DENY, now_ms, reason=decision.reason.value))
        entries.append(_change(order, denied, EventKind.DENY))
        return _with(replace(state, risk=risk), denied), Step(tuple(entries))
    sent = apply_event(order, OrderEvent(EventKind.SUBMIT, now_ms))
    entries.append(_change(order, sent, EventKind.SUBMIT))
    return _with(replace(state, risk=risk), sent), Step(tuple(entries), (PlaceOrder(intent, cid),))


_STATUS_EVENTS = {"open": EventKind.ACCEPT, "canceled": EventKind.CANCEL, "rejected": EventKind.REJECT,
                  "unknown": EventKind.TIMEOUT}


def on_update(state: OmsState, update: OrderUpdate, now_ms: int) -> tuple[OmsState, Step]:
    kind = EntryKind.REJECT if update.status == "rejected" else EntryKind.ACK
    record = (kind, update)
    order = state.orders.get(update.client_order_id)
    if order is None:
        if update.status != "open":
            return state, Step((record,), ignored=f"{update.status} update for unknown order {update.client_order_id}")
        adopted = _adopt(update)
        entry = (EntryKind.STATE_CHANGE, OrderStateChange(adopted.client_order_id, adopted.venue, adopted.symbol,
                                                          "NONE", adopted.state.value, "EXTERNAL", adopted.filled))
        return _with(state, adopted), Step((record, entry))
    event = _STATUS_EVENTS.get(update.status)
    if event is None:
        return state, Step((record,), ignored=f"{update.status}: the fills settle order {order.client_order_id}")
    if event is EventKind.ACCEPT and order.state in (OrderState.PENDING_CANCEL, OrderState.PENDING_UPDATE):
        return state, Step((record,), ignored=f"open update while {order.state.value}: the request's answer settles it")
    reason = update.rejection.reason if update.rejection else ""
    try:
        after = apply_event(order, OrderEvent(event, now_ms, reason=reason))
    except InvalidOrderTransition as exc:
        return state, Step((record,), ignored=str(exc))
    if after.state is order.state:
        return state, Step((record,))
    return _with(state, after), Step((record, _change(order, after, event)))


def on_fill(state: OmsState, fill: Fill, now_ms: int) -> tuple[OmsState, Step]:
    order = state.orders.get(fill.client_order_id or "")
    if order is None:
        return state, Step(((EntryKind.FILL, fill),), ignored=f"fill {fill.trade_id} of an order we do not track")
    try:
        after = apply_event(order, OrderEvent(EventKind.FILL, now_ms, fill=fill))
    except OrderStateError as exc:  # money moved all the same: the ledger must see it; reconciliation explains it
        return state, Step(((EntryKind.FILL, fill),), ignored=f"fill {fill.trade_id} does not fit: {exc}")
    if after is order:
        return state, Step(ignored=f"fill {fill.trade_id} already counted")
    kind = EventKind.FILL if after.state is OrderState.FILLED else EventKind.PARTIAL_FILL
    entries: list[tuple[EntryKind, Any]] = [(EntryKind.FILL, fill)]
    entries.append(_change(order, after, kind))
    return _with(state, after), Step(tuple(entries))


def cancel(state: OmsState, cid: str, reason: str, view: RiskView, now_ms: int) -> tuple[OmsState, Step]:
    """Ask to cancel an open order (any trading state: cancels always pass the risk check)."""
    order = state.orders[cid]
    request = OrderRequest("cancel", cid, order.venue, order.symbol, order.side, order.amount, order.price)
    decision, risk = check_order(request, view, state.limits, state.risk, now_ms)
    after = apply_event(order, OrderEvent(EventKind.REQUEST_CANCEL, now_ms))
    entries = ((EntryKind.RISK_DECISION, decision),
               (EntryKind.CANCEL, CancelRequest(order.venue, order.symbol, cid, reason)),
               _change(order, after, EventKind.REQUEST_CANCEL))
    return _with(replace(state, risk=risk), after), Step(entries, (CancelOrder(order.venue, order.symbol, cid),))


def on_cancel_rejected(state: OmsState, cid: str, reason: str, now_ms: int) -> tuple[OmsState, Step]:
    """The venue refused the cancel: the order stands (``ACCEPTED`` / ``PARTIALLY_FILLED``)."""
    order = state.orders[cid]
    after = apply_event(order, OrderEvent(EventKind.CANCEL_REJECTED, now_ms, reason=reason))
    return _with(state, after), Step((_change(order, after, EventKind.CANCEL_REJECTED),))


def on_timeout(state: OmsState, cid: str, now_ms: int) -> tuple[OmsState, Step]:
    """A request for ``cid`` got no answer: the order's outcome is UNKNOWN until the venue says."""
    order = state.orders[cid]
    after = apply_event(order, OrderEvent(EventKind.TIMEOUT, now_ms))
    if after.state is order.state:
        return state, Step(ignored=f"order {cid} already UNKNOWN")
    return _with(state, after), Step((_change(order, after, EventKind.TIMEOUT),))


class RebuildError(JournalError):
    """The journal names an order it never introduced (no intent, no adopting update before it)."""


def _adopt(update: OrderUpdate) -> Order:
    return external_order(update.client_order_id, update.venue, update.symbol, update.side, update.amount,
                          update.price, filled=update.filled, avg_price=update.average or 0.0)


def rebuild(state: OmsState, entries: Iterable[JournalEntry]) -> OmsState:
    """The orders as the journal left them (a fold: same entries, same orders).

    ``INTENT`` entries create orders, an ``open`` update of an unknown order adopts it as external,
    ``STATE_CHANGE`` entries set state, filled quantity and reason, and ``FILL`` entries are applied
    with :func:`~actors.order_state.apply_event` exactly as when they arrived (restoring the trade ids,
    the idempotency set, and the average fill price; a fill that did not fit is again not counted). ``state`` supplies the namespace,
    limits and (fresh) risk state; its orders are the starting point.
    """
    orders: dict[str, Order] = dict(state.orders)
    for entry in entries:
        payload = entry.payload
        if entry.kind is EntryKind.INTENT:
            cid = client_order_id(state.namespace, payload.intent_id)
            if cid not in orders:
                orders[cid] = new_order(cid, payload.venue, payload.symbol, payload.side, payload.amount, payload.price)
        elif entry.kind in (EntryKind.ACK, EntryKind.REJECT):
            if payload.client_order_id not in orders and payload.status == "open":
                orders[payload.client_order_id] = _adopt(payload)
        elif entry.kind is EntryKind.STATE_CHANGE:
            order = orders.get(payload.client_order_id)
            if order is None:
                raise RebuildError(f"journal entry {entry.stream_id} (seq {entry.seq}): state change of order "
                                   f"{payload.client_order_id}, which no earlier entry introduced")
            orders[payload.client_order_id] = replace(order, state=OrderState(payload.to_state),
                                                      filled=payload.filled, last_reason=payload.reason)
        elif entry.kind is EntryKind.FILL:
            order = orders.get(payload.client_order_id or "")
            if order is not None:  # the same pure step as when it arrived: a fill that did not fit is not counted
                try:
                    orders[order.client_order_id] = apply_event(order, OrderEvent(EventKind.FILL, entry.ts_ms,
                                                                                  fill=payload))
                except OrderStateError:
                    pass
    return replace(state, orders=orders)
