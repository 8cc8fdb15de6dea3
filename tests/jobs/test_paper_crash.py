"""Crash test of paper trading (issue 13, "Crash and fault tests"): a session of at least 1,000 orders on two
emulated venues while the OS process of every trading actor type is SIGKILLed in turn, at seeded-random
moments, at least 20 times in all.

Real parts throughout: the shared test cluster's Ray and redis-server (the journal, ``appendfsync always``),
ccxt against two Binance-dialect emulators on loopback replaying the bundled ALT/BTC 1-minute bars (13,681
bars: at ``SPEED`` the replay lasts ~11 minutes, longer than the kills take even on a loaded machine). The
strategy is ``sma_cross`` with windows 2/3, which changes its target about every 2.7 bars: at ``SPEED`` that is
up to ~15 market orders a second across the two venues while every actor is up.

The kills come in rounds (:func:`jobs.crash_drill.kill_rounds` / :func:`~jobs.crash_drill.kill_all_and_recover`):
each round SIGKILLs one actor of every type *at once* (an exchange actor, the OMS, the portfolio, the risk
monitor and a strategy runner; the PIDs from Ray's state API, then the kills back to back), so they restart and
rebuild in parallel - the OMS reconciling while the exchange actor it needs is itself restarting. Per actor the
recovery time is measured from the kills until it answers from a new PID *and* a new order reached the venue(s)
it serves (the killed exchange's venue, the killed runner's venue, else either) - "trading again". (The
recovery benchmark kills one actor at a time with :func:`jobs.crash_drill.kill_and_recover`.) After the kills,
and once the venues hold >= 1,000 of our orders, the strategies stop and the books are compared:

* each venue's own order list (the emulator's engine, not our view) against the journal by client order id:
  every order the journal says was SUBMITTED is at exactly one venue, the venue it was meant for, once; the
  venue has no order the journal does not have;
* every order's state in the OMS is settled and agrees with the venue's (filled quantity included);
* the journal's ledger and the rebuilt portfolio equal the venues' balance changes, asset by asset;
* the journal's hash chain verifies.

Before the kills, the same session's journal Redis is SIGKILLed and restarted
(:func:`test_redis_sigkill_loses_no_acknowledged_entry_and_trading_resumes`), and then both venues inject 5 %
faults until 60 more orders are placed; the runners stop, the books are checked as above, and Ray restarts the
runners (:func:`test_five_percent_faults_leave_no_unknown_order_and_no_untracked_position`; it had a session of
its own, tests/jobs/test_paper_faults.py, until 2026-12-02: one session start and its trading less).

Where the wall time goes (each phase is printed with its time; 2026-12-02 04:09 UTC, this module alone while other
work kept the load average at 10-17: 2 passed in 344 s, the 20-kill test 281 s): the test cluster's start ~23 s and
the session's 29 s (fixtures); the Redis kill 5 s; the 4 rounds 68 s (~17 s a round: the pause, then every actor
back and trading again; almost no order is placed while they recover: 31 -> 86 orders); trading on to 1,000 orders
167 s (5.5 orders a second); settling 1 s; the checks 45 s (a second run, load 14-18, 437 s: the checks 88 s -
reading the journal to compare the books 17 s, :meth:`PaperSession.checks` 43 s, a second walk of the chain 28 s;
each journal read decodes at ~250 us of CPU an entry, three quarters of it ``typing.get_type_hints``). The lead's
quiet full run (2026-12-02): 234 s for the 20-kill test. Until 2026-12-02 13:00 the order rate was capped by
ccxt's client-side rate limit: the ExchangeActor fetched its fills over REST after every filled order (Binance
``myTrades``, 4 units of the limiter = 200 ms of the venue's budget), ~5 orders a second per venue whatever the
replay's speed (a probe placed no more orders a second at x1800 than at x900). It now takes a market order's fills
from the venue's answer (``newOrderRespType=FULL``) and the rate is the strategy's: sma_cross 2/3 at x900 gave
10.5-10.8 orders a second after the kills (loads 5-27; 6.0 before, load 16), so ``SPEED`` went to x1200: 14.5 a
second (load 4-8; the 20-kill test 90 s, 110 s at x900, 147 s before), the same CPU an order (~0.07 CPU-s, all
the session's processes). Faster still would run out of bars on a starved machine.
What made it cheaper: a round looks up its five PIDs in one
state-API query (:func:`jobs.crash_drill.actor_pids`), a restarted OMS / StrategyRunner imports ~0.6 / ~1.1 s less
CPU (no ccxt, no gymnasium), the ledger check reuses the journal read once the strategies stopped, and the chain is
walked once (``checks["chain_ok"]``), not twice. 2026-12-02 08:00 UTC, load average 3-9, with the fault test in this
session: the module passed in 185 s - session start 14 s, Redis 3 s, faults 23 s (the faulty phase 20 s, settling
and the checks 0.5 s, the runners' restart 3 s), the 20 SIGKILLs 142 s (4 rounds 31 s, on to 1,000 orders 108 s at
~8 orders a second, the checks 4 s).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from typing import Any, Iterator

import pytest

from tests._trade import wait_for

pytestmark = pytest.mark.usefixtures("ray_session")

SEED = 13
#: ALT/BTC 1-minute bars (13,681 of them, real Binance data): at x1200 (20 bars a second) the replay lasts ~11
#: minutes, so it outlasts the kills on a loaded machine (the slowest runs seen: 1,000 orders 7.6 minutes after the
#: session's start at load 50-67; the test alone 456 s starved under pytest-xdist); sma_cross 2/3 changes its
#: target every ~2.7 bars
SAMPLE = "ALT-BTC-1m"
SPEED = 1200.0
VENUES = ("binance", "binanceus")
ROUNDS = 4  # 4 x 5 kinds = 20 kills
MIN_ORDERS = 1_000


#: monotonic time the module's session began to start (phase times are printed from it)
T0: list[float] = []


def _phase(what: str, session: Any = None) -> None:
    """Print ``what`` with the seconds since the module's session began to start (and the orders at the venues):
    where the module's wall time goes, in the test's output."""
    from jobs.crash_drill import venue_order_count

    orders = f", {venue_order_count(session, session.request.venues)} orders" if session is not None else ""
    print(f"[{time.monotonic() - T0[0]:7.1f} s] {what}{orders}", flush=True)


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    from jobs.paper_trade import PaperRequest, PaperSession

    T0[:] = [time.monotonic()]
    with PaperSession(PaperRequest(params=(("fast", 2), ("slow", 3)), sample=SAMPLE, venues=VENUES, speed=SPEED,
                                   seconds=300, warmup_bars=30)) as s:
        _phase("session started", s)
        yield s


def _state(session: Any) -> str:
    """What the actors say (for a failure message): the OMS, the runners and the venues' actors."""
    import ray

    out = []
    for name, handle in session.handles.items():
        try:
            if name == "oms":
                st = ray.get(handle.status.remote(), timeout=20)
                st = {k: st[k] for k in ("trading", "reason", "orders_by_state", "fills", "pid")}
            elif name.startswith("strategy:"):
                st = ray.get(handle.status.remote(), timeout=20)
                st = {**{k: st[k] for k in ("after_seq", "window", "holes", "errors", "pid")},
                      "sent": st["sent"][-2:]}
            elif name.startswith("exchange:"):
                st = ray.get(handle.info.remote(), timeout=20)
            else:
                continue
        except Exception as exc:  # noqa: BLE001 - a diagnosis: say what failed
            st = f"{type(exc).__name__}: {exc}"[:300]
        out.append(f"{name}: {st}")
    return "\n".join(out)


