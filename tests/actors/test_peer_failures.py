"""What other bots' users lost (hummingbot and freqtrade issues, each named below), replayed against our core: order manager + journal + ledger.

Each test names the peer issue it replays. They drive the pure order-manager
steps the way the OMS actor will - journal a step's entries (a real journal
on a private redis-server) before acting - and "restart" by rebuilding the
orders and the ledger from the journal alone. End-to-end versions through the
actors and the emulator belong to the actors' own tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from actors.exchange_core import client_order_id
from actors.journal import EntryKind, Journal
from actors.ledger import Ledger, ledger_from_entries
from actors.messages import Fill, OrderIntent, OrderUpdate
from actors.order_manager import (
    OmsState,
    PlaceOrder,
    Step,
    cancel,
    initial_oms_state,
    on_fill,
    on_timeout,
    on_update,
    rebuild,
    submit,
)
from actors.order_state import OrderState
from risk.pretrade import RiskLimits, RiskView
from tests.actors._redis import PrivateRedis, running

T0 = 1_764_576_000_000
LIMITS = RiskLimits()
VIEW = RiskView(last_prices={("binance", "XRP/ETH"): 0.0005})
NS = "peer"


class Session:
    """The OMS shell in miniature: journal first, then act."""

    def __init__(self, server: PrivateRedis, stream: str = "journal:peer") -> None:
        self.server, self.stream = server, stream
        self.journal = Journal(server.client(), stream)
        self.state: OmsState = initial_oms_state(NS, LIMITS, T0)
        self.sent: list[PlaceOrder] = []

    def __call__(self, result: tuple[OmsState, Step]) -> Step:
        state, step = result
        self.journal.append_many(step.entries)  # durable before anything is sent or believed
        self.state = state
        self.sent += [a for a in step.actions if isinstance(a, PlaceOrder)]
        return step

    def restart(self) -> None:
        """A new process: nothing survives but the journal."""
        self.journal = Journal(self.server.client(), self.stream)
        self.state = rebuild(initial_oms_state(NS, LIMITS, T0), self.journal.entries())

    def ledger(self) -> Ledger:
        return ledger_from_entries(self.journal.entries())

    def history(self, cid: str) -> list[str]:
        return [e.payload.to_state for e in self.journal.entries()
                if e.kind is EntryKind.STATE_CHANGE and e.payload.client_order_id == cid]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with running(tmp_path / "redis") as srv:
        yield srv


def _intent(i: str, side: str = "buy", amount: float = 1000.0, price: float = 0.0005) -> OrderIntent:
    return OrderIntent(venue="binance", symbol="XRP/ETH", side=side, type="limit", amount=amount, intent_id=i,
                       price=price)


def _update(cid: str, status: str, filled: float = 0.0, side: str = "buy") -> OrderUpdate:
    return OrderUpdate(venue="binance", symbol="XRP/ETH", client_order_id=cid, order_id="9", status=status, side=side,
                       type="limit", amount=1000.0, filled=filled, remaining=1000.0 - filled, average=None,
                       price=0.0005, fee_cost=0.0, fee_currency=None, timestamp_ms=T0, resolved_by="query")


def _fill(cid: str, trade_id: str, amount: float = 1000.0, side: str = "buy") -> Fill:
    return Fill(venue="binance", symbol="XRP/ETH", trade_id=trade_id, order_id="9", client_order_id=cid, side=side,
                price=0.0005, amount=amount, fee_cost=0.0005, fee_currency="XRP", is_maker=True, timestamp_ms=T0)


def test_a_network_error_is_unknown_not_failed(server: PrivateRedis) -> None:
    """hummingbot #8457: after a DNS outage, orders the exchange had accepted were marked failed and the bot
    carried an untracked short. Here the timeout makes the order UNKNOWN; the venue's answer settles it and
    its fill lands in the ledger."""
    s = Session(server)
    s(submit(s.state, _intent("sell-1", side="sell"), VIEW, T0))
    cid = client_order_id(NS, "sell-1")
    s(on_timeout(s.state, cid, T0 + 10_000))
    assert s.state.orders[cid].state is OrderState.UNKNOWN
    s(on_update(s.state, _update(cid, "open", side="sell"), T0 + 20_000))
    s(on_fill(s.state, _fill(cid, "t1", side="sell"), T0 + 30_000))
    assert s.history(cid) == ["SUBMITTED", "UNKNOWN", "ACCEPTED", "FILLED"]
    assert "REJECTED" not in s.history(cid)
    assert s.ledger().position("binance", "XRP/ETH").qty == -1000.0  # the short is tracked


def test_orders_given_up_on_that_fill_later_still_count(server: PrivateRedis) -> None:
    """hummingbot #3374 and #6901: orders the bot gave up on filled later. A fill after our cancel (or while
    the outcome was unknown) still moves the order and the position."""
    s = Session(server)
    for i in ("a", "b"):
        s(submit(s.state, _intent(i), VIEW, T0))
    a, b = client_order_id(NS, "a"), client_order_id(NS, "b")
    s(on_update(s.state, _update(a, "open"), T0))
    s(cancel(s.state, a, "gave_up", VIEW, T0))
    s(on_update(s.state, _update(a, "canceled"), T0))
    s(on_fill(s.state, _fill(a, "late-a", 400.0), T0))  # the fill raced the cancel
    s(on_timeout(s.state, b, T0))
    s(on_fill(s.state, _fill(b, "late-b"), T0))
    assert s.state.orders[a].state is OrderState.PARTIALLY_FILLED and s.state.orders[a].filled == 400.0
    assert s.state.orders[b].state is OrderState.FILLED
    assert s.ledger().position("binance", "XRP/ETH").qty == 1400.0


def test_a_filled_order_reported_cancelled_is_not_sent_again(server: PrivateRedis) -> None:
    """freqtrade #11461: an order filled, was then reported cancelled and partially filled, was re-sent and
    filled twice. Here the late report cannot reopen a filled order, and a re-submitted intent is
    recognised by its deterministic client order id and never sent twice."""
    s = Session(server)
    s(submit(s.state, _intent("entry-1"), VIEW, T0))
    cid = client_order_id(NS, "entry-1")
    s(on_fill(s.state, _fill(cid, "t1"), T0))
    late = s(on_update(s.state, _update(cid, "canceled", filled=500.0), T0 + 1))
    assert late.ignored and s.state.orders[cid].state is OrderState.FILLED
    again = s(submit(s.state, _intent("entry-1"), VIEW, T0 + 2))
    assert again.actions == () and len(s.sent) == 1
    s.restart()
    s(submit(s.state, _intent("entry-1"), VIEW, T0 + 3))  # and after a restart
    assert len(s.sent) == 1 and s.ledger().position("binance", "XRP/ETH").qty == 1000.0


def test_a_create_that_timed_out_but_exists_is_found_not_duplicated(server: PrivateRedis) -> None:
    """hummingbot #493: a create timed out but the order existed. Here it is UNKNOWN, a retry of the same
    intent sends nothing, and the venue's answer to a query by client order id makes it ACCEPTED."""
    s = Session(server)
    s(submit(s.state, _intent("x"), VIEW, T0))
    cid = client_order_id(NS, "x")
    s(on_timeout(s.state, cid, T0 + 5_000))
    s(submit(s.state, _intent("x"), VIEW, T0 + 6_000))
    assert len(s.sent) == 1
    s(on_update(s.state, _update(cid, "open"), T0 + 7_000))
    assert s.state.orders[cid].state is OrderState.ACCEPTED


