"""Parent orders, pure: journal entries -> parent state -> the children to send or cancel (actors.parent_orders).

The journal is simulated entry by entry exactly as the OMS writes it for each child (intent, state changes,
fills); expected quantities come from the schedule cores (actors.algos) and plain arithmetic, not from the
code under test.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.algos import child_client_id, twap_schedule
from actors.exchange_core import client_order_id
from actors.journal import EntryKind, JournalEntry, decode_body, entry_body
from actors.messages import (
    BookSnapshot,
    Fill,
    OrderIntent,
    OrderStateChange,
    OrderUpdate,
    ParentIntent,
    ParentIntentError,
    ParentStatusChange,
)
from actors.parent_orders import (
    ChildSpec,
    Decision,
    ParentState,
    arrival_price,
    balance_caps,
    child_intent,
    decide,
    fold,
    parents_from_entries,
    reroute_plan,
    route_plan,
    venue_book,
)
from actors.routing import ParentOrder, VenueBook, best_single_venue, route

NS = "t1"
SYM = "XRP/ETH"


class Tape:
    """A journal being written: entries in order, and the folded parents after each (as the router folds)."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.parents: dict[str, ParentState] = {}
        self.children_of: dict[str, tuple[str, int]] = {}
        self.trades = 0

    def add(self, kind: EntryKind, payload: object, ts: int = 0) -> None:
        seq = len(self.entries) + 1
        e = JournalEntry(seq, kind, ts, payload, "", "", f"{seq}-0")
        self.entries.append(e)
        fold(self.parents, e, NS, self.children_of)

    def parent(self, intent: ParentIntent, ts: int = 0) -> None:
        self.add(EntryKind.PARENT, intent, ts)

    def send(self, intent: OrderIntent, ts: int = 0) -> str:
        """What the OMS journals for a child it accepted: intent, SUBMITTED, ACCEPTED."""
        cid = client_order_id(NS, intent.intent_id)
        self.add(EntryKind.INTENT, intent, ts)
        self.state(intent, cid, "NEW", "SUBMITTED", 0.0)
        self.state(intent, cid, "SUBMITTED", "ACCEPTED", 0.0)
        return cid

    def state(self, intent: OrderIntent, cid: str, frm: str, to: str, filled: float) -> None:
        self.add(EntryKind.STATE_CHANGE, OrderStateChange(cid, intent.venue, SYM, frm, to, "X", filled))

    def fill(self, intent: OrderIntent, cid: str, qty: float, price: float, before: float) -> None:
        self.trades += 1
        self.add(EntryKind.FILL, Fill(intent.venue, SYM, str(self.trades), "o" + cid, cid, intent.side, price, qty,
                                      0.0, None, None, 0))
        done = before + qty >= intent.amount - 1e-12
        self.state(intent, cid, "ACCEPTED", "FILLED" if done else "PARTIALLY_FILLED", before + qty)


def twap(**kw: object) -> ParentIntent:
    args = dict(parent_id="tw1", venues=("a",), symbol=SYM, side="buy", qty=10.0, algo="twap", slices=4,
                duration_s=60.0, step=1.0, arrival_price=1.0, start_ms=1_000)
    args.update(kw)
    return ParentIntent(**args)  # type: ignore[arg-type]


def test_a_twap_parent_sends_its_schedule_one_child_per_slice_at_the_slice_time() -> None:
    p = twap()
    schedule = twap_schedule(10.0, 1_000, 61_000, 4, 1.0)
    tape = Tape()
    tape.parent(p)
    sent = []
    for now in range(1_000, 70_000, 500):
        d = decide(tape.parents["tw1"], now)
        assert not d.cancel
        for spec in d.send:
            intent = child_intent(p, spec)
            sent.append((now, spec.index, intent.amount, intent.intent_id, intent.parent_id, intent.type))
            cid = tape.send(intent, now)
            tape.fill(intent, cid, intent.amount, 1.0, 0.0)  # a market child fills at once
        if d.status is not None:
            tape.add(EntryKind.PARENT_STATUS, d.status, now)
    assert [s[1] for s in sent] == [c.index for c in schedule]
    assert [s[0] for s in sent] == [c.at_ms for c in schedule]  # each at its slice's time (500 ms clock)
    assert [s[2] for s in sent] == [c.qty for c in schedule] and sum(s[2] for s in sent) == 10.0
    assert [s[3] for s in sent] == [child_client_id("tw1", i) for i in range(4)]
    assert {s[4] for s in sent} == {"tw1"} and {s[5] for s in sent} == {"market"}
    ps = tape.parents["tw1"]
    assert ps.status == "done" and ps.filled == 10.0 and ps.avg_price == 1.0


