"""ExchangeActor on the real Ray test cluster, trading through the real ccxt.pro client on two emulated venues.

The venues (``binance`` and ``binanceus``: different fee schedules, a 5 bps
price dislocation) run in this process on free loopback ports; the test moves
their replay clocks by hand, so what the actors see is deterministic. The API
secret is a random canary stored only in a temporary encrypted key store.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Iterator

import pytest

from actors.exchange_core import SeqChecker
from actors.keystore import Credentials, KeyStore
from actors.messages import GapDetected, MarketEvent, OrderIntent, Resynced, stream_name
from market.emulator import ApiKey, FeeSchedule, Instrument, MarketSpec, ReplayConfig, Venue, VenueConfig
from market.emulator.server import EmulatorServer, FaultConfig, ServerConfig
from market.samples import load_sample, load_sample_frame

pytestmark = pytest.mark.ray

SYM = "XRP/ETH"
XRP_ETH = Instrument(SYM, tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.001"))
CANARY_KEY = "rtkey" + secrets.token_hex(8)
CANARY_SECRET = "canary" + secrets.token_hex(16)
FEES = {"binance": FeeSchedule(D("10"), D("10")), "binanceus": FeeSchedule(D("0"), D("20")),
        "lossy": FeeSchedule(D("10"), D("10"))}


@dataclass
class Venueside:
    name: str
    venue: Venue
    server: EmulatorServer
    actor: object


def make_venue(name: str, offset_bps: str = "0") -> Venue:
    bars, trades = load_sample("XRP-ETH-1m"), load_sample_frame("XRP-ETH-trades")
    venue = Venue([MarketSpec(XRP_ETH, bars, trades)], keys=[ApiKey(CANARY_KEY, CANARY_SECRET, "alice")],
                  config=VenueConfig(name=name, fees=FEES[name], replay=ReplayConfig(price_offset_bps=D(offset_bps))),
                  deposits={"alice": {"ETH": D("10"), "XRP": D("20000")}})
    venue.advance_to(venue.start_ms + 30 * 60_000)
    return venue


def advance(side: Venueside, minutes: float, steps: int = 1) -> None:
    """Move the venue's replay ``minutes`` forward in ``steps`` pauses, so the streams publish each step."""
    for _ in range(steps):
        with side.server.lock:
            side.venue.advance_to(side.venue.now_ms + minutes / steps * 60_000)
        if steps > 1:
            time.sleep(0.12)  # > the stream hub's 50 ms publishing tick


def call(ref, timeout: float = 60):
    import ray

    return ray.get(ref, timeout=timeout)


@pytest.fixture(scope="module")
def keystore_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="rt-keys-"))
    KeyStore(home, env={}).add("emu", "binance", Credentials(CANARY_KEY, CANARY_SECRET))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def venues(ray_session, keystore_home: Path) -> Iterator[dict[str, Venueside]]:
    from actors.exchange import ExchangeActor, ExchangeConfig

    plan = {"binance": ("0", FaultConfig()), "binanceus": ("5", FaultConfig()),
            "lossy": ("0", FaultConfig(lose_order_response_every=1))}
    sides: dict[str, Venueside] = {}
    try:
        for name, (offset, faults) in plan.items():
            venue = make_venue(name, offset)
            server = EmulatorServer(venue, ServerConfig(faults=faults)).__enter__()
            streams = ("trades", "book", "bars") if name != "lossy" else ()
            config = ExchangeConfig(venue=name, symbols=(SYM,), base_url=server.url, ws_url=server.ws_url,
                                    key_name="emu", keystore_home=str(keystore_home), namespace="t1",
                                    streams=streams, poll_s=0.3)
            sides[name] = Venueside(name, venue, server, ExchangeActor.remote(config))
        infos = call([s.actor.start.remote() for s in sides.values()])
        assert [i["venue"] for i in infos] == list(plan) and all(i["running"] for i in infos)
        yield sides
    finally:
        import ray

        stops = {name: side.actor.stop.remote() for name, side in sides.items()}  # the three stop at once
        for name, side in sides.items():
            try:
                call(stops[name], 30)
            finally:
                ray.kill(side.actor)
                side.server.__exit__(None, None, None)


