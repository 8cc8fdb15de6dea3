"""Crash test of paper trading (issue 13, "Crash and fault tests"): a session of at least 1,000 orders on two
emulated venues while the OS process of every trading actor type is SIGKILLed in turn, at seeded-random
moments, at least 20 times in all.

Real parts throughout: the shared test cluster's Ray and redis-server (the journal, ``appendfsync always``),
ccxt against two Binance-dialect emulators on loopback replaying the bundled XRP/ETH bars. The strategy is
``sma_cross`` with windows 2/3, which changes its target about every 2.4 bars: at ``SPEED`` that is ~12 market
orders a second across the two venues.

Each kill: the actor's PID from Ray's state API, ``SIGKILL``, then the recovery time is measured from the kill
until the restarted actor answers from a new PID *and* a new order reached the venue(s) it serves (the killed
exchange's venue, the killed runner's venue, else either) - "trading again". After the kills, and once the
venues hold >= 1,000 of our orders, the strategies stop and the books are compared:

* each venue's own order list (the emulator's engine, not our view) against the journal by client order id:
  every order the journal says was SUBMITTED is at exactly one venue, the venue it was meant for, once; the
  venue has no order the journal does not have;
* every order's state in the OMS is settled and agrees with the venue's (filled quantity included);
* the journal's ledger and the rebuilt portfolio equal the venues' balance changes, asset by asset;
* the journal's hash chain verifies.

Before the kills, the same session's journal Redis is SIGKILLed and restarted
(:func:`test_redis_sigkill_loses_no_acknowledged_entry_and_trading_resumes`).

Wall time on a quiet 2-core machine: about 3 minutes (session start ~20 s, ~2 minutes of kills and trading).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import time
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.usefixtures("ray_session")

SEED = 13
SPEED = 900.0  # 15 one-minute bars a second; the 2,469-bar sample lasts ~2.7 min of replay
KINDS = ("exchange", "oms", "portfolio", "risk", "strategy")
ROUNDS = 4  # 4 x 5 kinds = 20 kills
MIN_ORDERS = 1_000


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    from jobs.paper_trade import PaperRequest, PaperSession

    with PaperSession(PaperRequest(params=(("fast", 2), ("slow", 3)), speed=SPEED, seconds=300,
                                   warmup_bars=30)) as s:
        yield s


def _wait(predicate: Any, timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


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


def _pid(session: Any, name: str) -> int:
    """The PID of the ALIVE actor ``name`` of this session, from the Ray state API."""
    import ray
    from ray.util.state import list_actors

    def alive() -> int | None:
        rows = list_actors(address=ray.get_runtime_context().gcs_address,
                           filters=[("name", "=", name), ("state", "=", "ALIVE")], detail=True, timeout=30)
        rows = [r for r in rows if r.ray_namespace == session.ray_namespace and r.pid]
        return int(rows[0].pid) if len(rows) == 1 else None

    return _wait(alive, 60, f"{name} ALIVE with a PID", every_s=0.2)


def _venue_orders(session: Any, venues: tuple[str, ...]) -> int:
    """Our orders in the venues' own books (read while the emulators' threads trade: retried until a read
    does not race a new order)."""
    while True:
        try:
            return sum(len(session.venues[v].engine.orders("paper", session.symbol)) for v in venues)
        except RuntimeError:  # "dictionary changed size during iteration": the venue took an order
            time.sleep(0.001)


def _kill_plan(session: Any) -> list[tuple[str, float]]:
    """(actor name, pause before the kill in s) for ROUNDS rounds over every kind, seeded."""
    rng = random.Random(SEED)
    venues = session.request.venues
    plan = []
    for _ in range(ROUNDS):
        for kind in KINDS:
            venue = rng.choice(venues)
            name = {"exchange": f"exchange:{venue}", "strategy": f"strategy:sma_cross:{session.symbol}@{venue}"
                    }.get(kind, kind)
            plan.append((name, rng.uniform(0.2, 2.0)))
    return plan


def _kill_and_recover(session: Any, name: str) -> float:
    """SIGKILL ``name``'s process; seconds until it answers from a new PID and an order reached its venue(s)."""
    import ray

    venues = session.request.venues
    served = tuple(v for v in venues if name.endswith(f"@{v}") or name == f"exchange:{v}") or venues
    pid = _pid(session, name)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    handle = session.actor(name)

    def back() -> bool:
        try:
            return ray.get(handle.ping.remote(), timeout=5) != pid
        except Exception:  # noqa: BLE001 - restarting
            return False

    _wait(back, 120, f"{name} to answer from a new process", every_s=0.05)
    count = _venue_orders(session, served)
    _wait(lambda: _venue_orders(session, served) > count, 120, f"an order on {served} after {name} came back",
          every_s=0.05)
    return time.monotonic() - killed


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
    from raytrader.config import load_config
    from raytrader.state import read_state

    venues = session.request.venues
    try:
        _wait(lambda: _venue_orders(session, venues) >= 20, 180, "the first 20 orders")
    except AssertionError:
        print(_state(session))
        raise
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
    _wait(lambda: len(acked) >= 50, 60, "50 acknowledged appends of the writer")
    before = [(e.seq, e.hash) for e in journal.entries()]
    home = load_config().cluster.home
    state = read_state(home)
    assert state is not None and state.redis is not None and state.redis.process is not None
    os.kill(state.redis.process.pid, signal.SIGKILL)
    thread.join(30)
    stop.set()
    written = list(acked)
    up(load_config())
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
        count = _venue_orders(session, (venue,))
        _wait(lambda venue=venue, count=count: _venue_orders(session, (venue,)) > count, 120,
              f"an order on {venue} after the Redis restart")
    assert ray.get(session.oms.status.remote(), timeout=60)["trading"]
    print(f"\nredis kill: {len(before)} session entries and {len(written)} writer appends acknowledged "
          f"before the kill, all present after the restart")
    Journal.from_url(url, side.stream).client.delete(side.stream)


