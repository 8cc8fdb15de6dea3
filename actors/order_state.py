"""The order lifecycle as a transition table: pure, no Ray, no I/O.

:data:`TRANSITIONS` maps ``(current state, event kind) -> next state``; any
pair not in it raises :class:`InvalidOrderTransition` (the shape of
nautilus_trader's ``_ORDER_STATE_TABLE``). :func:`apply_event` is the only
way an :class:`Order` changes; it returns a new frozen order.

States:
    * closed (no further request is accepted): ``DENIED`` (refused by our own
      pre-trade risk, never sent), ``REJECTED`` (the venue answered no),
      ``CANCELED``, ``EXPIRED``, ``FILLED``;
    * in flight (a request awaits the venue's answer): ``SUBMITTED``,
      ``PENDING_UPDATE``, ``PENDING_CANCEL``;
    * ``INITIALIZED`` (journaled, not sent), ``ACCEPTED``, ``PARTIALLY_FILLED``;
    * ``UNKNOWN``: a request timed out or the connection dropped, so the venue
      may or may not hold the order. A timeout is never a rejection; only the
      venue's explicit answer (or the resolution protocol of
      :func:`actors.exchange_core.resolve_unknown` proving the order absent)
      moves an order to ``REJECTED``.

Edges that are easy to forget, all required (after nautilus_trader's ``_ORDER_STATE_TABLE``, ``model/orders/base.pyx``):
    ``SUBMITTED -> FILLED`` / ``CANCELED`` (IOC/FOK answered without an ack),
    ``CANCELED | EXPIRED -> FILLED | PARTIALLY_FILLED`` (a fill that raced the
    cancel), ``PENDING_CANCEL -> ACCEPTED`` (the cancel failed), and orders
    first seen at the venue enter as ``ACCEPTED`` (:func:`external_order`).

Fills (invariants kept by :func:`apply_event`):
    * idempotent by the venue's trade id: a fill whose ``trade_id`` the order
      has already counted changes nothing (WebSocket and REST, or before and
      after a restart, may both report it);
    * ``filled`` never exceeds ``amount`` (base units, relative tolerance
      :data:`QTY_RTOL` for float sums); a fill that would is refused with
      :class:`OverfillError` and the order is unchanged;
    * a fill event moves to ``FILLED`` when ``filled`` reaches ``amount``,
      else to ``PARTIALLY_FILLED``; an open order (``ACCEPTED``) with
      ``filled > 0`` is shown as ``PARTIALLY_FILLED``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import cast

from actors.messages import Fill
from raytrader.errors import InputError

__all__ = [
    "OrderState", "EventKind", "OrderEvent", "Order", "TRANSITIONS", "CLOSED_STATES", "IN_FLIGHT_STATES",
    "OPEN_STATES", "QTY_RTOL", "OrderStateError", "InvalidOrderTransition", "OverfillError", "FillMismatchError",
    "next_state", "apply_event", "new_order", "external_order",
]

#: Relative tolerance on quantities: ``filled >= amount * (1 - QTY_RTOL)`` is complete,
#: ``filled > amount * (1 + QTY_RTOL)`` is an overfill (float sums of partial fills).
QTY_RTOL = 1e-9


class OrderState(str, Enum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"


class EventKind(str, Enum):
    """What happened to an order. ``PARTIAL_FILL`` / ``FILL`` are the two outcomes of one fill event
    (chosen by :func:`apply_event` from the quantities); every other kind is given by the caller."""

    DENY = "DENY"                          # our pre-trade risk refused it (never sent)
    SUBMIT = "SUBMIT"                      # sent to the venue
    ACCEPT = "ACCEPT"                      # the venue holds it open (ack, or a failed cancel/update)
    REJECT = "REJECT"                      # the venue refused it (explicit 4xx), or proved absent
    REQUEST_UPDATE = "REQUEST_UPDATE"      # a modify was sent
    UPDATE = "UPDATE"                      # the venue applied the modify
    UPDATE_REJECTED = "UPDATE_REJECTED"    # the venue refused the modify; the order stands as before
    REQUEST_CANCEL = "REQUEST_CANCEL"      # a cancel was sent
    CANCEL_REJECTED = "CANCEL_REJECTED"    # the venue refused the cancel; the order stands as before
    CANCEL = "CANCEL"                      # the venue canceled it
    EXPIRE = "EXPIRE"                      # the venue expired it (time in force)
    PARTIAL_FILL = "PARTIAL_FILL"          # a fill that leaves some quantity open
    FILL = "FILL"                          # a fill that completes the order
    TIMEOUT = "TIMEOUT"                    # no answer (timeout, disconnect, 5xx): outcome unknown


S, E = OrderState, EventKind

CLOSED_STATES = frozenset({S.DENIED, S.REJECTED, S.CANCELED, S.EXPIRED, S.FILLED})
IN_FLIGHT_STATES = frozenset({S.SUBMITTED, S.PENDING_UPDATE, S.PENDING_CANCEL})
#: States in which the order may rest at the venue (and so counts as open exposure).
OPEN_STATES = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.UNKNOWN})

_FILLS = {E.PARTIAL_FILL: S.PARTIALLY_FILLED, E.FILL: S.FILLED}
_OPEN_ENDINGS = {E.CANCEL: S.CANCELED, E.EXPIRE: S.EXPIRED, **_FILLS}

#: ``(state, event) -> next state``. Everything else is an :class:`InvalidOrderTransition`.
TRANSITIONS: dict[tuple[OrderState, EventKind], OrderState] = {
    (S.INITIALIZED, E.DENY): S.DENIED,
    (S.INITIALIZED, E.SUBMIT): S.SUBMITTED,
    # in flight: the venue's first answer
    (S.SUBMITTED, E.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.SUBMITTED, E.TIMEOUT): S.UNKNOWN,
    (S.SUBMITTED, E.REQUEST_UPDATE): S.PENDING_UPDATE,
    (S.SUBMITTED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    **{(S.SUBMITTED, e): s for e, s in _OPEN_ENDINGS.items()},  # IOC/FOK answered without an ack
    # resting at the venue
    **{(S.ACCEPTED, e): s for e, s in _OPEN_ENDINGS.items()},
    (S.ACCEPTED, E.REQUEST_UPDATE): S.PENDING_UPDATE,
    (S.ACCEPTED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    **{(S.PARTIALLY_FILLED, e): s for e, s in _OPEN_ENDINGS.items()},
    (S.PARTIALLY_FILLED, E.REQUEST_UPDATE): S.PENDING_UPDATE,
    (S.PARTIALLY_FILLED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    # a modify in flight
    **{(S.PENDING_UPDATE, e): s for e, s in _OPEN_ENDINGS.items()},
    (S.PENDING_UPDATE, E.UPDATE): S.ACCEPTED,
    (S.PENDING_UPDATE, E.UPDATE_REJECTED): S.ACCEPTED,
    (S.PENDING_UPDATE, E.ACCEPT): S.ACCEPTED,
    (S.PENDING_UPDATE, E.REJECT): S.REJECTED,
    (S.PENDING_UPDATE, E.REQUEST_UPDATE): S.PENDING_UPDATE,     # several modifies may be in flight
    (S.PENDING_UPDATE, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.PENDING_UPDATE, E.TIMEOUT): S.UNKNOWN,
    # a cancel in flight
    **{(S.PENDING_CANCEL, e): s for e, s in _OPEN_ENDINGS.items()},
    (S.PENDING_CANCEL, E.CANCEL_REJECTED): S.ACCEPTED,          # the cancel failed: still open
    (S.PENDING_CANCEL, E.ACCEPT): S.ACCEPTED,                   # the venue reports it open: the cancel failed
    (S.PENDING_CANCEL, E.REQUEST_CANCEL): S.PENDING_CANCEL,     # a retried cancel
    (S.PENDING_CANCEL, E.TIMEOUT): S.UNKNOWN,
    # unknown outcome: only the venue's own report settles it
    **{(S.UNKNOWN, e): s for e, s in _OPEN_ENDINGS.items()},
    (S.UNKNOWN, E.ACCEPT): S.ACCEPTED,
    (S.UNKNOWN, E.REJECT): S.REJECTED,                          # proved absent by the resolution protocol
    (S.UNKNOWN, E.TIMEOUT): S.UNKNOWN,
    # closed, but a fill that raced the cancel / expiry still counts
    **{(S.CANCELED, e): s for e, s in _FILLS.items()},
    **{(S.EXPIRED, e): s for e, s in _FILLS.items()},
}
del S, E


class OrderStateError(InputError):
    """An event does not fit the order it was applied to; the message names the order and the event."""


class InvalidOrderTransition(OrderStateError):
    """``(state, event)`` is not in :data:`TRANSITIONS`."""

    def __init__(self, client_order_id: str, state: OrderState, event: EventKind) -> None:
        super().__init__(f"order {client_order_id}: event {event.value} is not allowed in state {state.value}")
        self.client_order_id, self.state, self.event = client_order_id, state, event


class OverfillError(OrderStateError):
    """A fill would take ``filled`` above the order's ``amount``."""