def test_twap_cancel_replace_moves_a_resting_childs_remainder_into_the_next_slice() -> None:
    p = twap(limit=1.5)
    schedule = twap_schedule(10.0, 1_000, 61_000, 4, 1.0)
    tape = Tape()
    tape.parent(p)
    (spec,) = decide(tape.parents["tw1"], 1_000).send
    first = child_intent(p, spec)
    assert first.type == "limit" and first.price == 1.5
    cid = tape.send(first)
    tape.fill(first, cid, 1.0, 1.4, 0.0)  # 1 of its 3 filled; the rest rests
    assert decide(tape.parents["tw1"], 5_000).send == ()  # not the next slice yet
    d = decide(tape.parents["tw1"], schedule[1].at_ms)
    assert d.send == () and d.cancel == (cid,)  # cancel first ...
    tape.state(first, cid, "PARTIALLY_FILLED", "PENDING_CANCEL", 1.0)
    assert decide(tape.parents["tw1"], schedule[1].at_ms) == decide(tape.parents["tw1"], schedule[1].at_ms)
    assert decide(tape.parents["tw1"], schedule[1].at_ms).cancel == ()  # asked already
    tape.state(first, cid, "PENDING_CANCEL", "CANCELED", 1.0)
    (nxt,) = decide(tape.parents["tw1"], schedule[1].at_ms).send  # ... then replace with the remainder
    assert nxt.index == 1 and nxt.qty == schedule[0].qty + schedule[1].qty - 1.0


def iceberg(**kw: object) -> ParentIntent:
    args = dict(parent_id="ice", venues=("a",), symbol=SYM, side="sell", qty=10.0, algo="iceberg", display=3.0,
                limit=2.0, step=1.0)
    args.update(kw)
    return ParentIntent(**args)  # type: ignore[arg-type]


def test_an_iceberg_shows_at_most_display_one_clip_at_a_time_until_the_total_is_filled() -> None:
    p = iceberg()
    tape = Tape()
    tape.parent(p)
    clips = []
    for _ in range(20):
        ps = tape.parents["ice"]
        d = decide(ps, 0)
        if d.status is not None:
            tape.add(EntryKind.PARENT_STATUS, d.status)
            break
        (spec,) = d.send
        assert not ps.open_children  # never a second clip beside a resting one
        clip = child_intent(p, spec)
        assert clip.type == "limit" and clip.price == 2.0 and clip.amount <= 3.0
        clips.append(clip.amount)
        cid = tape.send(clip)
        tape.fill(clip, cid, 1.0, 2.0, 0.0)  # a partial fill: the clip still rests, nothing new is shown
        assert decide(tape.parents["ice"], 0).send == ()
        if clip.amount > 1:
            tape.fill(clip, cid, clip.amount - 1.0, 2.1, 1.0)
    assert clips == [3.0, 3.0, 3.0, 1.0]
    ps = tape.parents["ice"]
    assert ps.status == "done" and ps.filled == 10.0


def test_an_iceberg_clip_the_risk_check_denied_cancels_the_parent_instead_of_repeating_it() -> None:
    p = iceberg()
    tape = Tape()
    tape.parent(p)
    (spec,) = decide(tape.parents["ice"], 0).send
    clip = child_intent(p, spec)
    cid = client_order_id(NS, clip.intent_id)
    tape.add(EntryKind.INTENT, clip)
    tape.state(clip, cid, "NEW", "DENIED", 0.0)
    d = decide(tape.parents["ice"], 0)
    assert d.send == () and d.status is not None and d.status.status == "cancelled" and "denied" in d.status.reason


def routed() -> ParentIntent:
    return ParentIntent("r1", ("a", "b"), SYM, "buy", 5.0, "route", step=1.0, arrival_price=1.0)