@pytest.mark.open_defect  # fails today: see the issue 13 note (the 1,000-order session is not reached)
@pytest.mark.timeout(900)  # ~3 min on a quiet machine; the suite's 300 s default is per test, and this one is long
def test_twenty_sigkills_lose_and_duplicate_no_order(session: Any) -> None:
    import ray

    from actors.journal import EntryKind, Journal
    from actors.ledger import ledger_from_entries
    from actors.trading import redis_url

    venues = session.request.venues
    _wait(lambda: _venue_orders(session, venues) >= 20, 120, "the first 20 orders")
    recovery: dict[str, list[float]] = {}
    for name, pause in _kill_plan(session):
        time.sleep(pause)
        kind = name.split(":")[0]
        recovery.setdefault(kind, []).append(_kill_and_recover(session, name))
        print(f"killed {name}: trading again after {recovery[kind][-1]:.2f} s", flush=True)
    kills = sum(len(v) for v in recovery.values())
    _wait(lambda: _venue_orders(session, venues) >= MIN_ORDERS, 240, f"{MIN_ORDERS} orders at the venues",
          every_s=0.5)
    session.stop_strategies()
    status = session.settle(timeout_s=90)
    assert status["trading"], status["reason"]

    # --- every order: at its venue exactly once, known to the journal, settled, the same state on both sides
    journal = Journal.from_url(redis_url(), session.stream)
    entries = list(journal.entries())
    sent: dict[str, str] = {}
    for e in entries:
        if e.kind is EntryKind.STATE_CHANGE and e.payload.to_state == "SUBMITTED":
            assert e.payload.client_order_id not in sent, f"{e.payload.client_order_id} submitted twice"
            sent[e.payload.client_order_id] = e.payload.venue
    books = session.venue_orders()
    at_venue: dict[str, list[tuple[str, Any]]] = {}
    for venue, orders in books.items():
        for o in orders:
            at_venue.setdefault(o.client_order_id, []).append((venue, o))
    total = sum(len(o) for o in books.values())
    assert total >= MIN_ORDERS and kills >= 20
    assert sorted(c for c in sent if c not in at_venue) == []  # lost
    assert sorted(c for c in at_venue if c not in sent) == []  # unknown to the journal
    assert sorted(c for c, where in at_venue.items() if len(where) != 1) == []  # duplicated
    assert sorted(c for c, where in at_venue.items() if where[0][0] != sent[c]) == []  # at the wrong venue
    checks = session.checks()
    assert checks["unsettled"] == [] and checks["state_mismatches"] == []
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []

    # --- money: the journal's ledger and the portfolio actor hold what the venues hold
    assert checks["chain_ok"] and checks["journal_entries"] >= len(entries)
    assert checks["balances_match"], checks["balance_diffs"]
    venue_change = session.venue_balance_changes()
    portfolio = session.actor("portfolio")
    booked = ledger_from_entries(journal.entries()).fills_booked()
    _wait(lambda: ray.get(portfolio.snapshot.remote(), timeout=60)["fills"] == booked, 60,
          "the portfolio to book every journaled fill", every_s=0.5)
    snap = ray.get(portfolio.snapshot.remote(), timeout=60)
    for key in sorted(set(venue_change) | set(snap["balance_changes"])):
        assert snap["balance_changes"].get(key, 0.0) == pytest.approx(venue_change.get(key, 0.0), abs=1e-8 * booked), key
    report = Journal.from_url(redis_url(), session.stream).verify()
    assert report.ok, report

    every = [x for v in recovery.values() for x in v]
    lines = [f"{k}: n={len(v)} median {statistics.median(v):.2f} s max {max(v):.2f} s" for k, v in recovery.items()]
    print(f"\ncrash test: {total} orders at the venues, {kills} SIGKILLs, {status['fills']} fills; recovery "
          f"(kill -> trading again) median {statistics.median(every):.2f} s, max {max(every):.2f} s\n  "
          + "\n  ".join(lines))