class FillMismatchError(OrderStateError):
    """A fill names another venue, symbol or side than the order it was applied to."""


def next_state(client_order_id: str, state: OrderState, event: EventKind) -> OrderState:
    """The table lookup; raises :class:`InvalidOrderTransition` for a pair the table lacks."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidOrderTransition(client_order_id, state, event) from None


@dataclass(frozen=True)
class OrderEvent:
    """One event for one order. ``fill`` is set exactly when ``kind`` is ``FILL`` (the caller passes
    ``FILL`` for every execution; :func:`apply_event` decides partial or complete). ``reason``: free text
    for rejections and denials (a venue message or a risk reason code)."""

    kind: EventKind
    timestamp_ms: int
    fill: Fill | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind is EventKind.PARTIAL_FILL:
            raise OrderStateError("OrderEvent.kind: pass FILL for every execution; PARTIAL_FILL is derived")
        if (self.kind is EventKind.FILL) != (self.fill is not None):
            raise OrderStateError("OrderEvent.fill must be set for a FILL event and only for it")


@dataclass(frozen=True)
class Order:
    """One order as we know it. ``amount``, ``filled`` in base units; ``avg_price`` is the
    quantity-weighted mean fill price (0.0 before any fill); ``trade_ids`` the venue trade ids counted
    in ``filled`` (the idempotency set)."""

    client_order_id: str
    venue: str
    symbol: str
    side: str
    amount: float
    price: float | None
    state: OrderState = OrderState.INITIALIZED
    filled: float = 0.0
    avg_price: float = 0.0
    trade_ids: frozenset[str] = field(default_factory=frozenset)
    external: bool = False
    last_reason: str = ""

    @property
    def remaining(self) -> float:
        return max(self.amount - self.filled, 0.0)

    @property
    def is_closed(self) -> bool:
        return self.state in CLOSED_STATES

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


def _validate(client_order_id: str, venue: str, symbol: str, side: str, amount: float) -> None:
    if not client_order_id:
        raise OrderStateError("Order.client_order_id is empty")
    if not venue or "/" not in symbol:
        raise OrderStateError(f"order {client_order_id}: venue {venue!r} / symbol {symbol!r} invalid")
    if side not in ("buy", "sell"):
        raise OrderStateError(f"order {client_order_id}: side {side!r}: expected buy or sell")
    if not (amount > 0):
        raise OrderStateError(f"order {client_order_id}: amount must be > 0, got {amount!r}")


def new_order(client_order_id: str, venue: str, symbol: str, side: str, amount: float, price: float | None) -> Order:
    """A local order, ``INITIALIZED`` (journaled, not yet sent)."""
    _validate(client_order_id, venue, symbol, side, amount)
    return Order(client_order_id, venue, symbol, side, float(amount), price)


def external_order(client_order_id: str, venue: str, symbol: str, side: str, amount: float, price: float | None,
                   filled: float = 0.0, avg_price: float = 0.0) -> Order:
    """An order first seen at the venue (reconciliation adopts it): enters ``ACCEPTED``, or
    ``PARTIALLY_FILLED`` when the venue reports ``filled > 0``. Its earlier fills have no trade ids
    we know of; later ones are applied as usual."""
    _validate(client_order_id, venue, symbol, side, amount)
    if filled < 0 or filled > amount * (1 + QTY_RTOL):
        raise OverfillError(f"external order {client_order_id}: filled {filled} outside 0..{amount}")
    state = OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.ACCEPTED
    return Order(client_order_id, venue, symbol, side, float(amount), price, state=state, filled=float(filled),
                 avg_price=float(avg_price) if filled > 0 else 0.0, external=True)


def _apply_fill(order: Order, fill: Fill) -> Order:
    if (fill.venue, fill.symbol, fill.side) != (order.venue, order.symbol, order.side):
        raise FillMismatchError(f"order {order.client_order_id}: fill {fill.trade_id} is {fill.venue} {fill.symbol} "
                                f"{fill.side}, the order {order.venue} {order.symbol} {order.side}")
    if not (fill.amount > 0) or not (fill.price > 0):
        raise OrderStateError(f"order {order.client_order_id}: fill {fill.trade_id} amount and price must be > 0")
    filled = order.filled + fill.amount
    limit = order.amount * (1 + QTY_RTOL)
    complete = filled >= order.amount * (1 - QTY_RTOL)
    kind = EventKind.FILL if complete else EventKind.PARTIAL_FILL
    state = next_state(order.client_order_id, order.state, kind)
    if filled > limit:
        raise OverfillError(f"order {order.client_order_id}: fill {fill.trade_id} of {fill.amount} would make "
                            f"filled {filled} > amount {order.amount}")
    avg = (order.avg_price * order.filled + fill.price * fill.amount) / filled
    return replace(order, state=state, filled=filled, avg_price=avg, trade_ids=order.trade_ids | {fill.trade_id})


def apply_event(order: Order, event: OrderEvent) -> Order:
    """The order after ``event``; ``order`` itself is never changed.

    Raises :class:`InvalidOrderTransition` for a pair outside :data:`TRANSITIONS`,
    :class:`OverfillError` / :class:`FillMismatchError` for a fill that does not fit. A fill whose
    trade id was already counted returns ``order`` unchanged (the same object).
    """
    if event.kind is EventKind.FILL:
        fill = cast(Fill, event.fill)  # set for FILL: checked by OrderEvent.__post_init__
        if fill.trade_id in order.trade_ids:
            return order
        return _apply_fill(order, fill)
    state = next_state(order.client_order_id, order.state, event.kind)
    if state is OrderState.ACCEPTED and order.filled > 0:
        state = OrderState.PARTIALLY_FILLED
    reason = event.reason if event.kind in (EventKind.DENY, EventKind.REJECT, EventKind.CANCEL_REJECTED,
                                            EventKind.UPDATE_REJECTED) else order.last_reason
    return replace(order, state=state, last_reason=reason)
