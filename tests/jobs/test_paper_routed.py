"""A paper session whose strategy trades through the router (``raytrader paper --execution route``): one runner over
a Binance-dialect and a Coinbase-dialect venue, each order a parent split by the venues' books net of fees, on the
shared test cluster (real Ray actors, the cluster's Redis journal, real ccxt against two emulators). Two shorter
sessions run TWAP (coinbase) and iceberg (binance) parents the same way.

Why both venues get children: the deposits are :data:`CASH` ETH (and as much XRP) per venue and a target of 1.0 holds
a quarter of the summed equity (about 40 ETH: ~28,000 XRP at 0.0014), deeper than binance's best levels (2,000 XRP
growing 1.5x a level, 5 bps apart); coinbase's touch (5 bps dearer, 20 bps fee against binance's 10) is cheaper net
than binance's fourth ask level and than binance's second bid level."""

from __future__ import annotations

import functools
import math
from contextlib import ExitStack
from typing import Any, Iterator

import pytest

from tests._trade import wait_for

pytestmark = pytest.mark.usefixtures("ray_session")

VENUES = ("binance", "coinbase")
CASH = 40.0
PARENTS = 3
SPEED = 600.0

_wait = functools.partial(wait_for, every_s=0.3)


#: fixture name -> the ExitStack of its live session (see :func:`_end_sessions_no_later_test_needs`)
_LIVE: dict[str, ExitStack] = {}


@pytest.fixture(autouse=True)
def _end_sessions_no_later_test_needs(request: pytest.FixtureRequest) -> Iterator[None]:
    """pytest keeps a module-scoped fixture until the module's last test: a finished session would go on replaying
    (its emulators, the ExchangeActors' feeds, the OMS's sync) while the next one starts and trades. Each session is
    closed instead right after the last selected test that uses it (closing it again at the module's end is a no-op)."""
    yield
    items = request.session.items
    later = items[items.index(request.node) + 1:]
    for name in [n for n in _LIVE if not any(n in getattr(i, "fixturenames", ()) for i in later)]:
        _LIVE.pop(name).close()


def _live(name: str, stack: ExitStack, request: Any) -> Any:
    """Start ``request``'s session in ``stack``, closed by :func:`_end_sessions_no_later_test_needs` once no later
    test needs the fixture ``name``."""
    from jobs.paper_trade import PaperSession

    session = stack.enter_context(PaperSession(request))
    _LIVE[name] = stack
    stack.callback(_LIVE.pop, name, None)
    return session


def _parents(session: Any) -> list[dict[str, Any]]:
    import ray

    return ray.get(session.actor("router").parents_json.remote(), timeout=30)