def test_after_a_restart_a_cancelled_entry_is_not_believed_filled(server: PrivateRedis) -> None:
    """freqtrade #10436: after a restart a cancelled entry was believed filled and a stop-loss was placed for
    a position that did not exist. Here the rebuilt order is CANCELED and the ledger holds nothing."""
    s = Session(server)
    s(submit(s.state, _intent("entry"), VIEW, T0))
    cid = client_order_id(NS, "entry")
    s(on_update(s.state, _update(cid, "open"), T0))
    s(cancel(s.state, cid, "user", VIEW, T0))
    s(on_update(s.state, _update(cid, "canceled"), T0))
    s.restart()
    assert s.state.orders[cid].state is OrderState.CANCELED and s.state.orders[cid].filled == 0.0
    assert s.ledger().position("binance", "XRP/ETH").qty == 0.0


def test_an_old_fill_attaches_to_its_own_order_not_the_newest(server: PrivateRedis) -> None:
    """freqtrade #13399: a recovery heuristic (orders since open time minus 10 s) attached an old stop-loss
    fill to a new trade and the bot crash-looped. Here fills attach by client order id only, whatever
    their time, before and after a restart."""
    s = Session(server)
    s(submit(s.state, _intent("stop-old", side="sell", price=0.00052), VIEW, T0))  # above the new buy: no self-cross
    old = client_order_id(NS, "stop-old")
    s(on_update(s.state, _update(old, "open", side="sell"), T0))
    s(submit(s.state, _intent("entry-new"), VIEW, T0 + 60_000))
    new = client_order_id(NS, "entry-new")
    s.restart()
    s(on_fill(s.state, _fill(old, "t-old", side="sell"), T0 + 61_000))  # arrives late, near the new order's time
    assert s.state.orders[old].state is OrderState.FILLED
    assert s.state.orders[new].state is OrderState.SUBMITTED and s.state.orders[new].filled == 0.0
    s.restart()
    assert s.state.orders[old].trade_ids == {"t-old"} and not s.state.orders[new].trade_ids


