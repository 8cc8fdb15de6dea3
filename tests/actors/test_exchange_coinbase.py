"""The ExchangeActor on a Coinbase-Exchange-dialect venue: real Ray actor, real ccxt.pro ``coinbaseexchange``.

The emulator (:class:`market.emulator.coinbase.CoinbaseServer`, Coinbase's own rate limits) runs in this
process on a free loopback port; the test moves its replay clock by hand. Everything that differs from the
Binance dialect comes from the dialect table: the client id travels as a UUID (``client_oid``) that reads
back into our id with no state, bars are polled over REST (Coinbase has no candle channel), fills are
fetched by time, fees are charged in the quote asset.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any, Iterator

import pytest

from actors.exchange_config import dialect_of, venue_client_id
from actors.exchange_core import SeqChecker, client_order_id
from actors.keystore import Credentials, KeyStore
from actors.messages import MarketEvent, OrderIntent, stream_name
from market.emulator._coinbase import order_uuid
from market.emulator import ApiKey, FeeSchedule, Instrument, MarketSpec, Venue, VenueConfig
from market.emulator.coinbase import CoinbaseServer, coinbase_venue_config
from market.emulator.server import ServerConfig
from market.samples import load_sample, load_sample_frame
from tests._trade import wait_for as poll

pytestmark = pytest.mark.ray

SYM = "XRP/ETH"
VENUE = "coinbase"
NS = "cb1"
XRP_ETH = Instrument(SYM, tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.001"))
KEY, PASSPHRASE = "cbkey" + secrets.token_hex(6), "pass" + secrets.token_hex(6)
SECRET = base64.b64encode(secrets.token_bytes(32)).decode()
COINBASE = dialect_of("coinbaseexchange")


def call(ref: Any, timeout: float = 60) -> Any:
    import ray

    return ray.get(ref, timeout=timeout)


class Side:
    def __init__(self, venue: Venue, server: CoinbaseServer, actor: Any, config: Any) -> None:
        self.venue, self.server, self.actor, self.config = venue, server, actor, config

    def advance(self, minutes: float) -> None:
        with self.server.lock:
            self.venue.advance_to(self.venue.now_ms + minutes * 60_000)

    def venue_orders(self) -> dict[str, Any]:
        """client_oid -> the venue's order, from the venue's own book."""
        with self.server.lock:
            return {o.client_order_id: o for o in self.venue.engine.orders("alice", SYM)}


def wait_for(what: str, pred: Any, timeout: float = 60.0) -> Any:
    """:func:`tests._trade.wait_for`, polled every 0.2 s."""
    return poll(pred, timeout, what, every_s=0.2)


@pytest.fixture(scope="module")
def side(ray_session) -> Iterator[Side]:
    import ray

    from actors.exchange import ExchangeActor, ExchangeConfig

    home = Path(tempfile.mkdtemp(prefix="rt-keys-"))
    KeyStore(home, env={}).add("cb", "coinbaseexchange", Credentials(KEY, SECRET, PASSPHRASE))
    venue = Venue([MarketSpec(XRP_ETH, load_sample("XRP-ETH-1m"), load_sample_frame("XRP-ETH-trades"))],
                  keys=[ApiKey(KEY, SECRET, "alice", passphrase=PASSPHRASE)],
                  config=coinbase_venue_config(VenueConfig(name=VENUE, fees=FeeSchedule(D("10"), D("20")))),
                  deposits={"alice": {"ETH": D("10"), "XRP": D("20000")}})
    venue.advance_to(venue.start_ms + 30 * 60_000)
    server = CoinbaseServer(venue, ServerConfig()).__enter__()
    config = ExchangeConfig(venue=VENUE, exchange_id="coinbaseexchange", symbols=(SYM,), base_url=server.url,
                            ws_url=server.ws_url, key_name="cb", keystore_home=str(home), namespace=NS,
                            poll_s=0.3, rest_poll_s=0.3)
    actor = ExchangeActor.options(max_restarts=1).remote(config)
    try:
        assert call(actor.start.remote(), 120)["running"]
        yield Side(venue, server, actor, config)
    finally:
        try:
            call(actor.stop.remote(), 30)
        finally:
            ray.kill(actor, no_restart=True)
            server.__exit__(None, None, None)
            shutil.rmtree(home, ignore_errors=True)


def test_market_data_streams_trades_and_book_and_polls_bars(side: Side) -> None:
    got: dict[str, list] = {k: [] for k in ("trades", "book", "bars")}

    def more() -> bool:
        side.advance(1)
        refs = {kind: side.actor.poll.remote(stream_name(kind, SYM), items[-1].seq if items else 0, 0.5)
                for kind, items in got.items()}  # the three long polls wait together
        for kind, items in got.items():
            items += call(refs[kind])
        return all(any(isinstance(x, MarketEvent) for x in items) for items in got.values()) and len(
            [x for x in got["bars"] if isinstance(x, MarketEvent)]) >= 3

    wait_for("trades, book and bars", more)
    for kind, items in got.items():
        assert SeqChecker().check(items) == [], kind  # no hole in seq
    trade_ids = [int(x.trade.trade_id) for x in got["trades"] if isinstance(x, MarketEvent)]
    assert trade_ids == sorted(set(trade_ids))
    with side.server.lock:
        tape = {t.trade_id: t for t in side.venue.engine.trades(SYM, 5000)}
    for x in got["trades"]:
        if isinstance(x, MarketEvent):
            assert float(tape[int(x.trade.trade_id)].price) == x.trade.price  # the venue's own prints
    bars = [x.bar for x in got["bars"] if isinstance(x, MarketEvent)]
    times = [b.timestamp_ms for b in bars]
    assert times == sorted(set(times))  # polled closed bars, each once
    frame = side.venue.bars(SYM, "1m")
    by_time = dict(zip(frame.timestamp.tolist(), frame.close.tolist()))
    assert all(by_time[b.timestamp_ms] == b.close for b in bars)  # the venue's candles, bit for bit
    books = [x.book for x in got["book"] if isinstance(x, MarketEvent)]
    assert books[-1].bids[0][0] < books[-1].asks[0][0]


def test_orders_travel_as_uuid_client_oids_and_come_back_as_our_ids(side: Side) -> None:
    with side.server.lock:
        bid = float(side.venue.engine.depth(SYM, 1)[0][0][0])
    rest = call(side.actor.place.remote(OrderIntent(VENUE, SYM, "buy", "limit", 100, "rest-1", round(bid * 0.9, 8))))
    ours = client_order_id(NS, "rest-1")
    assert rest.status == "open" and rest.client_order_id == ours and rest.resolved_by == "response"
    venue_side = side.venue_orders()
    sent = venue_client_id(COINBASE, ours)
    assert sent in venue_side and str(venue_side[sent].order_id) != ""  # the venue holds the UUID form
    assert [u.client_order_id for u in call(side.actor.open_orders.remote())] == [ours]
    assert call(side.actor.order_status.remote(ours, SYM)).status == "open"
    canceled = call(side.actor.cancel.remote(ours, SYM))
    assert canceled.status == "canceled" and canceled.client_order_id == ours
    assert side.venue_orders()[sent].status == "CANCELED"

    bought = call(side.actor.place.remote(OrderIntent(VENUE, SYM, "buy", "market", 50, "buy-1")))
    assert bought.status == "closed" and bought.filled == 50 and bought.client_order_id == client_order_id(NS, "buy-1")
    fills = wait_for("the market buy's fills", lambda: [f for f in call(side.actor.fills.remote())
                                                        if f.order_id == bought.order_id])
    with side.server.lock:
        truth = [f for f in side.venue.engine.fills("alice", SYM) if order_uuid(f.order_id) == bought.order_id]
    assert sorted(f.trade_id for f in fills) == sorted(str(f.trade_id) for f in truth)  # the venue's fills, once
    assert sum(f.amount for f in fills) == 50
    assert all(f.client_order_id == bought.client_order_id and f.fee_currency == "ETH" and f.side == "buy"
               for f in fills)  # Coinbase charges fees in the quote asset
    assert sum(f.fee_cost for f in fills) == pytest.approx(bought.fee_cost)
    call(side.actor.sync.remote())
    assert len([f for f in call(side.actor.fills.remote()) if f.order_id == bought.order_id]) == len(fills)  # no repeat


def test_a_restarted_actor_resending_an_intent_opens_no_second_order(side: Side) -> None:
    import ray

    with side.server.lock:
        bid = float(side.venue.engine.depth(SYM, 1)[0][0][0])
    intent = OrderIntent(VENUE, SYM, "buy", "limit", 10, "again-1", round(bid * 0.9, 8))
    first = call(side.actor.place.remote(intent))
    assert first.status == "open"
    pid = call(side.actor.ping.remote())
    ray.kill(side.actor, no_restart=False)  # a crash: Ray restarts the actor, which starts itself
    wait_for("the restarted actor", lambda: _answers(side.actor, pid), 120)
    again = call(side.actor.place.remote(intent), 120)  # the OMS resends what it never heard answered
    assert again.client_order_id == first.client_order_id and again.order_id == first.order_id
    assert again.status == "open" and again.resolved_by == "query"  # the venue refused the copy; found by id
    sent = venue_client_id(COINBASE, first.client_order_id)
    with side.server.lock:
        copies = [o for o in side.venue.engine.orders("alice", SYM) if o.client_order_id == sent]
    assert len(copies) == 1
    # the new process knows nothing of the order, yet reads the venue's UUID back into our id
    assert first.client_order_id in [u.client_order_id for u in call(side.actor.open_orders.remote())]
    assert call(side.actor.cancel.remote(first.client_order_id, SYM)).status == "canceled"


def _answers(actor: Any, old_pid: int) -> bool:
    try:
        return call(actor.ping.remote(), 10) != old_pid and call(actor.info.remote(), 10)["running"]
    except Exception:  # noqa: BLE001 - still restarting
        return False


def _user_subscribers(side: Side) -> int:
    """WebSockets subscribed to the venue's ``user`` channel for SYM, as the emulator's stream hub holds them."""
    while True:
        try:  # the hub's loop thread may add a socket meanwhile: read again
            return sum(("user", SYM) in c.subs for c in list(side.server.streams.clients.values()))
        except RuntimeError:
            continue


def test_a_fill_is_pushed_by_the_user_channel_before_any_rest_poll(side: Side) -> None:
    """A second actor on the account whose REST fill sync would first run after 10 minutes: a resting order
    filled by the replay reaches its ``fills()`` over the Coinbase ``user`` channel within seconds."""
    import dataclasses

    import ray

    from actors.exchange import ExchangeActor

    config = dataclasses.replace(side.config, namespace="cb2", streams=(), poll_s=600.0)
    before = _user_subscribers(side)
    pushed = ExchangeActor.remote(config)
    try:
        assert call(pushed.start.remote(), 120)["running"]
        # subscribed to the user channel (the venue counts one more subscriber) before anything can fill
        wait_for("the user channel subscription", lambda: _user_subscribers(side) > before, timeout=30)
        tape = load_sample_frame("XRP-ETH-trades")
        ts = tape["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
        with side.server.lock:
            t0 = side.venue.now_ms
            ask = float(side.venue.engine.depth(SYM, 1)[1][0][0])
        ahead = tape[(ts > t0) & (ts <= t0 + 20 * 60_000) & (tape["side"] == "sell")]
        price = round(float(ahead["price"].min()) + 1e-8, 8)  # one tick above the lowest sell print ahead
        assert price < ask
        order = call(pushed.place.remote(OrderIntent(VENUE, SYM, "buy", "limit", 10, "push-1", price)))
        assert order.status == "open" and order.filled == 0
        side.advance(20)
        fills = wait_for("the pushed fill", lambda: [f for f in call(pushed.fills.remote())
                                                    if f.order_id == order.order_id], timeout=30)
        info = call(pushed.info.remote())
        assert info["fills_pushed"] >= len(fills) and info["fills_polled"] == 0  # nothing came by REST
        assert all(f.client_order_id == order.client_order_id and f.fee_currency == "ETH" for f in fills)
        with side.server.lock:
            truth = {str(f.trade_id) for f in side.venue.engine.fills("alice", SYM)
                     if order_uuid(f.order_id) == order.order_id}
        wait_for("every fill of the order pushed", lambda: {f.trade_id for f in call(pushed.fills.remote())
                                                             if f.order_id == order.order_id} == truth, timeout=30)
        before = len(call(pushed.fills.remote()))
        call(pushed.sync.remote())  # the REST path finds the same fills: none is counted twice
        assert len(call(pushed.fills.remote())) == before
    finally:
        try:
            call(pushed.stop.remote(), 30)
        finally:
            ray.kill(pushed, no_restart=True)


def test_an_oms_that_found_no_venue_at_start_starts_trading_once_it_is_up(side: Side) -> None:
    """The OMS's start-up reconciliation fails while the venue's ExchangeActor is not there (every one of its
    tries); the OMS tries again in the background and trading starts once the actor is up, without a restart
    of the OMS (before, it refused to trade until restarted). Each attempt is journaled."""
    import dataclasses

    import ray

    from actors.exchange import ExchangeActor
    from actors.journal import EntryKind, Journal
    from actors.oms import RECONCILE_ATTEMPTS, OmsActor
    from actors.trading import TradingConfig, exchange_name, redis_url

    ns = "oms-retry-" + secrets.token_hex(3)
    config = TradingConfig(stream=f"raytrader:journal:test-{secrets.token_hex(4)}", venues=(VENUE,), namespace=NS,
                           ray_namespace=ns, reconcile_retry_s=1.0)
    oms = OmsActor.remote(config)
    exchange = None
    try:
        status = call(oms.status.remote(), 120)  # answers once start-up (every reconciliation try) is done
        assert not status["trading"] and f"attempt {RECONCILE_ATTEMPTS} " in status["reason"], status
        refused = call(oms.on_target.remote("s", VENUE, SYM, 0.5, 0.0005, 1))  # no order meanwhile
        assert refused["status"] == "refused" and refused["reason"].startswith("trading not started"), refused
        exchange = ExchangeActor.options(name=exchange_name(VENUE), namespace=ns).remote(
            dataclasses.replace(side.config, namespace=NS))
        assert call(exchange.start.remote(), 120)["running"]
        status = wait_for("trading after a background reconciliation",
                          lambda: (s := call(oms.status.remote()))["trading"] and s, timeout=90)
        assert status["reason"] == "trading" and [r["ok"] for r in status["reconciliations"]] == [True]
        results = [e.payload for e in Journal.from_url(redis_url(), config.stream).entries()
                   if e.kind is EntryKind.RECONCILIATION]
        assert len(results) > RECONCILE_ATTEMPTS and [r.ok for r in results] == [False] * (len(results) - 1) + [True]
    finally:
        for actor in (oms, exchange):
            if actor is not None:
                ray.kill(actor, no_restart=True)