@pytest.mark.timeout(600)  # includes the module's session start (~20 s quiet, minutes on a loaded machine)
def test_redis_sigkill_loses_no_acknowledged_entry_and_trading_resumes(session: Any) -> None:
    """redis-server (the journal) SIGKILLed mid-session, then restarted the way ``raytrader up`` restarts it
    (:func:`cluster.lifecycle.up`: same port, same password, same AOF folder).

    AOF policy under test: ``appendonly yes`` with ``appendfsync always`` (the cluster's ``redis.appendfsync``
    default; the journal refuses to append under anything weaker), so Redis fsyncs each append before it
    replies. Acknowledged = the append call returned: (a) every entry of the session's journal read just
    before the kill, and (b) every append of a writer thread hammering its own journal stream on the same
    Redis right up to the kill. After the restart all of them are there, byte for byte (hashes), both chains
    verify, and the session trades again (an order reaches each venue)."""
    import threading

    import ray

    from actors.journal import EntryKind, Journal
    from actors.messages import TradingStateChange
    from actors.trading import redis_url
    from cluster.lifecycle import up
    from jobs.crash_drill import venue_order_count
    from raytrader.config import load_config
    from raytrader.state import read_state

    venues = session.request.venues
    try:
        wait_for(lambda: venue_order_count(session, venues) >= 20, 180, "the first 20 orders", every_s=0.05)
    except AssertionError:
        print(_state(session))
        raise
    _phase("redis test: first 20 orders", session)
    url = redis_url()
    journal = Journal.from_url(url, session.stream)
    side = Journal.from_url(url, f"{session.stream}:redis-kill-writer")
    acked: list[str] = []
    stop = threading.Event()

    def writer() -> None:  # appends until Redis dies; each hash recorded only once its append returned
        while not stop.is_set():
            try:
                acked.append(side.append(EntryKind.TRADING_STATE,
                                         TradingStateChange("ACTIVE", "ACTIVE", f"probe {len(acked)}")).hash)
            except Exception:  # noqa: BLE001 - Redis is gone: the writer is done
                return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    wait_for(lambda: len(acked) >= 50, 60, "50 acknowledged appends of the writer", every_s=0.05)
    before = [(e.seq, e.hash) for e in journal.entries()]
    home = load_config().cluster.home
    state = read_state(home)
    assert state is not None and state.redis is not None and state.redis.process is not None
    os.kill(state.redis.process.pid, signal.SIGKILL)
    _phase("redis SIGKILLed", session)
    thread.join(30)
    stop.set()
    written = list(acked)
    up(load_config())
    _phase("redis restarted by up", session)
    after_state = read_state(home)
    assert after_state is not None and after_state.redis is not None
    assert after_state.redis.process.pid != state.redis.process.pid
    assert (after_state.redis.port, after_state.redis.password) == (state.redis.port, state.redis.password)
    got = {e.hash for e in Journal.from_url(url, side.stream).entries()}
    assert [h for h in written if h not in got] == [] and len(written) >= 50
    after = {(e.seq, e.hash) for e in journal.entries()}
    assert [x for x in before if x not in after] == []
    assert Journal.from_url(url, side.stream).verify().ok
    assert journal.verify().ok
    for venue in venues:  # trading resumes on both venues
        count = venue_order_count(session, (venue,))
        wait_for(lambda venue=venue, count=count: venue_order_count(session, (venue,)) > count, 120,
                 f"an order on {venue} after the Redis restart", every_s=0.05)
    assert ray.get(session.oms.status.remote(), timeout=60)["trading"]
    _phase("redis test: trading again on both venues", session)
    print(f"\nredis kill: {len(before)} session entries and {len(written)} writer appends acknowledged "
          f"before the kill, all present after the restart")
    Journal.from_url(url, side.stream).client.delete(side.stream)