def test_a_route_waits_for_its_plan_then_a_restart_sends_only_the_children_not_yet_sent() -> None:
    p = routed()
    tape = Tape()
    tape.parent(p)
    assert decide(tape.parents["r1"], 0).needs_plan
    tape.add(EntryKind.PARENT_STATUS, ParentStatusChange("r1", "working", plan=(("a", 3.0), ("b", 2.0))))
    first = decide(tape.parents["r1"], 0).send
    assert [(s.index, s.venue, s.qty, s.type) for s in first] == [(0, "a", 3.0, "market"), (1, "b", 2.0, "market")]
    tape.send(child_intent(p, first[0]))  # the router died after the first child
    rebuilt = parents_from_entries(tape.entries, NS)  # a restarted router
    assert rebuilt == tape.parents
    again = decide(rebuilt["r1"], 0).send
    assert [(s.index, s.venue, s.qty) for s in again] == [(1, "b", 2.0)]
    second = child_intent(p, again[0])
    cid0 = client_order_id(NS, child_client_id("r1", 0))
    tape.fill(child_intent(p, first[0]), cid0, 3.0, 1.0, 0.0)
    assert decide(tape.parents["r1"], 0).send == (again[0],)  # not journaled yet: still to send
    cid1 = tape.send(second)
    assert decide(tape.parents["r1"], 0).status is None  # child 1 still open
    tape.fill(second, cid1, 2.0, 1.1, 0.0)
    d = decide(tape.parents["r1"], 0)
    assert d.status is not None and d.status.status == "done"
    assert d.status.filled == 5.0 and d.status.avg_price == pytest.approx((3 * 1.0 + 2 * 1.1) / 5)


def test_a_cancelled_parent_cancels_its_open_children_once_and_sends_nothing() -> None:
    p = routed()
    tape = Tape()
    tape.parent(p)
    tape.add(EntryKind.PARENT_STATUS, ParentStatusChange("r1", "working", plan=(("a", 3.0), ("b", 2.0))))
    child = child_intent(p, decide(tape.parents["r1"], 0).send[0])
    cid = tape.send(child)
    tape.add(EntryKind.PARENT_STATUS, ParentStatusChange("r1", "cancelled", reason="user"))
    d = decide(tape.parents["r1"], 0)
    assert d.send == () and d.cancel == (cid,)  # child 1 of the plan is never sent
    tape.state(child, cid, "ACCEPTED", "PENDING_CANCEL", 0.0)
    assert decide(tape.parents["r1"], 0).cancel == ()
    tape.state(child, cid, "PENDING_CANCEL", "CANCELED", 0.0)
    ps = tape.parents["r1"]
    assert decide(ps, 0) == decide(ps, 10**12) and not decide(ps, 0).send and not ps.open_children
    assert ps.status == "cancelled" and ps.reason == "user"


def test_the_journal_round_trips_parents_statuses_and_child_intents() -> None:
    p = routed()
    change = ParentStatusChange("r1", "working", 0.0, None, "routed", (("a", 3.0), ("b", 2.0)))
    child = OrderIntent("a", SYM, "buy", "market", 3.0, child_client_id("r1", 0), parent_id="r1")
    for kind, payload in ((EntryKind.PARENT, p), (EntryKind.PARENT_STATUS, change), (EntryKind.INTENT, child)):
        _, k, _, back = decode_body(entry_body(1, kind, 5, payload))
        assert k is kind and back == payload
    old = entry_body(1, EntryKind.INTENT, 5, OrderIntent("a", SYM, "buy", "market", 3.0, "x")).replace(
        ',"parent_id":null', "").replace('"v":3', '"v":2')  # a schema-2 intent: no parent_id
    assert decode_body(old)[3].parent_id is None