def poll_until(actor, stream: str, pred, timeout: float = 30.0, after: int = 0) -> list:
    """Everything published on ``stream`` after ``after`` until ``pred(items)`` holds."""
    items: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        after = items[-1].seq if items else after
        items += call(actor.poll.remote(stream, after, 1.0))
        if pred(items):
            return items
    raise AssertionError(f"{stream}: condition not met in {timeout}s; got {len(items)} items: {items[-3:]}")


def test_market_data_arrives_with_increasing_seq_on_both_venues(venues: dict[str, Venueside]) -> None:
    last_price = {}
    for name in ("binance", "binanceus"):
        side = venues[name]
        time.sleep(0.3)  # the subscriptions are live
        advance(side, 6, steps=6)
        for kind in ("trades", "book", "bars"):
            stream = stream_name(kind, SYM)
            items = poll_until(side.actor, stream, lambda xs: sum(isinstance(x, MarketEvent) for x in xs) >= 3)
            assert [x.seq for x in items] == list(range(1, len(items) + 1))  # 1, 2, 3, ... no hole
            assert SeqChecker().check(items) == []
            assert all(x.venue == name and x.symbol == SYM and x.stream == stream for x in items)
            events = [x for x in items if isinstance(x, MarketEvent)]
            if kind == "trades":
                ids = [int(e.trade.trade_id) for e in events]
                assert ids == sorted(set(ids))
                last_price[name] = events[-1].trade.price
            elif kind == "book":
                assert all(e.book.bids[0][0] < e.book.asks[0][0] for e in events)
                assert len(events[-1].book.bids) == 10
            else:
                assert all(e.bar.timeframe == "1m" and e.bar.low <= e.bar.close <= e.bar.high for e in events)
    # the second venue replays the same tape 5 bps higher: a small dislocation
    assert last_price["binanceus"] > last_price["binance"]


def test_limit_market_cancel_and_fills_on_both_venues(venues: dict[str, Venueside]) -> None:
    for name, taker_bps in (("binance", 10), ("binanceus", 20)):
        actor = venues[name].actor
        rest = call(actor.place.remote(OrderIntent(name, SYM, "buy", "limit", 100, "rest-1", 0.001)))
        assert rest.status == "open" and rest.filled == 0 and rest.resolved_by == "response"
        assert [o.client_order_id for o in call(actor.open_orders.remote())] == [rest.client_order_id]
        canceled = call(actor.cancel.remote(rest.client_order_id, SYM))
        assert canceled.status == "canceled" and canceled.order_id == rest.order_id
        assert call(actor.open_orders.remote()) == ()
        n_fills = len(call(actor.fills.remote()))
        bought = call(actor.place.remote(OrderIntent(name, SYM, "buy", "market", 50, "mkt-1")))
        assert bought.status == "closed" and bought.filled == 50 and bought.average > 0
        assert bought.fee_currency == "XRP" and bought.fee_cost == pytest.approx(50 * taker_bps / 10_000)
        fills = call(actor.fills.remote())[n_fills:]
        assert fills and sum(f.amount for f in fills) == 50
        assert all(f.client_order_id == bought.client_order_id and f.order_id == bought.order_id for f in fills)
        assert sum(f.fee_cost for f in fills) == pytest.approx(bought.fee_cost)
        balances = {b.asset: b for b in call(actor.balance.remote())}
        assert balances["XRP"].total == pytest.approx(20000 + 50 - bought.fee_cost)
        assert balances["ETH"].total == pytest.approx(10 - sum(f.price * f.amount for f in fills))
        with pytest.raises(Exception, match="not configured"):
            call(actor.place.remote(OrderIntent(name, "BTC/USDT", "buy", "market", 1, "x")))