#: the faulty phase (:func:`test_five_percent_faults_leave_no_unknown_order_and_no_untracked_position`): each
#: venue's requests are hit at ``FAULT_RATE``, seeded, until the venues hold ``FAULT_MIN_ORDERS`` orders placed in
#: it and the faults have hit ``FAULT_MIN`` requests of ``FAULT_MIN_KINDS`` kinds (a loaded machine trades slowly:
#: the phase is measured in orders and faults, not seconds)
FAULT_RATE, FAULT_SEED = 0.05, 5
FAULT_MIN_ORDERS, FAULT_MIN, FAULT_MIN_KINDS = 60, 10, 4
FAULTY_MAX_S = 400.0  # (at most)


@pytest.mark.timeout(900)  # the faulty phase, settling, the checks, the runners' restart: ~1 min quiet
def test_five_percent_faults_leave_no_unknown_order_and_no_untracked_position(session: Any) -> None:
    """Paper trading while both emulated venues misbehave (issue 13, "Crash and fault tests"): about 5 % of the
    requests each venue receives are hit by a seeded random fault - HTTP 503 before or 500 after the venue acted,
    429, a request held past the client's timeout (then processed), a response lost after the venue acted, every
    WebSocket stream dropped - until the venues hold :data:`FAULT_MIN_ORDERS` more of our orders and the faults
    have hit :data:`FAULT_MIN` requests of :data:`FAULT_MIN_KINDS` kinds. Then the faults stop, each strategy
    runner stops (the order it is sending finished and recorded), the OMS syncs until nothing is in flight, and:

    * no order is in a state whose outcome we do not know (SUBMITTED, UNKNOWN, PENDING_*), and every order's
      state and filled amount in the OMS equal the venue's own record;
    * no order is lost, duplicated or unknown to the journal (the venues' order lists by client order id); an
      order the venue refused (429, a request held past its recvWindow, a 503 before it acted, then proven
      absent) ends REJECTED and is not at the venue;
    * no untracked position: the journal's ledger and the portfolio actor equal the venues' balance changes,
      asset by asset; the journal's chain verifies.

    The module's session (Redis SIGKILLed before it; the 20 SIGKILLs after it), not one of its own: its start
    (~15-30 s) and trading are shared, and the orders of the faulty phase count towards the crash test's 1,000.
    After the checks Ray restarts the stopped runners (``ray.kill`` of a restartable actor: a new process, as
    after a crash) and the test ends once each venue has a new order. (Halting trading instead of stopping the
    runners, tried 2026-12-02: the runners' targets, denied while HALTED, kept the OMS journaling - 81 denials -
    and the checks took 43 s instead of 3 s at load 25-50.)"""
    import ray

    from actors.journal import Journal
    from actors.ledger import ledger_from_entries
    from actors.trading import redis_url
    from jobs.crash_drill import venue_order_count
    from market.emulator.faults import FAULT_KINDS, RandomFaults

    venues = session.request.venues
    wait_for(lambda: venue_order_count(session, venues) >= 20, 300, "the first 20 orders", every_s=0.1)
    start_orders = venue_order_count(session, venues)
    for i, server in enumerate(session.servers.values()):
        server.faults.set_random(RandomFaults(rate=FAULT_RATE, seed=FAULT_SEED + i, kinds=FAULT_KINDS))
    _phase("faults on", session)

    def faults_injected() -> dict[str, int]:
        return {k: sum(s.faults.injected[k] for s in session.servers.values()) for k in FAULT_KINDS}

    def faulty_phase_done() -> bool:
        hit = faults_injected()
        return (sum(hit.values()) >= FAULT_MIN and sum(1 for n in hit.values() if n) >= FAULT_MIN_KINDS
                and venue_order_count(session, venues) - start_orders >= FAULT_MIN_ORDERS)

    try:
        wait_for(faulty_phase_done, FAULTY_MAX_S, f"{FAULT_MIN_ORDERS} orders at the venues and {FAULT_MIN} faults "
                 f"of {FAULT_MIN_KINDS} kinds", every_s=0.2)
    finally:
        for server in session.servers.values():
            server.faults.set_random(RandomFaults())
    injected = faults_injected()
    _phase(f"faults off ({sum(injected.values())} injected)", session)
    runners = session.runners()
    ray.get([h.stop.remote() for h in runners.values()], timeout=120)  # each finishes the order it is sending
    status = session.settle(timeout_s=120)
    assert status["trading"], status["reason"]
    _phase("runners stopped, orders settled", session)
    checks = session.checks()
    print(f"\nfault test: {checks['venue_orders']} orders at the venues ({checks['orders_rejected']} more "
          f"refused), {status['fills']} fills, faults injected {injected}, orders by state "
          f"{status['orders_by_state']}")
    assert sum(injected.values()) >= FAULT_MIN, injected
    assert sum(1 for n in injected.values() if n) >= FAULT_MIN_KINDS, injected
    assert checks["venue_orders"] - start_orders >= FAULT_MIN_ORDERS
    assert checks["unsettled"] == [], checks["unsettled"][:10]
    assert checks["state_mismatches"] == [], checks["state_mismatches"][:10]
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []
    assert checks["orders_sent"] - checks["orders_rejected"] == checks["venue_orders"]
    assert checks["chain_ok"]
    assert checks["balances_match"], checks["balance_diffs"]
    booked = ledger_from_entries(Journal.from_url(redis_url(), session.stream).entries()).fills_booked()
    portfolio = session.actor("portfolio")
    wait_for(lambda: ray.get(portfolio.snapshot.remote(), timeout=60)["fills"] == booked, 60,
             "the portfolio to book every journaled fill", every_s=0.2)
    snap = ray.get(portfolio.snapshot.remote(), timeout=60)
    venue_change = session.venue_balance_changes()
    for key in sorted(set(venue_change) | set(snap["balance_changes"])):
        assert snap["balance_changes"].get(key, 0.0) == pytest.approx(venue_change.get(key, 0.0),
                                                                      abs=1e-8 * max(1, booked)), key
    _phase("fault checks done", session)

    for handle in runners.values():  # trading resumes: Ray restarts each stopped runner
        ray.kill(handle, no_restart=False)
    for venue in venues:
        count = venue_order_count(session, (venue,))
        wait_for(lambda venue=venue, count=count: venue_order_count(session, (venue,)) > count, 180,
                 f"an order on {venue} after the runners' restart", every_s=0.05)
    _phase("runners restarted, trading on both venues", session)


