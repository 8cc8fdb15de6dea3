"""The ExchangeActor learns of its fills on a Binance-dialect venue by push: the emulator's user-data stream
(``executionReport`` over the WebSocket API) read by the real ccxt.pro ``binance`` client in a real Ray actor.

The REST fill sync of these actors would first run after 10 minutes, so what they know within seconds of a
resting order's fill came pushed; a filled market order's fills come with the venue's answer to the create
(``newOrderRespType=FULL``), with no ``myTrades`` request; the REST path runs as one ``sync`` round and finds
what the stream lost. Every fill counts once (trade id).
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any, Iterator

import pytest

from actors.keystore import Credentials, KeyStore
from actors.messages import OrderIntent
from market.emulator import ApiKey, FeeSchedule, Instrument, MarketSpec, Venue, VenueConfig
from market.emulator.server import EmulatorServer, ServerConfig
from market.samples import load_sample, load_sample_frame
from tests._trade import wait_for as poll

pytestmark = pytest.mark.ray

SYM = "XRP/ETH"
VENUE = "binance-push"
XRP_ETH = Instrument(SYM, tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.001"))
KEYS = {"alice": ("bk" + secrets.token_hex(6), "bs" + secrets.token_hex(12)),
        "bob": ("bk" + secrets.token_hex(6), "bs" + secrets.token_hex(12))}


def call(ref: Any, timeout: float = 60) -> Any:
    import ray

    return ray.get(ref, timeout=timeout)


def wait_for(what: str, pred: Any, timeout: float = 30.0) -> Any:
    return poll(pred, timeout, what, every_s=0.1)


@dataclasses.dataclass
class Side:
    venue: Venue
    server: EmulatorServer
    config: Any

    def advance(self, minutes: float) -> None:
        with self.server.lock:
            self.venue.advance_to(self.venue.now_ms + minutes * 60_000)

    def truth(self, account: str, order_id: str) -> dict[str, tuple[float, float, str]]:
        """The venue's own fills of an order: trade id -> (amount, fee, fee asset)."""
        return {t: v[:3] for t, v in self.truth_full(account, order_id).items()}

    def truth_full(self, account: str, order_id: str) -> dict[str, tuple[float, float, str, float, bool, int]]:
        """The venue's own fills of an order: trade id -> (amount, fee, fee asset, price, maker, time ms)."""
        with self.server.lock:
            return {str(f.trade_id): (float(f.qty), float(f.commission), f.commission_asset, float(f.price),
                                      f.is_maker, f.time_ms)
                    for f in self.venue.engine.fills(account, SYM) if str(f.order_id) == order_id}

    def resting_buy_price(self, minutes: float) -> float:
        """A buy price under the ask that a sell print of the next ``minutes`` of the tape trades through."""
        tape = load_sample_frame("XRP-ETH-trades")
        ts = tape["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
        with self.server.lock:
            t0 = self.venue.now_ms
            ask = float(self.venue.engine.depth(SYM, 1)[1][0][0])
        ahead = tape[(ts > t0) & (ts <= t0 + minutes * 60_000) & (tape["side"] == "sell")]
        price = round(float(ahead["price"].min()) + 1e-8, 8)
        assert price < ask
        return price


@pytest.fixture(scope="module")
def side(ray_session) -> Iterator[Side]:
    from actors.exchange import ExchangeConfig

    home = Path(tempfile.mkdtemp(prefix="rt-keys-"))
    store = KeyStore(home, env={})
    for account, (key, secret) in KEYS.items():
        store.add(account, "binance", Credentials(key, secret))
    venue = Venue([MarketSpec(XRP_ETH, load_sample("XRP-ETH-1m"), load_sample_frame("XRP-ETH-trades"))],
                  keys=[ApiKey(k, s, account) for account, (k, s) in KEYS.items()],
                  config=VenueConfig(name=VENUE, fees=FeeSchedule(D("10"), D("10"))),
                  deposits={a: {"ETH": D("10"), "XRP": D("20000")} for a in KEYS})
    venue.advance_to(venue.start_ms + 30 * 60_000)
    server = EmulatorServer(venue, ServerConfig()).__enter__()
    config = ExchangeConfig(venue=VENUE, symbols=(SYM,), base_url=server.url, ws_url=server.ws_url,
                            key_name="alice", keystore_home=str(home), streams=(), poll_s=600.0)
    try:
        yield Side(venue, server, config)
    finally:
        server.__exit__(None, None, None)
        shutil.rmtree(home, ignore_errors=True)


def started(config: Any) -> Any:
    from actors.exchange import ExchangeActor

    actor = ExchangeActor.remote(config)
    assert call(actor.start.remote(), 120)["running"]
    return actor


def stopped(actor: Any) -> None:
    import ray

    try:
        call(actor.stop.remote(), 30)
    finally:
        ray.kill(actor, no_restart=True)


def subscribed(side: Side, account: str) -> None:
    """Wait until the venue's user-data hub follows ``account`` (the actor's ccxt client subscribed)."""
    wait_for(f"{account}'s user-data subscription", lambda: account in side.server.user_streams.accounts())


def test_a_fill_reaches_the_actor_by_push_and_counts_once_after_a_rest_resync(side: Side) -> None:
    """A market order's fills come with the venue's answer, a resting order's by push, and a REST round that
    lists them all again counts none of them twice."""
    actor = started(side.config)
    try:
        subscribed(side, "alice")
        # a filled market order's fills come with the venue's answer (newOrderRespType=FULL): known when place
        # returns, as the venue's own fill list has them (taker, and the time too), with no REST request
        rest_calls = side.server.requests.count(("GET", "/api/v3/myTrades"))
        market = call(actor.place.remote(OrderIntent(VENUE, SYM, "sell", "market", 20, "push-0")))
        assert market.status == "closed" and market.filled == 20
        answered = side.truth_full("alice", market.order_id)
        assert answered and not any(maker for *_, maker, _ in answered.values())
        got = {f.trade_id: f for f in call(actor.fills.remote()) if f.order_id == market.order_id}
        assert {t: (f.amount, f.fee_cost, f.fee_currency, f.price, f.is_maker, f.timestamp_ms)
                for t, f in got.items()} == answered
        assert all(f.client_order_id == market.client_order_id and f.side == "sell" for f in got.values())
        assert side.server.requests.count(("GET", "/api/v3/myTrades")) == rest_calls
        # a resting order's fills come pushed (and the market order's executions, pushed after its answer,
        # count once)
        price = side.resting_buy_price(20)
        order = call(actor.place.remote(OrderIntent(VENUE, SYM, "buy", "limit", 10, "push-1", price)))
        assert order.status == "open" and order.filled == 0
        side.advance(20)
        truth = side.truth("alice", order.order_id)
        assert truth  # the tape traded through the order
        fills = wait_for("every fill of the order, pushed", lambda: (lambda got: got if {
            f.trade_id for f in got} == set(truth) else None)([f for f in call(actor.fills.remote())
                                                              if f.order_id == order.order_id]))
        assert {f.trade_id: (f.amount, f.fee_cost, f.fee_currency) for f in fills} == truth
        assert all(f.client_order_id == order.client_order_id and f.side == "buy" and f.is_maker for f in fills)
        info = call(actor.info.remote())
        every = set(truth) | set(answered)
        assert info["fills_pushed"] + info["fills_answered"] == len(every) and info["fills_polled"] == 0
        assert sorted(f.trade_id for f in call(actor.fills.remote())) == sorted(every)  # none twice
        assert side.server.requests.count(("GET", "/api/v3/myTrades")) == rest_calls  # nothing came by REST
        state = wait_for("the pushed FILLED state", lambda: [u for u in call(actor.orders_of.remote(
            (order.client_order_id,))) if u.status == "closed"])
        assert state[0].resolved_by == "push" and state[0].filled == 10
        assert state[0].fee_cost == pytest.approx(sum(fee for _, fee, _ in truth.values()))
        assert call(actor.info.remote())["orders_pushed"] >= 1
        # a REST round (an open order makes the sync list our fills): from the start, as nothing came by REST
        # yet, so every fill comes again, and counts once
        with side.server.lock:
            bid = float(side.venue.engine.depth(SYM, 1)[0][0][0])
        far = call(actor.place.remote(OrderIntent(VENUE, SYM, "buy", "limit", 10, "push-2", round(bid * 0.8, 8))))
        assert far.status == "open"
        assert call(actor.sync.remote())["new_fills"] == 0
        assert side.server.requests.count(("GET", "/api/v3/myTrades")) > rest_calls
        info = call(actor.info.remote())
        assert sorted(f.trade_id for f in call(actor.fills.remote())) == sorted(every) and info["fills_polled"] == 0
        assert call(actor.cancel.remote(far.client_order_id, SYM)).status == "canceled"
    finally:
        stopped(actor)


def test_a_dropped_user_stream_reconnects_and_the_rest_sync_fills_the_gap(side: Side) -> None:
    """bob's actor waits 3 s before re-subscribing a dropped stream: a resting order the replay fills while the
    stream is down is not pushed; one REST sync round finds its fills; after the reconnect the next order's
    fills come pushed again; none counts twice."""
    config = dataclasses.replace(side.config, key_name="bob", namespace="bob", reconnect_s=3.0)
    actor = started(config)
    try:
        subscribed(side, "bob")
        lost = call(actor.place.remote(OrderIntent(VENUE, SYM, "buy", "limit", 10, "drop-1",
                                                   side.resting_buy_price(20))))
        assert lost.status == "open"
        assert side.server.drop_streams() >= 1
        wait_for("the actor noticing the drop", lambda: call(actor.info.remote())["user_stream_errors"] >= 1)
        wait_for("the hub forgetting bob", lambda: "bob" not in side.server.user_streams.accounts())
        side.advance(20)
        truth = side.truth("bob", lost.order_id)
        assert truth and not [f for f in call(actor.fills.remote()) if f.order_id == lost.order_id]
        subscribed(side, "bob")  # ccxt re-subscribed after reconnect_s: what happened meanwhile was not pushed
        assert not [f for f in call(actor.fills.remote()) if f.order_id == lost.order_id]
        assert call(actor.sync.remote())["new_fills"] == len(truth)  # the REST round the poll would run
        assert {f.trade_id for f in call(actor.fills.remote()) if f.order_id == lost.order_id} == set(truth)
        later = call(actor.place.remote(OrderIntent(VENUE, SYM, "buy", "limit", 10, "drop-2",
                                                    side.resting_buy_price(20))))
        side.advance(20)
        truth2 = side.truth("bob", later.order_id)
        assert truth2
        wait_for("the next order's fills, pushed", lambda: call(actor.info.remote())["fills_pushed"] == len(truth2))
        fills = call(actor.fills.remote())
        assert len({f.trade_id for f in fills}) == len(fills)  # none twice
        assert {f.trade_id for f in fills} == set(truth) | set(truth2)
        assert call(actor.info.remote())["fills_polled"] == len(truth)
    finally:
        stopped(actor)