def test_retrying_an_intent_opens_one_order(venues: dict[str, Venueside]) -> None:
    side = venues["binance"]
    intent = OrderIntent("binance", SYM, "sell", "limit", 20, "retry-me", 0.003)
    first = call(side.actor.place.remote(intent))
    again = call(side.actor.place.remote(intent))
    assert first.status == again.status == "open"
    assert again.order_id == first.order_id and again.resolved_by == "query"  # the duplicate was refused
    with side.server.lock:
        at_venue = [o for o in side.venue.engine.orders("alice", SYM) if o.client_order_id == first.client_order_id]
    assert len(at_venue) == 1
    assert call(side.actor.cancel.remote(first.client_order_id, SYM)).status == "canceled"


def test_lost_responses_are_resolved_by_client_order_id(venues: dict[str, Venueside]) -> None:
    side = venues["lossy"]  # every POST /api/v3/order executes, then its connection is closed unanswered
    rest = call(side.actor.place.remote(OrderIntent("lossy", SYM, "buy", "limit", 100, "lost-1", 0.001)))
    assert rest.status == "open" and rest.resolved_by == "query" and rest.order_id is not None
    market = call(side.actor.place.remote(OrderIntent("lossy", SYM, "buy", "market", 30, "lost-2")))
    assert market.status == "closed" and market.filled == 30 and market.resolved_by == "query"
    info = call(side.actor.info.remote())
    assert info["unknown_orders"] == []
    with side.server.lock:
        truth = {o.client_order_id: (str(o.order_id), o.status) for o in side.venue.engine.orders("alice", SYM)}
    mine = {o.client_order_id: (o.order_id, o.status) for o in call(side.actor.orders.remote())}
    assert truth == {rest.client_order_id: (rest.order_id, "NEW"), market.client_order_id: (market.order_id, "FILLED")}
    assert set(mine) == set(truth) and mine[rest.client_order_id][1] == "open"
    assert mine[market.client_order_id][1] == "closed"
    fills = [f for f in call(side.actor.fills.remote()) if f.client_order_id == market.client_order_id]
    assert sum(f.amount for f in fills) == 30
    assert call(side.actor.cancel.remote(rest.client_order_id, SYM)).status == "canceled"


def test_dropped_websocket_is_reported_as_gap_then_resync(venues: dict[str, Venueside]) -> None:
    side = venues["binanceus"]
    wanted = [stream_name(k, SYM) for k in ("trades", "book")]
    deadline = time.monotonic() + 60  # a stream is listed from its first event (alone, or on a busy machine: later)
    while not all(s in (streams := call(side.actor.info.remote())["streams"]) for s in wanted):
        assert time.monotonic() < deadline, f"no first event on {wanted} in 60 s: {streams}"
        advance(side, 1)
        time.sleep(0.2)
    before = {k: streams[stream_name(k, SYM)] for k in ("trades", "book")}
    assert side.server.drop_streams() >= 1
    advance(side, 3)
    for kind in ("trades", "book"):
        stream = stream_name(kind, SYM)
        items: list = []
        deadline = time.monotonic() + 30
        while not any(isinstance(x, Resynced) for x in items) and time.monotonic() < deadline:
            items += call(side.actor.poll.remote(stream, before[kind] + len(items), 1.0))
        gaps = [x for x in items if isinstance(x, GapDetected)]
        resyncs = [x for x in items if isinstance(x, Resynced)]
        assert gaps and gaps[0].reason.startswith("stream error") and resyncs, items
        assert gaps[0].seq < resyncs[0].seq
        assert [x.seq for x in items] == list(range(before[kind] + 1, before[kind] + 1 + len(items)))
        if kind == "book":  # the resync publishes a REST snapshot before the Resynced marker
            snap = items[items.index(resyncs[0]) - 1]
            assert isinstance(snap, MarketEvent) and snap.recovered and snap.book.bids
    stream = stream_name("trades", SYM)
    resumed = call(side.actor.info.remote())["streams"][stream]
    advance(side, 3, steps=3)  # and the live stream carries on after the resync
    more = poll_until(side.actor, stream, lambda xs: any(isinstance(x, MarketEvent) for x in xs), after=resumed)
    assert more[0].seq == resumed + 1 and not more[0].recovered


