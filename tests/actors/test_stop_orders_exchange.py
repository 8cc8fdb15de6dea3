"""A stop-limit intent through the ExchangeActor (real Ray test cluster, real ccxt, the Binance-dialect emulator):
placed as STOP_LOSS_LIMIT, OPEN while it waits, triggered and filled by the replay; a second one canceled
while it waits with a normal cancel."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Iterator

import pytest

from actors.messages import OrderIntent
from market.emulator.server import EmulatorServer, ServerConfig
from market.samples import load_sample_frame
from tests.actors.test_exchange_actor import SYM, call, keystore_home, make_venue  # noqa: F401 - a fixture

pytestmark = pytest.mark.ray
TICK = D("0.00000001")


@pytest.fixture(scope="module")
def side(ray_session, keystore_home: Path) -> Iterator[tuple]:  # noqa: F811 - the imported fixture
    from actors.exchange import ExchangeActor, ExchangeConfig

    import ray

    venue = make_venue("binance")
    server = EmulatorServer(venue, ServerConfig()).__enter__()
    actor = ExchangeActor.remote(ExchangeConfig(venue="binance", symbols=(SYM,), base_url=server.url,
                                                ws_url=server.ws_url, key_name="emu",
                                                keystore_home=str(keystore_home), namespace="stops", streams=(),
                                                poll_s=0.3))
    try:
        assert call(actor.start.remote())["running"]
        yield venue, server, actor
    finally:
        try:
            call(actor.stop.remote(), 30)
        finally:
            ray.kill(actor)
            server.__exit__(None, None, None)


def test_stop_intent_is_open_while_it_waits_then_fills_and_a_waiting_one_cancels(side) -> None:
    venue, server, actor = side
    trades = load_sample_frame("XRP-ETH-trades")
    with server.lock:
        t0, last = venue.now_ms, venue.engine.last_price(SYM)
    ts = trades["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    low = D(str(trades[(ts > t0) & (ts <= t0 + 30 * 60_000)]["price"].min()))
    assert low < last
    stop = low + TICK
    intent = OrderIntent("binance", SYM, "sell", "limit", 100, "stop-1", float((stop * D("0.98")).quantize(TICK)),
                         stop_price=float(stop), trigger="stop_loss")
    placed = call(actor.place.remote(intent))
    assert placed.status == "open" and placed.filled == 0
    assert [o.client_order_id for o in call(actor.open_orders.remote())] == [placed.client_order_id]
    with server.lock:
        at_venue = venue.engine.get_order("alice", SYM, client_order_id=placed.client_order_id)
    assert at_venue.type == "STOP_LOSS_LIMIT" and at_venue.stop_price == stop and not at_venue.is_working
    with server.lock:
        venue.advance_to(t0 + 30 * 60_000)
    done = call(actor.order_status.remote(placed.client_order_id, SYM))
    assert done.status == "closed" and done.filled == 100

    with server.lock:
        last = venue.engine.last_price(SYM)
    far = float((last * D("0.5")).quantize(TICK))
    waiting = call(actor.place.remote(OrderIntent("binance", SYM, "sell", "limit", 10, "stop-2", far,
                                                  stop_price=far, trigger="stop_loss")))
    assert waiting.status == "open"
    canceled = call(actor.cancel.remote(waiting.client_order_id, SYM))
    assert canceled.status == "canceled" and call(actor.open_orders.remote()) == ()