@pytest.fixture(scope="module")
def routed() -> Iterator[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """The session until :data:`PARENTS` parents have ended and both venues hold an order; then its runner's status,
    stopped (working parents cancelled), settled and summarised."""
    import ray

    from jobs.paper_trade import PaperRequest

    request = PaperRequest(params=(("fast", 3), ("slow", 8)), venues=VENUES, speed=SPEED, seconds=60, cash=CASH,
                           warmup_bars=30, execution="route")
    with ExitStack() as stack:
        s = _live("routed", stack, request)

        def enough() -> bool:
            ended = [p for p in _parents(s) if p["status"] != "working" and not p["open_children"]]
            return len(ended) >= PARENTS and all(s.venue_orders()[v] for v in VENUES)

        _wait(enough, 90, f"{PARENTS} parents ended and an order at each venue")
        [runner] = s.runners().values()
        status = ray.get(runner.status.remote(), timeout=30)
        s.stop_strategies()
        s.settle(90)  # returns once no order is in flight; on a loaded machine a venue's answer can take a while
        yield s, s.summary(), status


def test_one_runner_hands_every_order_to_the_router_and_children_reach_both_venues(
        routed: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    from actors.exchange_core import client_order_id
    from actors.journal import EntryKind, Journal
    from actors.trading import redis_url

    session, summary, status = routed
    assert list(session.runners()) == ["strategy:sma_cross:XRP/ETH@binance+coinbase"]
    assert status["execution"] == "route"
    c = summary["checks"]
    p = c["parents"]
    assert set(p["by_algo"]) == {"route"} and p["total"] >= PARENTS and p["working"] == [], p
    assert set(p["children_by_venue"]) == set(VENUES), p
    assert p["orphans"] == [] and p["overfilled"] == []
    assert p["children_filled"] > 0
    assert math.isclose(p["children_filled"], p["children_filled_at_venues"], rel_tol=0, abs_tol=1e-9), p
    # every order the venues hold is a child of a parent (the runner sent no order of its own), journaled with its
    # parent id; every child the journal has is at its venue unless the venue or the risk check refused it
    entries = list(Journal.from_url(redis_url(), session.stream).entries())
    parent_ids = {e.payload.parent_id for e in entries if e.kind is EntryKind.PARENT}
    children = {client_order_id(session.config.namespace, e.payload.intent_id): e.payload for e in entries
                if e.kind is EntryKind.INTENT}
    assert children and all(i.parent_id in parent_ids for i in children.values()), "an order without a parent"
    final = {e.payload.client_order_id: e.payload.to_state for e in entries if e.kind is EntryKind.STATE_CHANGE}
    held = {o.client_order_id: name for name, orders in session.venue_orders().items() for o in orders}
    assert set(held) <= set(children)
    for cid, intent in children.items():
        assert held.get(cid) == intent.venue or final.get(cid) in ("REJECTED", "DENIED"), (cid, intent, final.get(cid))
    assert c["lost"] == [] and c["duplicated"] == [] and c["not_in_journal"] == []
    assert c["state_mismatches"] == [] and c["unsettled"] == [] and c["balances_match"] and c["chain_ok"], c


def test_each_parent_is_sized_on_the_position_summed_over_both_venues(
        routed: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    """The runner sizes a parent only once its previous one has ended, on the position over both venues: so each
    parent's starting position is the previous one's plus what that parent filled (nothing ordered twice)."""
    from actors.journal import EntryKind, Journal
    from actors.trading import redis_url

    session, _, status = routed
    parents = {p["parent_id"]: p for p in _parents(session)}
    sent = [s for s in status["sent"] if s.get("status") == "parent" and s["parent_id"] in parents]
    assert len(sent) >= 2, status["sent"]
    for before, after in zip(sent, sent[1:]):
        p = parents[before["parent_id"]]
        assert p["status"] in ("done", "cancelled")
        signed = p["filled"] if p["side"] == "buy" else -p["filled"]
        assert after["position"] == pytest.approx(before["position"] + signed, abs=1e-9), (before, p, after)
    # the first parent started flat; the journal's fills (both venues) add up to the last parent's end
    assert sent[0]["position"] == 0
    last = parents[sent[-1]["parent_id"]]
    entries = list(Journal.from_url(redis_url(), session.stream).entries())
    held = sum((f.amount if f.side == "buy" else -f.amount) for f in (e.payload for e in entries
                                                                        if e.kind is EntryKind.FILL))
    later = [p for p in parents.values() if p["start_ms"] > last["start_ms"]]  # sent after the status was read
    tail = sum((p["filled"] if p["side"] == "buy" else -p["filled"]) for p in [last, *later])
    assert held == pytest.approx(sent[-1]["position"] + tail, abs=1e-9)


def test_the_summary_and_the_execution_report_show_the_parents(
        routed: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    from actors.journal import Journal
    from actors.trading import redis_url
    from cluster.commands.paper import format_paper
    from jobs.execution_report import execution_report

    session, summary, _ = routed
    p = summary["checks"]["parents"]
    text = format_paper(summary)
    assert f"execution route: {p['total']} parent orders (route " in text
    assert f"children {p['children']} (binance {p['children_by_venue']['binance']}, coinbase " in text
    report = execution_report(Journal.from_url(redis_url(), session.stream).entries()).to_json()
    [row] = [r for r in report["by_algo"] if r["algo"] == "route"]
    assert row["orders"] == p["children_at_venues"] and row["filled"] == pytest.approx(p["children_filled"], abs=1e-9)
    assert {r["algo"] for r in report["by_algo"]} == {"route"}
    # the children count for the strategy whose decisions their parents carry out (journaled with each parent),
    # not for the router
    [runner] = session.runners()
    assert [(r["strategy"], r["orders"]) for r in report["by_strategy"]] == [(runner, row["orders"])]
    by_parent = {r["parent_id"]: r for r in report["by_parent"]}
    assert len(by_parent) == p["total"]
    assert sum(r["filled"] for r in by_parent.values()) == pytest.approx(p["children_filled"], abs=1e-9)


@pytest.fixture(scope="module")
def twap() -> Iterator[tuple[Any, dict[str, Any]]]:
    """A TWAP session on one venue (coinbase) until a parent has sent both its slices; then stopped and summarised."""
    import ray

    from jobs.paper_trade import PaperRequest

    # x300: a 1 s TWAP spans 5 bars, so sma_cross(3, 8) rarely flips (and cancel-replaces it) before its second slice
    request = PaperRequest(params=(("fast", 3), ("slow", 8)), venues=("coinbase",), speed=300.0, seconds=60,
                           warmup_bars=30, execution="twap", exec_params=(("slices", 2.0), ("duration_s", 1.0)))
    with ExitStack() as stack:
        s = _live("twap", stack, request)
        router = s.actor("router")

        def two_slices() -> bool:
            return any(p["children"] >= 2 for p in ray.get(router.parents_json.remote(), timeout=30))

        _wait(two_slices, 90, "a TWAP parent with both slices sent")
        s.stop_strategies()
        s.settle(90)
        yield s, s.summary()


def test_a_twap_session_sends_each_slice_at_its_time_and_loses_nothing(twap: tuple[Any, dict[str, Any]]) -> None:
    import ray

    session, summary = twap
    c = summary["checks"]
    p = c["parents"]
    assert set(p["by_algo"]) == {"twap"} and p["working"] == [] and p["orphans"] == [] and p["overfilled"] == [], p
    assert set(p["children_by_venue"]) == {"coinbase"}
    assert math.isclose(p["children_filled"], p["children_filled_at_venues"], rel_tol=0, abs_tol=1e-9), p
    assert c["lost"] == [] and c["duplicated"] == [] and c["not_in_journal"] == []
    assert c["state_mismatches"] == [] and c["unsettled"] == [] and c["balances_match"] and c["chain_ok"], c
    router = session.actor("router")
    both = [d for d in (ray.get(router.parent.remote(x["parent_id"]), timeout=30)
                        for x in ray.get(router.parents_json.remote(), timeout=30)) if len(d["children_detail"]) >= 2]
    assert both
    for d in both:  # slice 1 is due half the duration after the start: never sent before it
        first, second = d["children_detail"][:2]
        assert (first["index"], second["index"]) == (0, 1)
        assert second["sent_ms"] >= d["start_ms"] + 500, d


#: an iceberg clip's size (base units): a parent (~3,500 XRP from flat, ~7,000 on a reversal, at the default 10 ETH
#: and as much XRP, a quarter of the equity) shows at most this much at a time, so each parent is 2-4 clips
DISPLAY = 2000.0


@pytest.fixture(scope="module")
def iceberg() -> Iterator[tuple[Any, dict[str, Any]]]:
    """An iceberg session on one venue (binance, x300: sma_cross(3, 8) flips every few seconds, so a parent has the
    time to show all its clips before a new target cancels it) until a parent is done in two clips or more; then
    stopped (a working parent cancelled with its resting clip) and summarised."""
    import ray

    from jobs.paper_trade import PaperRequest

    request = PaperRequest(params=(("fast", 3), ("slow", 8)), venues=("binance",), speed=300.0, seconds=60,
                           warmup_bars=30, execution="iceberg", exec_params=(("display", DISPLAY),))
    with ExitStack() as stack:
        s = _live("iceberg", stack, request)
        router = s.actor("router")

        def clips_done() -> bool:
            return any(p["status"] == "done" and p["children"] >= 2 and not p["open_children"]
                       for p in ray.get(router.parents_json.remote(), timeout=30))

        _wait(clips_done, 90, "an iceberg parent done in two clips or more")
        s.stop_strategies()
        s.settle(90)
        yield s, s.summary()


def test_an_iceberg_session_shows_at_most_one_display_sized_clip_at_a_time(iceberg: tuple[Any, dict[str, Any]]) -> None:
    """Every clip the venue holds is at most ``display``; a parent's next clip is sent only once the one before has
    ended (so the venue never shows more than ``display`` of it); parents end done or cancelled; nothing is lost."""
    from actors.exchange_core import client_order_id
    from actors.journal import EntryKind, Journal
    from actors.trading import redis_url
    from jobs.execution_report import execution_report

    session, summary = iceberg
    c = summary["checks"]
    p = c["parents"]
    assert set(p["by_algo"]) == {"iceberg"} and p["working"] == [] and p["orphans"] == [] and p["overfilled"] == [], p
    assert set(p["by_algo"]["iceberg"]) <= {"done", "cancelled"} and p["by_algo"]["iceberg"].get("done"), p
    assert math.isclose(p["children_filled"], p["children_filled_at_venues"], rel_tol=0, abs_tol=1e-9), p
    assert c["lost"] == [] and c["duplicated"] == [] and c["not_in_journal"] == []
    assert c["state_mismatches"] == [] and c["unsettled"] == [] and c["balances_match"] and c["chain_ok"], c
    # the venue's own book: every order of ours a limit clip of at most DISPLAY
    held = session.venue_orders()["binance"]
    assert held and all(o.type == "LIMIT" and 0 < float(o.orig_qty) <= DISPLAY for o in held), held
    # the journal: each clip a child of its parent, sent only after the previous clip had settled
    entries = list(Journal.from_url(redis_url(), session.stream).entries())
    ns = session.config.namespace
    parent_of = {client_order_id(ns, e.payload.intent_id): e.payload.parent_id for e in entries
                 if e.kind is EntryKind.INTENT}
    assert set(parent_of) >= {o.client_order_id for o in held} and None not in parent_of.values()
    sent: list[str] = []
    closed: set[str] = set()  # reached a final state once (a fill racing a cancel may reopen the OMS state after)
    for e in entries:
        if e.kind is not EntryKind.STATE_CHANGE:
            continue
        cid, to = e.payload.client_order_id, e.payload.to_state
        if to == "SUBMITTED":
            working = [k for k in sent if parent_of[k] == parent_of[cid] and k not in closed]
            assert working == [], f"clip {cid} sent while {working} of the same parent still worked"
            sent.append(cid)
        elif to in ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED"):
            closed.add(cid)
    assert any(x["children"] >= 2 for x in _parents(session))  # clip after clip, not one order
    # the execution report: every clip counts for the runner that decided it, under the iceberg algorithm
    report = execution_report(entries).to_json()
    [runner] = session.runners()
    assert {r["algo"] for r in report["by_algo"]} == {"iceberg"}
    assert [r["strategy"] for r in report["by_strategy"]] == [runner]
