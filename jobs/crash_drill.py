"""Crash drill: SIGKILL the trading actors of a running paper session and time their recovery (issue 13).

One implementation for the crash test (``tests/jobs/test_paper_crash.py``, which asserts the books after the
kills) and the recovery benchmark (``benchmarks/recovery.py``, which reports the times), so the benchmark
measures exactly what the test checks.

A kill (:func:`kill_and_recover`): the actor's PID from Ray's state API (the ALIVE actor of that name in the
session's Ray namespace), ``SIGKILL`` to that OS process, then two times from the kill, in seconds:

* ``answered_s``: the restarted actor answers ``ping`` from a new PID (Ray's restart and the actor's rebuild
  from the journal; the OMS reconciles with the venues before it answers);
* ``trading_s``: a new order of ours reached the venue(s) the actor serves after it answered - the killed
  exchange's or runner's venue, else either - counted in the emulator's own book, not in our view of it.

The actor kinds, in the order a round kills them: :data:`KINDS`. Which venue's exchange or runner is killed,
and the pause before each kill, come from a seeded generator (:func:`kill_plan`).

The harsher form (:func:`kill_rounds`, :func:`kill_all_and_recover`, what the crash test runs): a round's
actors - one of every kind - are SIGKILLed at once, back to back before any of them is back, and recover in
parallel (the OMS reconciles while the exchange actors it needs restart too). The same two times per actor,
measured from the round's kills; ``trading_s`` counts orders after *that* actor answered.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

from jobs.paper_trade import ACCOUNT, PaperSession

__all__ = ["KINDS", "Recovery", "DrillTimeout", "wait_until", "venue_order_count", "actor_pid", "actor_pids", "kill_plan",
           "kill_and_recover", "kill_rounds", "kill_all_and_recover", "kind_of"]

#: actor kinds a round kills, in order (``strategy`` = a StrategyRunner)
KINDS = ("exchange", "oms", "portfolio", "risk", "strategy")


class DrillTimeout(RuntimeError):
    """Something the drill waits for did not happen within its deadline (the message says what)."""


@dataclass(frozen=True)
class Recovery:
    """One kill: the actor ``name`` (of kind ``kind``), its killed ``pid``, and seconds from the kill until it
    answered from a new process (``answered_s``) and until an order of ours reached its venue(s)
    (``trading_s`` >= ``answered_s``)."""

    name: str
    kind: str
    pid: int
    answered_s: float
    trading_s: float


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.1) -> Any:
    """Poll ``predicate()`` every ``every_s`` s until it returns something truthy (returned); after
    ``timeout_s`` s raise :class:`DrillTimeout` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DrillTimeout(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def kind_of(name: str) -> str:
    """``exchange:binance`` -> ``exchange``, ``strategy:sma_cross:X/Y@v`` -> ``strategy``, ``oms`` -> ``oms``."""
    return name.split(":", 1)[0]


def venue_order_count(session: PaperSession, venues: tuple[str, ...]) -> int:
    """Our orders in the books of ``venues`` (the emulators' own engines). A read that races an emulator
    thread taking an order ("dictionary changed size during iteration") is retried."""
    while True:
        try:
            return sum(len(session.venues[v].engine.orders(ACCOUNT, session.symbol)) for v in venues)
        except RuntimeError:
            time.sleep(0.001)


def actor_pid(session: PaperSession, name: str, timeout_s: float = 60.0) -> int:
    """The PID of the ALIVE actor ``name`` in the session's Ray namespace (Ray's state API)."""
    return actor_pids(session, (name,), timeout_s)[name]


def actor_pids(session: PaperSession, names: tuple[str, ...], timeout_s: float = 60.0) -> dict[str, int]:
    """``{name: PID}`` of the ALIVE actors ``names`` in the session's Ray namespace: one state-API query for
    all of them (each query costs the dashboard a few hundred ms of CPU), repeated until every name has exactly
    one ALIVE actor with a PID."""
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray loads when used)
    from ray.util.state import list_actors  # noqa: PLC0415 - late: as above

    def alive() -> dict[str, int] | None:
        rows = list_actors(address=ray.get_runtime_context().gcs_address,
                           filters=[("ray_namespace", "=", session.ray_namespace), ("state", "=", "ALIVE")],
                           detail=True, limit=10_000, timeout=30)
        found: dict[str, list[int]] = {}
        for r in rows:
            if r.name in names and r.pid:
                found.setdefault(r.name, []).append(int(r.pid))
        return {n: found[n][0] for n in names} if all(len(found.get(n, ())) == 1 for n in names) else None

    return wait_until(alive, timeout_s, f"{', '.join(names)} ALIVE with a PID", every_s=0.2)