@pytest.mark.parametrize("kw, field", [
    (dict(algo="twap", slices=0, duration_s=10.0), "slices"),
    (dict(algo="twap", slices=3, duration_s=0.0), "duration_s"),
    (dict(algo="twap", slices=3, duration_s=5.0, venues=("a", "b")), "venues"),
    (dict(algo="iceberg", display=1.0), "limit"),
    (dict(algo="iceberg", display=0.5, limit=1.0), "display"),
    (dict(algo="route", participation=1.5), "participation"),
    (dict(algo="vwap"), "algo"),
    (dict(qty=0.5), "qty"),
    (dict(parent_id="has space"), "parent_id"),
    (dict(algo="route", limit=1.0, time_in_force="GTT"), "time_in_force"),
    (dict(algo="route", time_in_force="IOC"), "time_in_force"),  # market children: immediate anyway
    (dict(algo="iceberg", display=1.0, limit=1.0, time_in_force="IOC"), "time_in_force"),  # a clip rests
])
def test_a_bad_parent_field_is_named(kw: dict, field: str) -> None:
    args = dict(parent_id="p1", venues=("a",), symbol=SYM, side="buy", qty=5.0, step=1.0)
    args.update(kw)
    with pytest.raises(ParentIntentError, match=f"ParentIntent.{field}"):
        ParentIntent(**args)  # type: ignore[arg-type]


def test_books_become_routing_inputs_and_the_arrival_is_the_best_touch_mid() -> None:
    a = BookSnapshot(((0.99, 5.0), (0.98, 5.0)), ((1.01, 2.0), (1.02, 8.0)), 1, 0)
    b = BookSnapshot(((1.00, 1.0),), ((1.03, 9.0),), 1, 0)
    assert arrival_price([a, b]) == pytest.approx((1.00 + 1.01) / 2)
    assert arrival_price([BookSnapshot((), ((1.03, 9.0),), 1, 0)]) == 1.03
    assert arrival_price([]) is None
    books = [venue_book("a", "buy", a, 10.0, 1.0), venue_book("b", "buy", b, 5.0, 1.0)]
    assert books[0].levels == a.asks and venue_book("a", "sell", a, 10.0, 1.0).levels == a.bids
    p = ParentIntent("r2", ("a", "b"), SYM, "buy", 6.0, "route", step=1.0)
    split, single = route_plan(p, books)
    assert split == route(books, ParentOrder("buy", 6.0)) and single == best_single_venue(books, ParentOrder("buy", 6.0))


def _ack(tape: Tape, intent: OrderIntent, cid: str, status: str, filled: float) -> None:
    """The venue's answer about a child as the OMS journals it (ACK, or REJECT for a refusal)."""
    kind = EntryKind.REJECT if status == "rejected" else EntryKind.ACK
    tape.add(kind, OrderUpdate(intent.venue, SYM, cid, "o" + cid, status, intent.side, intent.type,  # type: ignore[arg-type]
                               intent.amount, filled, intent.amount - filled, None, None, 0.0, None, 0))


