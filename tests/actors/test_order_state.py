"""The order state machine as a table: every (state, event) pair, plus generated event sequences.

The expected table below is written out by hand from the specification
(nautilus_trader's ``_ORDER_STATE_TABLE`` plus our UNKNOWN
state), independently of ``actors.order_state.TRANSITIONS``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.messages import Fill
from actors.order_state import (
    CLOSED_STATES,
    TRANSITIONS,
    EventKind,
    FillMismatchError,
    InvalidOrderTransition,
    Order,
    OrderEvent,
    OrderState,
    OrderStateError,
    OverfillError,
    apply_event,
    external_order,
    new_order,
)

S, E = OrderState, EventKind

_ENDINGS = {"CANCEL": "CANCELED", "EXPIRE": "EXPIRED", "PARTIAL_FILL": "PARTIALLY_FILLED", "FILL": "FILLED"}
_SPEC_ROWS = {
    "INITIALIZED": {"DENY": "DENIED", "SUBMIT": "SUBMITTED"},
    "SUBMITTED": {"ACCEPT": "ACCEPTED", "REJECT": "REJECTED", "TIMEOUT": "UNKNOWN", "REQUEST_UPDATE": "PENDING_UPDATE",
                  "REQUEST_CANCEL": "PENDING_CANCEL", **_ENDINGS},
    "ACCEPTED": {"REQUEST_UPDATE": "PENDING_UPDATE", "REQUEST_CANCEL": "PENDING_CANCEL", **_ENDINGS},
    "PARTIALLY_FILLED": {"REQUEST_UPDATE": "PENDING_UPDATE", "REQUEST_CANCEL": "PENDING_CANCEL", **_ENDINGS},
    "PENDING_UPDATE": {"UPDATE": "ACCEPTED", "UPDATE_REJECTED": "ACCEPTED", "ACCEPT": "ACCEPTED", "REJECT": "REJECTED",
                       "REQUEST_UPDATE": "PENDING_UPDATE", "REQUEST_CANCEL": "PENDING_CANCEL", "TIMEOUT": "UNKNOWN",
                       **_ENDINGS},
    "PENDING_CANCEL": {"CANCEL_REJECTED": "ACCEPTED", "ACCEPT": "ACCEPTED", "REQUEST_CANCEL": "PENDING_CANCEL",
                       "TIMEOUT": "UNKNOWN", **_ENDINGS},
    "UNKNOWN": {"ACCEPT": "ACCEPTED", "REJECT": "REJECTED", "TIMEOUT": "UNKNOWN", **_ENDINGS},
    "CANCELED": {"PARTIAL_FILL": "PARTIALLY_FILLED", "FILL": "FILLED"},
    "EXPIRED": {"PARTIAL_FILL": "PARTIALLY_FILLED", "FILL": "FILLED"},
    "DENIED": {}, "REJECTED": {}, "FILLED": {},
}
EXPECTED = {(S[state], E[event]): S[target] for state, row in _SPEC_ROWS.items() for event, target in row.items()}

AMOUNT = 2.0


def _fill(trade_id: str, amount: float, price: float = 10.0, side: str = "buy") -> Fill:
    return Fill(venue="binance", symbol="XRP/ETH", trade_id=trade_id, order_id="o1", client_order_id="c1", side=side,
                price=price, amount=amount, fee_cost=0.0, fee_currency="ETH", is_maker=None, timestamp_ms=1)


def _order(state: OrderState) -> Order:
    return replace(new_order("c1", "binance", "XRP/ETH", "buy", AMOUNT, 10.0), state=state)


def _event(kind: EventKind) -> OrderEvent:
    if kind is E.PARTIAL_FILL:
        return OrderEvent(E.FILL, 1, fill=_fill("t-half", AMOUNT / 2))
    if kind is E.FILL:
        return OrderEvent(E.FILL, 1, fill=_fill("t-all", AMOUNT))
    return OrderEvent(kind, 1, reason="why")


def test_the_table_is_the_specification() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "kind"), list(itertools.product(OrderState, EventKind)),
                         ids=lambda v: v.value)
def test_every_pair_moves_or_raises(state: OrderState, kind: EventKind) -> None:
    order = _order(state)
    if (state, kind) in EXPECTED:
        after = apply_event(order, _event(kind))
        assert after.state is EXPECTED[(state, kind)]
        assert order.state is state  # the input is never changed
    else:
        with pytest.raises(InvalidOrderTransition) as info:
            apply_event(order, _event(kind))
        assert info.value.state is state and info.value.event is kind
        assert state.value in str(info.value) and kind.value in str(info.value)


def test_closed_states_accept_nothing_but_a_racing_fill() -> None:
    assert CLOSED_STATES == {S.DENIED, S.REJECTED, S.CANCELED, S.EXPIRED, S.FILLED}
    for (state, kind) in EXPECTED:
        if state in CLOSED_STATES:
            assert state in (S.CANCELED, S.EXPIRED) and kind in (E.FILL, E.PARTIAL_FILL)


def test_forgotten_edges_exist() -> None:
    for state, kind, target in [(S.SUBMITTED, E.FILL, S.FILLED), (S.SUBMITTED, E.CANCEL, S.CANCELED),
                                (S.CANCELED, E.FILL, S.FILLED), (S.CANCELED, E.PARTIAL_FILL, S.PARTIALLY_FILLED),
                                (S.PENDING_CANCEL, E.ACCEPT, S.ACCEPTED)]:
        assert apply_event(_order(state), _event(kind)).state is target


def test_timeouts_are_unknown_never_rejected() -> None:
    for state in (S.SUBMITTED, S.PENDING_CANCEL, S.PENDING_UPDATE, S.UNKNOWN):
        assert apply_event(_order(state), OrderEvent(E.TIMEOUT, 1)).state is S.UNKNOWN


def test_external_orders_enter_accepted() -> None:
    ext = external_order("x1", "binance", "XRP/ETH", "sell", 3.0, 11.0)
    assert ext.state is S.ACCEPTED and ext.external
    part = external_order("x2", "binance", "XRP/ETH", "sell", 3.0, 11.0, filled=1.0, avg_price=11.0)
    assert part.state is S.PARTIALLY_FILLED and part.remaining == 2.0
    with pytest.raises(OverfillError):
        external_order("x3", "binance", "XRP/ETH", "sell", 3.0, 11.0, filled=3.5)


def test_a_fill_seen_twice_counts_once() -> None:
    order = _order(S.ACCEPTED)
    once = apply_event(order, OrderEvent(E.FILL, 1, fill=_fill("t1", 0.5, 10.0)))
    twice = apply_event(once, OrderEvent(E.FILL, 2, fill=_fill("t1", 0.5, 10.0)))
    assert twice is once and twice.filled == 0.5 and twice.state is S.PARTIALLY_FILLED
    done = apply_event(twice, OrderEvent(E.FILL, 3, fill=_fill("t2", 1.5, 12.0)))
    assert done.state is S.FILLED and done.filled == 2.0
    assert done.avg_price == pytest.approx((0.5 * 10 + 1.5 * 12) / 2)
    # the REST copy of the first fill after the order completed: still nothing
    assert apply_event(done, OrderEvent(E.FILL, 4, fill=_fill("t1", 0.5, 10.0))) is done


def test_overfill_is_refused_and_leaves_the_order_unchanged() -> None:
    order = apply_event(_order(S.ACCEPTED), OrderEvent(E.FILL, 1, fill=_fill("t1", 1.5)))
    with pytest.raises(OverfillError, match="t2"):
        apply_event(order, OrderEvent(E.FILL, 2, fill=_fill("t2", 0.6)))
    assert order.filled == 1.5 and order.state is S.PARTIALLY_FILLED


def test_partial_fills_summing_in_floats_complete_the_order() -> None:
    order = replace(new_order("c1", "binance", "XRP/ETH", "buy", 0.3, 10.0), state=S.ACCEPTED)
    order = apply_event(order, OrderEvent(E.FILL, 1, fill=_fill("a", 0.1)))
    order = apply_event(order, OrderEvent(E.FILL, 1, fill=_fill("b", 0.2)))  # 0.1 + 0.2 = 0.30000000000000004
    assert order.state is S.FILLED


def test_a_fill_for_another_side_is_refused() -> None:
    with pytest.raises(FillMismatchError):
        apply_event(_order(S.ACCEPTED), OrderEvent(E.FILL, 1, fill=_fill("t1", 1.0, side="sell")))


def test_a_failed_cancel_on_a_partly_filled_order_keeps_it_partly_filled() -> None:
    order = apply_event(_order(S.ACCEPTED), OrderEvent(E.FILL, 1, fill=_fill("t1", 0.5)))
    order = apply_event(order, OrderEvent(E.REQUEST_CANCEL, 2))
    assert order.state is S.PENDING_CANCEL
    assert apply_event(order, OrderEvent(E.CANCEL_REJECTED, 3, reason="-2011")).state is S.PARTIALLY_FILLED


def test_event_shape_is_checked() -> None:
    with pytest.raises(OrderStateError):
        OrderEvent(E.FILL, 1)
    with pytest.raises(OrderStateError):
        OrderEvent(E.ACCEPT, 1, fill=_fill("t", 1.0))
    with pytest.raises(OrderStateError):
        OrderEvent(E.PARTIAL_FILL, 1, fill=_fill("t", 1.0))
    with pytest.raises(OrderStateError, match="amount"):
        new_order("c1", "binance", "XRP/ETH", "buy", 0.0, 1.0)


# ---- generated sequences -------------------------------------------------------------------------------

_CALLER_KINDS = [k for k in EventKind if k is not E.PARTIAL_FILL]
_events = st.one_of(
    st.sampled_from(_CALLER_KINDS).filter(lambda k: k is not E.FILL).map(lambda k: OrderEvent(k, 1)),
    st.builds(lambda tid, amount: OrderEvent(E.FILL, 1, fill=_fill(f"t{tid}", amount)),
              st.integers(0, 6), st.sampled_from([0.25, 0.5, 0.75, 1.0, 2.0])),
)


@given(st.lists(_events, max_size=40))
def test_generated_sequences_keep_the_invariants(events: list[OrderEvent]) -> None:
    order = new_order("c1", "binance", "XRP/ETH", "buy", AMOUNT, 10.0)
    counted: dict[str, float] = {}
    for event in events:
        before = order
        try:
            order = apply_event(order, event)
        except (InvalidOrderTransition, OverfillError):
            assert order is before
            continue
        if event.fill is not None:
            counted.setdefault(event.fill.trade_id, event.fill.amount)  # first sighting counts
        legal_target = EXPECTED.get((before.state, event.kind))
        if event.kind is not E.FILL and legal_target is not None:
            expected = S.PARTIALLY_FILLED if legal_target is S.ACCEPTED and before.filled > 0 else legal_target
            assert order.state is expected
        if before.state in (S.DENIED, S.REJECTED, S.FILLED):
            assert order is before  # closed for good (only a duplicate fill gets this far)
        assert order.filled <= AMOUNT * (1 + 1e-9)
        assert order.trade_ids == set(counted)
        assert order.filled == pytest.approx(sum(counted.values()))
        assert (order.state is S.FILLED) == (order.filled >= AMOUNT * (1 - 1e-9))
        if order.state is S.PARTIALLY_FILLED:
            assert 0 < order.filled < AMOUNT
