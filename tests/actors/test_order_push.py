"""When a pushed order state (the venue's user stream) replaces the one the ExchangeActor knows (pure)."""

from __future__ import annotations

from dataclasses import replace

from actors.messages import OrderUpdate
from actors.stream_trackers import order_push_supersedes

OPEN = OrderUpdate(venue="v", symbol="XRP/ETH", client_order_id="rt-1", order_id="7", status="open", side="buy",
                   type="limit", amount=10.0, filled=0.0, remaining=10.0, average=None, price=0.001, fee_cost=0.0,
                   fee_currency=None, timestamp_ms=1)


def state(status: str, filled: float) -> OrderUpdate:
    return replace(OPEN, status=status, filled=filled, remaining=10.0 - filled)


def test_newer_states_replace_older_ones_and_final_states_stay() -> None:
    assert not order_push_supersedes(None, state("open", 4))  # an order this actor does not follow
    assert order_push_supersedes(state("open", 0), state("open", 4))  # a partial fill
    assert order_push_supersedes(state("open", 4), state("closed", 10))
    assert order_push_supersedes(state("open", 4), state("canceled", 4))  # canceled after a partial fill
    assert not order_push_supersedes(state("open", 4), state("open", 4))  # nothing new
    assert not order_push_supersedes(state("open", 4), state("open", 0))  # the NEW push after a REST answer
    for final in ("closed", "canceled", "rejected"):
        assert not order_push_supersedes(state(final, 10 if final == "closed" else 0), state("open", 4))
    assert not order_push_supersedes(state("closed", 10), state("closed", 10))
    assert order_push_supersedes(state("unknown", 0), state("open", 0))  # the venue has spoken
    assert not order_push_supersedes(state("open", 0), state("unknown", 5))