def test_bars_skipped_by_the_stream_are_recovered_over_rest(venues: dict[str, Venueside]) -> None:
    side = venues["binance"]
    stream = stream_name("bars", SYM)
    before = call(side.actor.info.remote())["streams"][stream]
    with side.server.lock:
        start = side.venue.now_ms
    advance(side, 15)  # one jump: the kline stream only ever shows the newest bar, 15 minutes on
    items = poll_until(side.actor, stream, lambda xs: any(isinstance(x, Resynced) for x in xs), after=before)
    gap = next(x for x in items if isinstance(x, GapDetected))
    assert gap.reason.startswith("kline time jump")
    resync = next(x for x in items if isinstance(x, Resynced))
    assert gap.seq < resync.seq
    between = [x for x in items if gap.seq < x.seq < resync.seq]
    assert all(isinstance(x, MarketEvent) for x in between)
    published = [x.bar.timestamp_ms for x in between]
    assert resync.recovered == sum(x.recovered for x in between) > 0
    with side.server.lock:
        closed = side.venue.bars(SYM, "1m").timestamp.tolist()
    # after the resync the stream holds every bar the venue has in the jumped-over span, in order, once
    assert published == [t for t in closed if int(gap.last_good) < t <= published[-1]]
    assert published[-1] > start - 60_000


def test_the_canary_secret_never_leaves_the_actor(venues: dict[str, Venueside], keystore_home: Path,
                                                  cluster) -> None:
    """Runs last: by now the key signed dozens of requests on three venues (they verify its HMAC)."""
    from ray.util.state import list_actors, list_tasks, list_workers

    needle = CANARY_SECRET.encode()
    time.sleep(1.0)  # let the workers flush their logs
    root = Path(os.environ["RAYTRADER_CLUSTER__TEMP_DIR"])
    scanned = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            scanned += 1
            assert needle not in data, f"canary secret found in {path}"
    assert scanned > 10  # the session's logs were really there
    assert needle not in (keystore_home / "keys.json").read_bytes()  # encrypted at rest
    surfaces = [repr(s.actor) for s in venues.values()]
    surfaces += [str(call(s.actor.info.remote())) for s in venues.values()]
    api = cluster.ray.dashboard_url  # the test cluster's, not whichever Ray the machine runs
    # filtered at the GCS (source side): the cluster's other tests add thousands of ended tasks, and the state API
    # raises rather than truncate past its limit
    methods: set[str] = set()
    pids: set[int] = set()
    for side in venues.values():
        of_actor = [("actor_id", "=", side.actor._actor_id.hex())]
        actors = list_actors(address=api, filters=of_actor, detail=True, limit=10)
        tasks = list_tasks(address=api, filters=of_actor, detail=True, limit=10_000)
        pids |= {a.pid for a in actors}
        methods |= {t.func_or_class_name for t in tasks}
        surfaces += [str(actors), str(tasks)]
    assert {"ExchangeActor.__init__", "ExchangeActor.place", "ExchangeActor.poll"} <= methods, methods
    # the GCS's reply counts dead workers in its total, so the API calls the alive-only answer "truncated"
    workers = list_workers(address=api, filters=[("is_alive", "=", "True")], detail=True, limit=10_000,
                           raise_on_missing_output=False)
    assert pids and pids <= {w.pid for w in workers}  # every venue actor's worker process is among those read
    surfaces.append(str(workers))
    for text in surfaces:
        assert CANARY_SECRET not in text
    assert any("ExchangeActor" in t for t in surfaces)