def test_fills_are_counted_once_across_streams_and_restarts(server: PrivateRedis) -> None:
    """hummingbot #2945 and #1663: fills counted twice after a restart, and when the WebSocket and REST
    trackers raced. Here the second sighting journals nothing, and after a restart of both our process and
    redis-server (SIGKILL) the rebuilt order and the ledger still count each trade once."""
    s = Session(server)
    s(submit(s.state, _intent("e"), VIEW, T0))
    cid = client_order_id(NS, "e")
    s(on_fill(s.state, _fill(cid, "t1", 600.0), T0))          # WebSocket
    dup = s(on_fill(s.state, _fill(cid, "t1", 600.0), T0))    # REST poll, same trade
    assert dup.entries == ()
    server.sigkill()
    server.start()
    s.restart()
    s(on_fill(s.state, _fill(cid, "t1", 600.0), T0))          # replayed again after the restart
    s(on_fill(s.state, _fill(cid, "t2", 400.0), T0))
    fills = [e for e in s.journal.entries() if e.kind is EntryKind.FILL]
    assert [f.payload.trade_id for f in fills] == ["t1", "t2"]
    assert s.state.orders[cid].state is OrderState.FILLED and s.state.orders[cid].filled == 1000.0
    assert s.ledger().position("binance", "XRP/ETH").qty == 1000.0
    assert s.journal.verify().ok


def test_an_order_open_across_a_restart_is_asked_about_not_assumed_unfilled(server: PrivateRedis) -> None:
    """freqtrade dry run (TRADING-NOTES' list; the behaviour of its dry-run wallet, no issue number): open
    orders stay open across a restart and the bot assumes nothing filled while it was down. Here the rebuilt
    order is still in flight, so the restarted OMS asks the venue about it (:data:`actors.oms.IN_FLIGHT`,
    reconciliation by client order id); the venue's ``closed`` answer alone moves nothing (its fills settle
    it), the fill made while we were down is counted once, and a second restart keeps it."""
    from actors.oms import IN_FLIGHT

    s = Session(server)
    s(submit(s.state, _intent("rest"), VIEW, T0))
    cid = client_order_id(NS, "rest")
    s(on_update(s.state, _update(cid, "open"), T0))
    s.restart()  # we were down; meanwhile the venue filled the order
    assert s.state.orders[cid].state is OrderState.ACCEPTED and s.state.orders[cid].state in IN_FLIGHT
    closed = s(on_update(s.state, _update(cid, "closed", filled=1000.0), T0 + 60_000))
    assert closed.ignored and s.state.orders[cid].state is OrderState.ACCEPTED
    s(on_fill(s.state, _fill(cid, "t-while-down"), T0 + 60_000))
    s(on_fill(s.state, _fill(cid, "t-while-down"), T0 + 61_000))  # the venue reports it again: once
    assert s.state.orders[cid].state is OrderState.FILLED and s.state.orders[cid].filled == 1000.0
    s.restart()
    assert s.state.orders[cid].state is OrderState.FILLED
    assert s.ledger().position("binance", "XRP/ETH").qty == 1000.0
    assert s.history(cid) == ["SUBMITTED", "ACCEPTED", "FILLED"]
