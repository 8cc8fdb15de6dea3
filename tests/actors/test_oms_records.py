"""The OMS's order records against a real journal on a private redis-server, with the journal's reply lost.

Issue 15's possibly lost child (a route child journaled SUBMITTED that never reached the venue, seen once at
load 34): one way to get there is an append that raises *after* Redis ran it - the reply lost to a dropped
connection or a timeout once the script had run. The journal then holds the child's INTENT and SUBMITTED while
the OMS, whose step failed, never took the order: nobody sends it, and the sync (which walks the OMS's own orders)
never resolves it. :class:`actors.oms_records.OrderRecords` (the OmsActor's base) reads the journal back before it
decides again. The fault is injected at the Redis client (its EVALSHA answer is dropped after the server ran it);
nothing else is replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from actors import order_manager as om
from actors.journal import EntryKind, Journal
from actors.messages import Fill, OrderIntent
from actors.oms import IN_FLIGHT
from actors.oms_records import OrderRecords
from actors.order_state import OrderState
from risk.pretrade import RiskLimits, RiskView
from tests.actors._redis import PrivateRedis, running

T0 = 1_764_576_000_000
NS = "paper"
VIEW = RiskView(last_prices={("binance", "XRP/ETH"): 0.0014})


class LostReply(redis.Redis):
    """A Redis client whose next ``lose`` EVALSHA answers are lost: the server runs the script, the caller gets
    ``ConnectionError`` (what a connection dropped after the script ran looks like)."""

    lose = 0

    def evalsha(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        answer = super().evalsha(*args, **kwargs)
        if self.lose:
            self.lose -= 1
            raise redis.ConnectionError("the reply was lost (injected)")
        return answer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with running(tmp_path / "redis") as srv:
        yield srv


def _child(i: int) -> OrderIntent:
    return OrderIntent("binance", "XRP/ETH", "buy", "market", 700.0, f"sP1-c{i}", parent_id="P1")


def test_an_append_whose_reply_was_lost_leaves_no_journaled_order_the_oms_does_not_know(server: PrivateRedis) -> None:
    client = LostReply(host="127.0.0.1", port=server.port, password=server.password, socket_timeout=10)
    journal = Journal(client, "journal:lost-reply")
    records = OrderRecords(journal, om.initial_oms_state(NS, RiskLimits(), T0), NS)
    first = _child(0)
    records._commit(om.submit(records.state, first, VIEW, T0))
    client.lose = 1
    second = _child(1)
    with pytest.raises(redis.ConnectionError):
        records._commit(om.submit(records.state, second, VIEW, T0 + 1))
    cid = om.client_order_id(NS, second.intent_id)
    # the journal has the second child SUBMITTED (the script ran), the step was not taken: the bug's state
    landed = [e.payload.to_state for e in journal.entries()
              if e.kind is EntryKind.STATE_CHANGE and e.payload.client_order_id == cid]
    assert landed == ["SUBMITTED"]
    assert cid not in records.state.orders and records.journal_doubt
    # before the next decision or sync round the OMS reads the journal back: the child is its own again, in
    # flight (the sync asks the venue about it and sends the durable intent the venue never got)
    records._settle_doubt()
    assert not records.journal_doubt
    order = records.state.orders[cid]
    assert order.state is OrderState.SUBMITTED and order.state in IN_FLIGHT and records.intents[cid] == second
    assert records.state.orders[om.client_order_id(NS, first.intent_id)].state is OrderState.SUBMITTED
    # the caller's retry of the same intent is recognised: no second order, nothing to send
    _, again = om.submit(records.state, second, VIEW, T0 + 2)
    assert again.actions == () and "already known" in again.ignored
    # and the records go on as the journal's fold: a fill of the child books once, in the journal and the ledger
    fill = Fill("binance", "XRP/ETH", "t1", "o1", cid, "buy", 0.0014, 700.0, 0.00098, "ETH", False, T0 + 3)
    records._commit(om.on_fill(records.state, fill, T0 + 3))
    assert records.state.orders[cid].state is OrderState.FILLED
    assert records.ledger.position("binance", "XRP/ETH").qty == pytest.approx(700.0)
    fresh = OrderRecords(Journal(server.client(), "journal:lost-reply"), om.initial_oms_state(NS, RiskLimits(), T0), NS)
    fresh._load(fresh.journal.entries())
    assert fresh.state.orders == records.state.orders and fresh.fill_ids == records.fill_ids


def test_while_the_journal_cannot_be_read_back_nothing_is_decided(server: PrivateRedis) -> None:
    # no client-side retries: redis-py's default (10, backoff up to ~4 s in all against a stopped server) only
    # delays the same ConnectionError; what is checked is what OrderRecords does with it
    client = LostReply(host="127.0.0.1", port=server.port, password=server.password, socket_timeout=10,
                       retry=Retry(NoBackoff(), 0))
    records = OrderRecords(Journal(client, "journal:down"), om.initial_oms_state(NS, RiskLimits(), T0), NS)
    client.lose = 1
    with pytest.raises(redis.ConnectionError):
        records._commit(om.submit(records.state, _child(0), VIEW, T0))
    server.stop()
    with pytest.raises(redis.ConnectionError):
        records._settle_doubt()
    assert records.journal_doubt  # still in doubt: the next decision reads the journal first again
    server.start()
    records._settle_doubt()
    assert records.state.orders[om.client_order_id(NS, "sP1-c0")].state is OrderState.SUBMITTED