def test_a_short_route_is_rerouted_over_the_venues_still_able_as_new_children_then_ends_done_naming_the_rest() -> None:
    p = ParentIntent("r1", ("a", "b"), SYM, "buy", 10.0, "route", step=1.0, arrival_price=1.0)
    tape = Tape()
    tape.parent(p)
    tape.add(EntryKind.PARENT_STATUS, ParentStatusChange("r1", "working", plan=(("a", 6.0), ("b", 4.0))))
    c0, c1 = (child_intent(p, s) for s in decide(tape.parents["r1"], 0).send)
    cid0, cid1 = tape.send(c0), client_order_id(NS, c1.intent_id)
    tape.add(EntryKind.INTENT, c1)
    tape.state(c1, cid1, "NEW", "SUBMITTED", 0.0)
    _ack(tape, c1, cid1, "rejected", 0.0)  # b refused its child (e.g. insufficient balance)
    tape.state(c1, cid1, "SUBMITTED", "REJECTED", 0.0)
    tape.fill(c0, cid0, 4.0, 1.0, 0.0)  # a filled 4 of 6, then the rest expired (a market order out of book)
    _ack(tape, c0, cid0, "canceled", 4.0)
    tape.state(c0, cid0, "PARTIALLY_FILLED", "EXPIRED", 4.0)
    ps = tape.parents["r1"]
    assert ps.refused_venues == ("b",) and ps.routes == 1
    d = decide(ps, 0)
    assert d.reroute == 10.0 - 4.0 and d.send == () and d.status is None
    # fresh books: b is cheaper, but it refused a child of this parent; a shows 3 within reach
    books = [VenueBook("a", ((1.0, 3.0),), 10.0, 1.0), VenueBook("b", ((0.9, 100.0),), 10.0, 1.0)]
    change = reroute_plan(ps, books)
    assert change.status == "working" and change.plan == (("a", 6.0), ("b", 4.0), ("a", 3.0))
    assert "re-route 1" in change.reason and "unfilled 6" in change.reason
    tape.add(EntryKind.PARENT_STATUS, change)
    fold(tape.parents, tape.entries[-1], NS, tape.children_of)  # the router folds what it appends, then reads it back
    ps = tape.parents["r1"]
    assert ps.routes == 2 and ps.to_json()["reroutes"] == 1
    send = decide(ps, 0).send
    assert [(s.index, s.venue, s.qty) for s in send] == [(2, "a", 3.0)]
    assert child_intent(p, send[0]).intent_id == child_client_id("r1", 2) == "r1-c2"
    assert parents_from_entries(tape.entries, NS) == tape.parents  # a restart rebuilds the same re-route ...
    assert decide(parents_from_entries(tape.entries, NS)["r1"], 0).send == send  # ... and sends only the new child
    c2 = child_intent(p, send[0])
    cid2 = tape.send(c2)
    assert decide(tape.parents["r1"], 0) == Decision()  # child 2 open: wait, plan nothing
    whole = dict(tape.parents)
    whole["r1"] = replace(whole["r1"], intent=replace(p, qty=9.0),  # a 9-unit parent: a's 6 + the re-routed 3 fill it
                          children={**whole["r1"].children, 0: replace(whole["r1"].children[0], venue_filled=6.0),
                                    2: replace(whole["r1"].children[2], closed=True, venue_filled=3.0)})
    ended = decide(whole["r1"], 0).status  # nothing short: done, naming the re-route
    assert ended is not None and (ended.status, ended.reason) == ("done", "every child settled after 1 re-route(s)")
    tape.fill(c2, cid2, 3.0, 1.0, 0.0)
    ps = tape.parents["r1"]
    assert ps.unfilled == 10.0 - 4.0 - 3.0
    exhausted = decide(ps, 0, max_reroutes=1)
    assert exhausted.status is not None and exhausted.status.status == "done"
    assert exhausted.status.reason == "unfilled 3 of 10 after 1 re-route(s)" and exhausted.status.filled == 7.0
    assert decide(ps, 0).reroute == 3.0  # the default allows a second re-route: nothing left to take anywhere
    end = reroute_plan(ps, [VenueBook("a", (), 10.0, 1.0)])
    assert end.status == "done" and end.plan == ()
    assert end.reason == "unfilled 3 of 10: refused by b; no visible liquidity within the limit"
    tape.add(EntryKind.PARENT_STATUS, end)
    assert decide(tape.parents["r1"], 0) == Decision() and tape.parents["r1"].status == "done"


def test_a_reroute_counts_what_the_venue_says_filled_before_the_fills_are_journaled() -> None:
    p = ParentIntent("r3", ("a", "b"), SYM, "sell", 10.0, "route", step=1.0, arrival_price=1.0)
    tape = Tape()
    tape.parent(p)
    tape.add(EntryKind.PARENT_STATUS, ParentStatusChange("r3", "working", plan=(("a", 10.0),)))
    c0 = child_intent(p, decide(tape.parents["r3"], 0).send[0])
    cid0 = tape.send(c0)
    _ack(tape, c0, cid0, "canceled", 7.0)  # expired with 7 filled; the fill sync has journaled 2 of them so far
    tape.fill(c0, cid0, 2.0, 1.0, 0.0)
    tape.state(c0, cid0, "PARTIALLY_FILLED", "EXPIRED", 2.0)
    assert decide(tape.parents["r3"], 0).reroute == 3.0  # not 8: re-routing those 5 would overfill the parent
    tape.fill(c0, cid0, 5.0, 1.0, 2.0)  # the late fills reopen the OMS state; the venue closed it: still settled
    ps = tape.parents["r3"]
    assert ps.filled == 7.0 and not ps.open_children
    # no book from b (unreachable), a shows nothing on the bid within the limit: done, naming both
    end = reroute_plan(ps, [VenueBook("a", (), 10.0, 1.0)])
    assert end.status == "done" and end.reason == "unfilled 3 of 10: no book from b; no visible liquidity within the limit"