def kill_plan(session: PaperSession, rounds: int, seed: int) -> list[tuple[str, float]]:
    """``(actor name, pause in s before its kill)``: ``rounds`` rounds over :data:`KINDS`; the venue of each
    exchange / runner kill and each pause (0.2-2 s) drawn from ``random.Random(seed)``."""
    rng = random.Random(seed)
    venues = session.request.venues
    plan = []
    for _ in range(rounds):
        for kind in KINDS:
            venue = rng.choice(venues)
            name = {"exchange": f"exchange:{venue}",
                    "strategy": f"strategy:{session.request.strategy}:{session.symbol}@{venue}"}.get(kind, kind)
            plan.append((name, rng.uniform(0.2, 2.0)))
    return plan


def kill_and_recover(session: PaperSession, name: str, timeout_s: float = 120.0) -> Recovery:
    """SIGKILL the process of actor ``name``; wait until it answers from a new PID and then until a new order
    reached the venue(s) it serves (module docstring). Raises :class:`DrillTimeout` after ``timeout_s`` s
    for either."""
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray loads when used)

    served = _served(session, name)
    pid = actor_pid(session, name)
    handle = session.actor(name)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    def back() -> bool:
        try:
            return ray.get(handle.ping.remote(), timeout=5) != pid
        except Exception:  # noqa: BLE001 - restarting: ask again
            return False

    wait_until(back, timeout_s, f"{name} to answer from a new process")
    answered = time.monotonic() - killed
    count = venue_order_count(session, served)
    wait_until(lambda: venue_order_count(session, served) > count, timeout_s,
               f"an order on {', '.join(served)} after {name} came back")
    return Recovery(name, kind_of(name), pid, answered, time.monotonic() - killed)


def kill_rounds(session: PaperSession, rounds: int, seed: int) -> list[tuple[tuple[str, ...], float]]:
    """:func:`kill_plan` (the same seeded draws) grouped by round: ``(the round's actor names, one of every kind
    in :data:`KINDS` order; the pause in s before the round)``, the pause being the round's first."""
    plan = kill_plan(session, rounds, seed)
    n = len(KINDS)
    return [(tuple(name for name, _ in plan[i:i + n]), plan[i][1]) for i in range(0, len(plan), n)]


def _served(session: PaperSession, name: str) -> tuple[str, ...]:
    """The venue(s) whose orders show that actor ``name`` trades again (module docstring)."""
    venues = session.request.venues
    return tuple(v for v in venues if name.endswith(f"@{v}") or name == f"exchange:{v}") or venues


def kill_all_and_recover(session: PaperSession, names: tuple[str, ...], timeout_s: float = 120.0,
                         ping_timeout_s: float = 5.0) -> list[Recovery]:
    """SIGKILL the processes of every actor in ``names`` at once (all PIDs first, then the kills back to back);
    wait until each answers ``ping`` from a new PID and then until a new order reached the venue(s) it serves
    after it answered. Times from the last kill; one :class:`Recovery` per name, in ``names`` order. A ping
    unanswered after ``ping_timeout_s`` is sent again. Raises :class:`DrillTimeout` after ``timeout_s`` s
    naming the actors not answering / not trading yet."""
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray loads when used)

    pids = actor_pids(session, names)
    handles = {name: session.actor(name) for name in names}
    served = {name: _served(session, name) for name in names}
    for name in names:
        os.kill(pids[name], signal.SIGKILL)
    killed = time.monotonic()
    pending: dict[str, tuple[Any, float]] = {}  # name -> (its ping's ref, when sent)
    answered: dict[str, float] = {}
    count_then: dict[str, int] = {}  # orders at the served venues when the actor answered
    trading: dict[str, float] = {}
    while len(trading) < len(names):
        now = time.monotonic()
        for name in names:
            if name not in answered and (name not in pending or now - pending[name][1] > ping_timeout_s):
                pending[name] = (handles[name].ping.remote(), now)
        if pending:
            refs = [ref for ref, _ in pending.values()]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.1)
            for name, (ref, _) in list(pending.items()):
                if ref not in ready:
                    continue
                del pending[name]
                try:
                    new_pid = ray.get(ref)
                except Exception:  # noqa: BLE001 - restarting: ask again
                    continue
                if new_pid != pids[name]:
                    answered[name] = time.monotonic() - killed
                    count_then[name] = venue_order_count(session, served[name])
        else:
            time.sleep(0.1)
        for name in answered:
            if name not in trading and venue_order_count(session, served[name]) > count_then[name]:
                trading[name] = time.monotonic() - killed
        if len(trading) < len(names) and time.monotonic() - killed > timeout_s:
            raise DrillTimeout(f"timed out after {timeout_s:g} s waiting for "
                               f"{[n for n in names if n not in answered]} to answer from a new process and "
                               f"{[n for n in answered if n not in trading]} to trade again")
    return [Recovery(name, kind_of(name), pids[name], answered[name], trading[name]) for name in names]