# 2026-12-01 20:54 UTC, quiet machine (load 1-5), one kill at a time: passed in 307 s with the session start
# (1,000+ orders, 20 kills, recovery median ~5.6 s, max 10.5 s). Rounds: 234 s quiet (the lead's full run), 281 s
# under load 10-17 (module docstring). Under load 25-77 it once starved: ~1.3 orders a second, and after the 9th
# kill the emulators' thread in this process got too little CPU for orders to be acknowledged in time.
@pytest.mark.timeout(2400)  # ~3 min on a quiet machine; a loaded one trades far slower (see the 1,000-order wait)
def test_twenty_sigkills_lose_and_duplicate_no_order(session: Any) -> None:
    import ray

    from actors.journal import EntryKind, Journal
    from actors.ledger import ledger_from_entries
    from actors.trading import redis_url
    from jobs.crash_drill import KINDS, DrillTimeout, Recovery, kill_all_and_recover, kill_rounds, venue_order_count

    venues = session.request.venues
    wait_for(lambda: venue_order_count(session, venues) >= 20, 300, "the first 20 orders", every_s=0.1)
    _phase("kills: begin", session)
    recovery: dict[str, list[Recovery]] = {}
    try:
        for names, pause in kill_rounds(session, ROUNDS, SEED):  # a round: one actor of every kind, all at once
            time.sleep(pause)
            for r in kill_all_and_recover(session, names, timeout_s=300):
                recovery.setdefault(r.kind, []).append(r)
                print(f"killed {r.name} (pid {r.pid}): answers after {r.answered_s:.2f} s, trading again after "
                      f"{r.trading_s:.2f} s", flush=True)
            _phase("round done", session)
        kills = sum(len(v) for v in recovery.values())
        # ~1 minute more on a quiet machine; a loaded one (load average 25 on 2 cores) trades ~1 order a second
        wait_for(lambda: venue_order_count(session, venues) >= MIN_ORDERS, 1200,
                 f"{MIN_ORDERS} orders at the venues", every_s=0.1)
        _phase(f"{MIN_ORDERS} orders reached", session)
    except (AssertionError, DrillTimeout):
        print(_state(session))
        raise
    assert sorted(recovery) == sorted(KINDS) and kills >= 20  # every actor type, 20 kills at least
    session.stop_strategies()
    status = session.settle(timeout_s=90)
    assert status["trading"], status["reason"]
    _phase("strategies stopped, orders settled", session)

    # --- every order: at its venue exactly once, known to the journal, settled, the same state on both sides
    journal = Journal.from_url(redis_url(), session.stream)
    entries = list(journal.entries())
    sent: dict[str, str] = {}
    final: dict[str, str] = {}
    for e in entries:
        if e.kind is EntryKind.STATE_CHANGE:
            final[e.payload.client_order_id] = e.payload.to_state
            if e.payload.to_state == "SUBMITTED":
                assert e.payload.client_order_id not in sent, f"{e.payload.client_order_id} submitted twice"
                sent[e.payload.client_order_id] = e.payload.venue
    # refused by the venue (e.g. a request signed before a kill reached it after its recvWindow): not there
    refused = {c for c in sent if final[c] == "REJECTED"}
    books = session.venue_orders()
    at_venue: dict[str, list[tuple[str, Any]]] = {}
    for venue, orders in books.items():
        for o in orders:
            at_venue.setdefault(o.client_order_id, []).append((venue, o))
    total = sum(len(o) for o in books.values())
    assert total >= MIN_ORDERS and kills >= 20
    assert sorted(c for c in sent if c not in at_venue and c not in refused) == []  # lost
    assert sorted(c for c in refused if c in at_venue) == []  # refused, yet there
    assert sorted(c for c in at_venue if c not in sent) == []  # unknown to the journal
    assert sorted(c for c, where in at_venue.items() if len(where) != 1) == []  # duplicated
    assert sorted(c for c, where in at_venue.items() if where[0][0] != sent[c]) == []  # at the wrong venue
    _phase("orders compared with the venues' books", session)
    checks = session.checks()
    _phase("session checks", session)
    assert checks["unsettled"] == [] and checks["state_mismatches"] == []
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []

    # --- money: the journal's ledger and the portfolio actor hold what the venues hold
    assert checks["chain_ok"] and checks["journal_entries"] >= len(entries)
    assert checks["balances_match"], checks["balance_diffs"]
    venue_change = session.venue_balance_changes()
    portfolio = session.actor("portfolio")
    booked = ledger_from_entries(entries).fills_booked()  # the journal read above, after the strategies stopped
    wait_for(lambda: ray.get(portfolio.snapshot.remote(), timeout=60)["fills"] == booked, 60,
             "the portfolio to book every journaled fill", every_s=0.5)
    _phase("the portfolio booked every fill", session)
    snap = ray.get(portfolio.snapshot.remote(), timeout=60)
    for key in sorted(set(venue_change) | set(snap["balance_changes"])):
        assert snap["balance_changes"].get(key, 0.0) == pytest.approx(venue_change.get(key, 0.0), abs=1e-8 * booked), key
    _phase("checks done", session)  # the chain: checks["chain_ok"] above, walked once the orders were settled

    every = [r.trading_s for v in recovery.values() for r in v]
    lines = [f"{k}: n={len(v)} median {statistics.median(r.trading_s for r in v):.2f} s "
             f"max {max(r.trading_s for r in v):.2f} s" for k, v in recovery.items()]
    print(f"\ncrash test: {total} orders at the venues ({len(refused)} more refused), {kills} SIGKILLs, "
          f"{status['fills']} fills; recovery "
          f"(kill -> trading again) median {statistics.median(every):.2f} s, max {max(every):.2f} s\n  "
          + "\n  ".join(lines))
