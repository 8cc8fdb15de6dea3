"""The RouterActor end to end: parent orders on two emulated venues through the real OMS, journal and ccxt.

Two Binance-dialect emulators run in this process (their replay clock moved by hand, then frozen, so the
books the router sees are the books the children take from); the second is dislocated by
:data:`OFFSET_BPS`. The trading actors start as a deployment starts them
(:func:`actors.deployment.start_trading_actors`: exchanges, risk, oms, portfolio, router).

* a routed parent fills better than the best single venue on the same books, by the amount
  :func:`actors.routing.best_single_venue` and :func:`actors.routing.route` predict from those books;
  alpha streams its book, beta streams none (a deployment's default): the router routes on alpha's
  streamed book and on a book beta's ExchangeActor fetched over REST, and says so; beta's fee is the one
  its ccxt market states (the config names alpha's only);
* a venue's free balance caps its share (beta's funds tied up: its child is what it can pay for, the journaled
  reason names it, no child is refused); a limit route's children are IOC at the venues; the parent, short by
  what beta could not pay for, is routed again on fresh books and balances and ends ``done`` naming the rest;
* a TWAP parent sends its children at their slice times; the router is killed after the first child and
  Ray's restart continues the parent from the journal, with no child sent twice;
* an iceberg never has more than ``display`` at the venue;
* every order the venues hold is journaled as a child naming its parent.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any, Iterator

import pytest

from actors.algos import child_client_id, twap_schedule
from actors.exchange_core import client_order_id
from actors.journal import EntryKind, Journal
from actors.messages import ParentIntent, stream_name
from actors.routing import ParentOrder, VenueBook, best_single_venue, route
from tests._trade import wait_for

pytestmark = pytest.mark.ray

SYM = "XRP/ETH"
ACCOUNT = "acct"
TAKER_BPS = 10.0
#: beta's prices sit this many bps above alpha's: its levels fall between alpha's (5 bps apart)
OFFSET_BPS = D("3")


def call(ref: Any, timeout: float = 60) -> Any:
    import ray

    return ray.get(ref, timeout=timeout)


class Stack:
    def __init__(self) -> None:
        self.venues: dict[str, Any] = {}
        self.servers: dict[str, Any] = {}
        self.handles: dict[str, Any] = {}
        self.config: Any = None

    def depth(self, name: str) -> tuple[list, list]:
        with self.servers[name].lock:
            bids, asks = self.venues[name].engine.depth(SYM, 10)
        return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]

    def venue_orders(self) -> dict[str, list[Any]]:
        out = {}
        for name, venue in self.venues.items():
            with self.servers[name].lock:
                out[name] = list(venue.engine.orders(ACCOUNT, SYM))
        return out

    def journal(self) -> list[Any]:
        from actors.trading import redis_url

        return list(Journal.from_url(redis_url(), self.config.stream).entries())

    @property
    def router(self) -> Any:
        return self.handles["router"]

    def wait_parent(self, parent_id: str, status: str = "done", timeout: float = 60) -> dict[str, Any]:
        import ray

        def settled() -> dict[str, Any] | None:
            try:
                router = ray.get_actor("router", namespace=self.config.ray_namespace)
                p = call(router.parent.remote(parent_id))
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.RayActorError):
                return None  # restarting
            return p if p and p["status"] == status and not p["open_children"] else None

        return wait_for(settled, timeout, f"parent {parent_id} {status}", every_s=0.2)


@pytest.fixture(scope="module")
def stack(ray_session: None) -> Iterator[Stack]:
    import ray

    from actors.deployment import start_trading_actors
    from actors.exchange import ExchangeConfig
    from actors.keystore import Credentials, KeyStore
    from actors.trading import TradingConfig
    from market.emulator import ApiKey, FeeSchedule, Instrument, MarketSpec, ReplayConfig, Venue, VenueConfig
    from market.emulator.server import EmulatorServer, ServerConfig
    from market.samples import load_sample

    tag = secrets.token_hex(3)
    api_key, secret = "k" + secrets.token_hex(6), secrets.token_hex(24)
    home = Path(tempfile.mkdtemp(prefix="rt-router-keys-"))
    KeyStore(home, env={}).add("k", "binance", Credentials(api_key, secret))
    inst = Instrument(SYM, tick_size=D("0.00000001"), step_size=D("1"), min_qty=D("1"), min_notional=D("0.00001"))
    bars = load_sample("XRP-ETH-1m")
    s = Stack()
    exchanges = []
    try:
        for name, offset in (("alpha", D(0)), ("beta", OFFSET_BPS)):
            venue = Venue([MarketSpec(inst, bars)], keys=[ApiKey(api_key, secret, ACCOUNT)],
                          config=VenueConfig(name=name, fees=FeeSchedule(D("10"), D(str(TAKER_BPS))),
                                             replay=ReplayConfig(price_offset_bps=offset)),
                          deposits={ACCOUNT: {"ETH": D("100"), "XRP": D("100000")}})
            venue.advance_to(venue.start_ms + 30 * 60_000)
            s.venues[name] = venue
            s.servers[name] = EmulatorServer(venue, ServerConfig()).__enter__()
            exchanges.append(ExchangeConfig(venue=name, symbols=(SYM,), base_url=s.servers[name].url,
                                            ws_url=s.servers[name].ws_url, key_name="k", keystore_home=str(home),
                                            namespace="r" + tag, streams=("book",) if name == "alpha" else (),
                                            poll_s=0.3))
        s.config = TradingConfig(stream=f"raytrader:journal:test-router-{tag}", venues=("alpha", "beta"),
                                 namespace="r" + tag, ray_namespace=f"router-{tag}",
                                 taker_bps=(("alpha", TAKER_BPS),),  # beta: the fee its market states
                                 book_max_age_s=600.0)  # alpha's streamed book is used while the replay is frozen
        start_trading_actors(s.config, exchanges, (), on_created=s.handles.__setitem__)

        def books_published() -> bool:  # move the replay until alpha's book stream carries the venue's book
            for name, server in s.servers.items():
                with server.lock:
                    s.venues[name].advance_to(s.venues[name].now_ms + 60_000)
            time.sleep(0.3)
            return call(s.handles["exchange:alpha"].info.remote())["streams"].get(stream_name("book", SYM), 0) > 0

        wait_for(books_published, 60, "alpha's book stream", every_s=0.1)
        yield s
    finally:
        for handle in s.handles.values():
            ray.kill(handle, no_restart=True)
        for server in s.servers.values():
            server.__exit__(None, None, None)
        shutil.rmtree(home, ignore_errors=True)


def _children(entries: list[Any], parent_id: str) -> list[Any]:
    return [e for e in entries if e.kind is EntryKind.INTENT and e.payload.parent_id == parent_id]


def _statuses(entries: list[Any], parent_id: str) -> list[Any]:
    return [e.payload for e in entries if e.kind is EntryKind.PARENT_STATUS and e.payload.parent_id == parent_id]


def _wait_books_settled(s: Stack) -> dict[str, tuple[list, list]]:
    """The venues' own books, once alpha's newest streamed book shows its own (replay frozen; beta streams none:
    the router has its ExchangeActor fetch the book over REST)."""
    def same() -> dict[str, tuple[list, list]] | None:
        out = {}
        for name in ("alpha",):
            ex = s.handles[f"exchange:{name}"]
            last = call(ex.info.remote())["streams"][stream_name("book", SYM)]
            book = call(ex.poll.remote(stream_name("book", SYM), last - 1, 0.0, 1))[-1].book
            bids, asks = s.depth(name)
            if list(book.asks) != asks or list(book.bids) != bids:
                return None
            out[name] = (bids, asks)
        return {**out, "beta": s.depth("beta")}

    return wait_for(same, 30, "published books equal the venues' books", every_s=0.2)


def test_a_routed_parent_fills_better_than_the_best_single_venue_by_the_predicted_amount(stack: Stack) -> None:
    books = _wait_books_settled(stack)
    alpha = stack.handles["exchange:alpha"]
    fetched = call(alpha.book.remote(SYM, 0.0))  # its streamed book is older than 0 s: one is fetched over REST
    assert fetched["source"] == "rest" and [list(fetched["book"].asks), list(fetched["book"].bids)] == \
        [books["alpha"][1], books["alpha"][0]]
    qty = 6000.0
    answer = call(stack.router.submit.remote(ParentIntent("route1", ("alpha", "beta"), SYM, "buy", qty, "route",
                                                          step=1.0)))
    assert answer["status"] == "accepted", answer
    routed_on = {v: [tuple(x) for x in b["asks"]] for v, b in answer["books"].items()}
    assert routed_on == {v: asks for v, (_, asks) in books.items()}  # it routed on the venues' real books
    sources = answer["book_sources"]  # alpha's from its stream; beta streams none: fetched over REST on request
    assert (sources["alpha"]["source"], sources["beta"]["source"]) == ("stream", "rest"), sources
    assert call(stack.handles["exchange:beta"].info.remote())["book_fetches"] >= 1
    assert "alpha: stream" in _statuses(stack.journal(), "route1")[0].reason
    # beta's fee: the config names none, so the taker fee its ccxt market states (Binance's 0.1 %) nets its book
    assert sources["beta"]["taker_bps"] == pytest.approx(TAKER_BPS) and sources["alpha"]["taker_bps"] == TAKER_BPS
    venue_books = [VenueBook(v, tuple(asks), TAKER_BPS, 1.0, 1.0) for v, (_, asks) in books.items()]
    plan = route(venue_books, ParentOrder("buy", qty))
    single = best_single_venue(venue_books, ParentOrder("buy", qty))
    assert {c.venue for c in plan.children} == {"alpha", "beta"} and plan.qty == qty == single.qty
    assert answer["plan"]["children"] == [{"venue": c.venue, "qty": c.qty, "avg_price": c.avg_price,
                                           "cost": c.cost} for c in plan.children]
    parent = stack.wait_parent("route1")
    assert parent["filled"] == qty
    entries = stack.journal()
    children = _children(entries, "route1")
    assert sorted((c.payload.venue, c.payload.amount) for c in children) == sorted(
        (c.venue, c.qty) for c in plan.children)
    fills = [e.payload for e in entries if e.kind is EntryKind.FILL]
    by_cid = {}
    for f in fills:
        by_cid.setdefault(f.client_order_id, []).append(f)
    paid = 0.0
    for c in children:
        own = by_cid[client_order_id(stack.config.namespace, c.payload.intent_id)]
        assert sum(f.amount for f in own) == c.payload.amount
        # Binance charges a buyer's fee in the base asset it received: valued at the fill's price
        paid += sum(f.price * f.amount + (f.fee_cost * f.price if f.fee_currency == "XRP" else f.fee_cost)
                    for f in own)
    plan_cost, single_cost = (sum(c.cost for c in p.children) for p in (plan, single))
    assert paid == pytest.approx(plan_cost, rel=1e-6)  # the fills are the plan, fees included
    saved_bps = (single_cost - paid) / single_cost * 1e4
    assert single_cost - paid > 0  # better than the best single venue ...
    assert saved_bps == pytest.approx((single_cost - plan_cost) / single_cost * 1e4, abs=0.01)  # ... by this much
    print(f"\nrouted {qty:g} XRP: paid {paid:.8f} ETH vs {single_cost:.8f} ETH on {single.children[0].venue} alone "
          f"({saved_bps:.2f} bps better); plan {[(c.venue, c.qty) for c in plan.children]}")


def test_a_venues_free_balance_caps_its_share_and_a_limit_routes_ioc_children_leave_the_rest_to_a_reroute(
        stack: Stack) -> None:
    books = _wait_books_settled(stack)
    limit = books["alpha"][1][2][0]  # alpha's third ask: beta's levels sit between alpha's, so both take part
    within = {v: sum(q for p, q in asks if p <= limit) for v, (_, asks) in books.items()}
    assert within["beta"] >= 2, books
    qty = within["alpha"] + within["beta"]  # every unit the books show within the limit
    fee = 1 + TAKER_BPS / 1e4
    cap = float(within["beta"] // 2)  # beta can pay for half of what it shows within the limit, fee included ...
    free = round((cap + 0.5) * limit * fee, 8)  # ... and half a lot more (the cap is in whole lots of 1 XRP)
    beta = stack.venues["beta"].engine.ledger
    with stack.servers["beta"].lock:  # beta's other ETH is tied up (as by orders elsewhere)
        tied = beta.free(ACCOUNT, "ETH") - D(repr(free))
        beta.lock(ACCOUNT, "ETH", tied)
    try:
        answer = call(stack.router.submit.remote(ParentIntent("route2", ("alpha", "beta"), SYM, "buy", qty, "route",
                                                              limit=limit, step=1.0)))
        assert answer["status"] == "accepted", answer
        parent = stack.wait_parent("route2")
    finally:
        with stack.servers["beta"].lock:
            beta.unlock(ACCOUNT, "ETH", tied)
    plan = {c["venue"]: c["qty"] for c in answer["plan"]["children"]}
    assert answer["plan"]["capped"] == ["beta"] and int(answer["caps"]["beta"]) == cap
    assert plan == {"alpha": within["alpha"], "beta": cap}, (plan, within)  # beta's share is what it can pay for
    entries = stack.journal()
    statuses = _statuses(entries, "route2")
    head, _, named = statuses[0].reason.rpartition("; capped by free balance: beta ")  # the journaled reason
    assert head.startswith(f"routed {within['alpha'] + cap:g} of {qty:g} on ") and int(float(named)) == cap, \
        statuses[0].reason
    children = _children(entries, "route2")
    assert all((c.payload.type, c.payload.price, c.payload.time_in_force) == ("limit", limit, "IOC") for c in children)
    cid = {c.payload.intent_id: client_order_id(stack.config.namespace, c.payload.intent_id) for c in children}
    states = {e.payload.client_order_id: e.payload.to_state for e in entries if e.kind is EntryKind.STATE_CHANGE}
    assert not [c for c in cid.values() if states[c] in ("REJECTED", "DENIED")]  # no child refused for funds
    at_venue = {o.client_order_id: o for orders in stack.venue_orders().values() for o in orders}
    assert all(at_venue[c].time_in_force == "IOC" and not at_venue[c].is_open for c in cid.values())
    fills = [e.payload for e in entries if e.kind is EntryKind.FILL and e.payload.client_order_id in cid.values()]
    filled = sum(f.amount for f in fills)
    first_beta = cid[child_client_id("route2", list(plan).index("beta"))]
    assert sum(f.amount for f in fills if f.client_order_id == first_beta) == cap  # the planned child filled in full
    assert parent["filled"] == pytest.approx(filled) and filled >= within["alpha"] + cap
    # beta never spent more than it had free (its child paid less than the limit where the book was cheaper: a
    # re-route may spend what that saved, on fresh books and balances)
    assert sum(f.amount * f.price for f in fills if f.venue == "beta") <= free
    # short by what beta could not pay for: the children settled, the rest was routed again on fresh books and
    # balances, and the parent ends done naming what is left
    end = statuses[-1]
    assert end.status == "done" and statuses[1].reason.startswith(("re-route 1: ", f"unfilled {qty - filled:g}")), \
        statuses
    assert end.reason.startswith(f"unfilled {qty - filled:g} of {qty:g}"), end.reason
    assert all("capped by free balance: beta" in x.reason for x in statuses[1:] if "after" not in x.reason), statuses
    print(f"\nroute2: limit {limit}, plan {plan} (beta capped by {free:.8f} ETH free); "
          + "; ".join(x.reason for x in statuses[1:]) + f"; filled {filled:g} of {qty:g}")


def test_a_twap_parent_survives_a_router_restart_and_sends_each_child_once_at_its_slice_time(stack: Stack) -> None:
    import ray

    pid, slices, duration_s = "twap1", 3, 4.5
    answer = call(stack.router.submit.remote(ParentIntent(pid, ("alpha",), SYM, "sell", 30.0, "twap",
                                                          slices=slices, duration_s=duration_s, step=1.0)))
    assert answer["status"] == "accepted", answer
    start = answer["parent"]["start_ms"]
    wait_for(lambda: _children(stack.journal(), pid), 30, "the first TWAP child", every_s=0.1)
    before = call(stack.router.ping.remote())
    ray.kill(stack.router, no_restart=False)  # Ray restarts it; it rebuilds the parent from the journal
    parent = stack.wait_parent(pid)
    router = ray.get_actor("router", namespace=stack.config.ray_namespace)
    assert call(router.ping.remote()) != before  # a new process continued the parent
    assert parent["filled"] == 30.0
    entries = stack.journal()
    children = _children(entries, pid)
    schedule = twap_schedule(30.0, start, start + int(duration_s * 1000), slices, 1.0)
    assert [c.payload.intent_id for c in children] == [child_client_id(pid, i) for i in range(slices)]
    assert [c.payload.amount for c in children] == [s.qty for s in schedule]
    for child, s in zip(children, schedule):
        assert child.ts_ms >= s.at_ms  # none before its slice's time
    ids = [o.client_order_id for o in stack.venue_orders()["alpha"]]
    mine = [client_order_id(stack.config.namespace, c.payload.intent_id) for c in children]
    assert all(ids.count(cid) == 1 for cid in mine)  # each child at the venue exactly once


def test_an_iceberg_never_shows_more_than_display_and_every_venue_order_is_a_journaled_child(stack: Stack) -> None:
    books = _wait_books_settled(stack)
    display, total = 10.0, 25.0
    limit = round(books["beta"][1][0][0] * 1.001, 8)  # marketable: each clip takes the touch and fills
    answer = call(stack.router.submit.remote(ParentIntent("ice1", ("beta",), SYM, "buy", total, "iceberg",
                                                          limit=limit, display=display, step=1.0)))
    assert answer["status"] == "accepted", answer
    parent = stack.wait_parent("ice1")
    assert parent["filled"] == total
    entries = stack.journal()
    clips = _children(entries, "ice1")
    assert [c.payload.amount for c in clips] == [10.0, 10.0, 5.0]
    assert all(c.payload.type == "limit" and c.payload.price == limit for c in clips)
    # one clip at a time: each clip's intent is journaled after the previous clip's FILLED state
    filled_at = {e.payload.client_order_id: e.seq for e in entries
                 if e.kind is EntryKind.STATE_CHANGE and e.payload.to_state == "FILLED"}
    cids = [client_order_id(stack.config.namespace, c.payload.intent_id) for c in clips]
    for prev, clip in zip(cids, clips[1:]):
        assert filled_at[prev] < clip.seq
    # every order at either venue is a journaled child of a parent, and none at the venue exceeds its intent
    journaled = {client_order_id(stack.config.namespace, e.payload.intent_id): e.payload
                 for e in entries if e.kind is EntryKind.INTENT}
    for name, orders in stack.venue_orders().items():
        for o in orders:
            intent = journaled[o.client_order_id]
            assert intent.parent_id in ("route1", "route2", "twap1", "ice1") and intent.venue == name
            if intent.parent_id == "ice1":
                assert float(o.orig_qty) <= display