def test_a_limit_routes_children_are_ioc_and_what_the_venue_expired_is_rerouted_within_the_free_balances() -> None:
    p = ParentIntent("r4", ("a", "b"), SYM, "buy", 10.0, "route", limit=1.0, step=1.0, arrival_price=1.0)
    tape = Tape()
    tape.parent(p)
    tape.add(EntryKind.PARENT_STATUS, ParentStatusChange("r4", "working", plan=(("a", 6.0), ("b", 4.0))))
    c0, c1 = (child_intent(p, s) for s in decide(tape.parents["r4"], 0).send)
    assert [(c.type, c.price, c.time_in_force) for c in (c0, c1)] == [("limit", 1.0, "IOC")] * 2
    assert decode_body(entry_body(1, EntryKind.INTENT, 5, c0))[3] == c0  # journaled with its time in force
    cid0, cid1 = tape.send(c0), tape.send(c1)
    tape.fill(c0, cid0, 6.0, 1.0, 0.0)
    tape.fill(c1, cid1, 1.0, 1.0, 0.0)  # b's book moved past the limit: 1 filled, the venue expired the rest
    _ack(tape, c1, cid1, "canceled", 1.0)  # (ccxt reads Binance EXPIRED as canceled)
    tape.state(c1, cid1, "PARTIALLY_FILLED", "CANCELED", 1.0)
    ps = tape.parents["r4"]
    assert ps.refused_venues == () and decide(ps, 0).reroute == 3.0  # expired is not refused: b may trade again
    books = [VenueBook("a", ((1.0, 1.0),), 10.0, 1.0), VenueBook("b", ((0.99, 50.0),), 10.0, 1.0)]
    # a has 100 ETH free, b enough for 2 XRP at the 1.0 limit plus its 10 bps fee
    caps = balance_caps(p, books, {"a": {"ETH": 100.0}, "b": {"ETH": 2 * 1.0 * 1.001, "XRP": 9e9}})
    assert caps == {"a": pytest.approx(100.0 / 1.001), "b": pytest.approx(2.0)}
    change = reroute_plan(ps, books, caps)
    assert change.status == "working" and change.plan[2:] == (("a", 1.0), ("b", 2.0))
    assert change.reason == "re-route 1: 3 of the unfilled 3 to a 1, b 2; capped by free balance: b 2"
    sell = replace(p, side="sell")
    assert balance_caps(sell, books, {"a": {"XRP": 7.0}, "b": {}}) == {"a": 7.0, "b": 0.0}  # base; none held
    assert balance_caps(p, books, {"a": {"ETH": 1.0}}).keys() == {"a"}  # b's balance unknown: no cap


def test_a_childs_time_in_force_is_the_parents_else_the_algorithms_own() -> None:
    spec = ChildSpec(0, "a", "limit", 1.0, 1.0)
    base = dict(parent_id="p1", venues=("a",), symbol=SYM, side="buy", qty=5.0, step=1.0, limit=1.0)
    assert child_intent(ParentIntent(**base), spec).time_in_force == "GTC"  # type: ignore[arg-type]
    assert child_intent(ParentIntent(**{**base, "time_in_force": "FOK"}), spec).time_in_force == "FOK"  # type: ignore[arg-type]
    twap = ParentIntent(**{**base, "algo": "twap", "slices": 2, "duration_s": 1.0})  # type: ignore[arg-type]
    assert child_intent(twap, spec).time_in_force == "GTC"  # a slice rests until the next one replaces it
    route = ParentIntent(**{**base, "algo": "route", "venues": ("a", "b"), "time_in_force": "GTC"})  # type: ignore[arg-type]
    assert child_intent(route, spec).time_in_force == "GTC"  # asked to rest: no re-route until cancelled
    market = ParentIntent(**{**base, "algo": "route", "venues": ("a", "b"), "limit": None})  # type: ignore[arg-type]
    child = child_intent(market, ChildSpec(0, "a", "market", 1.0, None))
    assert (child.type, child.time_in_force) == ("market", "GTC")
