"""CPUs for research jobs: size the work to what is free, and never wait silently for CPUs that others hold.

A Ray task or Tune trial that asks for more CPUs than any node has *free*
waits in Ray's queue with no message, for ever if the holder is a
long-lived actor (a Serve replica holds ``serve.replica_cpus``, 0.25 by
default, for as long as the API is deployed). So every research job:

1. reads the free and total CPUs per node (:func:`cluster_cpus`);
2. sizes its work to the free CPUs with the pure rules below
   (:func:`size_trials`, :func:`size_tasks`; fractions of a CPU are fine);
3. if nothing fits, waits at most :data:`GRACE_S` seconds (CPUs that a
   finished job releases come back within a second or two), saying so on
   stderr, then raises :class:`ResourcesUnavailableError` naming what holds
   the CPUs (Serve replicas, named actors, Tune trials, tasks, and the job
   or command each belongs to, from Ray's state API);
4. while it runs, a watchdog (:func:`gather` for tasks,
   :func:`tune_watchdog` for Tune) raises the same error when none of its
   work has run for :data:`GRACE_S` seconds and its request no longer fits
   (someone took the CPUs between the check and the start).

A request larger than any node's *total* CPUs can never run and fails at
once. The sizing rules and the message are pure (no Ray) and tested
without a cluster; the functions that ask Ray import it themselves.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence, TypeVar

from raytrader.errors import InputError

__all__ = ["ResourcesUnavailableError", "NodeCpus", "Holder", "TrialSizing", "MIN_CPUS", "GRACE_S",
           "floor_cpus", "kernel_threads", "size_trials", "size_tasks", "largest_total", "unavailable_message",
           "holder_label", "cluster_cpus", "cpu_holders", "wait_for_cpus", "plan_trials", "plan_tasks", "gather",
           "tune_watchdog", "OwnWork", "OWN_WORK_STALL_S"]

#: the smallest CPU share worth scheduling; less free than this counts as nothing free
MIN_CPUS = 0.05

#: seconds a request waits for CPUs (and a running job for progress) before it fails naming the holders
GRACE_S = 10.0

#: seconds this job's own placed work may stay unchanged (no task of it started or finished) and still excuse
#: a wait for CPUs; after that the wait fails naming the holders, so no state can make a job wait for ever
OWN_WORK_STALL_S = 600.0

#: seconds one state-API call may take (the dashboard answers in well under one on a sound cluster)
STATE_TIMEOUT_S = 5

T = TypeVar("T")


class ResourcesUnavailableError(InputError):
    """The CPUs a job asks for are not free (or do not exist); the message names what holds them."""


@dataclass(frozen=True)
class NodeCpus:
    """One alive node's CPUs: ``total`` it has, ``free`` nobody holds now (both >= 0, free <= total)."""

    node_id: str
    total: float
    free: float


@dataclass(frozen=True)
class Holder:
    """Something that holds CPUs: a human label (``Serve replica raytrader-api/SignalsIngress``), the CPUs,
    and the job it belongs to (``job 03000000: raytrader sweep ...``; empty when unknown)."""

    label: str
    cpus: float
    job: str = ""


@dataclass(frozen=True)
class TrialSizing:
    """CPUs per Tune trial, numba threads inside it, and how many such trials fit in the free CPUs (>= 1)."""

    trial_cpus: float
    threads: int
    concurrent: int


def floor_cpus(cpus: float) -> float:
    """``cpus`` rounded down to a hundredth (Ray keeps 4 decimals; a hundredth keeps the numbers readable)."""
    return math.floor(max(0.0, cpus) * 100 + 1e-6) / 100


def kernel_threads(trial_cpus: float) -> int:
    """Numba threads of a trial holding ``trial_cpus``: rounded to the nearest whole CPU (half up), at least 1.

    1.75 CPUs (a node of 2 beside a 0.25-CPU Serve replica, which idles) runs 2 threads; 0.5 runs 1.
    """
    return max(1, int(math.floor(trial_cpus + 0.5)))


def largest_total(nodes: Sequence[NodeCpus]) -> float:
    return max((n.total for n in nodes), default=0.0)


def _largest_free(nodes: Sequence[NodeCpus]) -> float:
    return max((floor_cpus(n.free) for n in nodes), default=0.0)


def size_trials(nodes: Sequence[NodeCpus], *, requested: float = 0.0, whole_node: bool = True) -> TrialSizing | None:
    """Size Tune trials to the free CPUs; None when they do not fit now.

    * ``requested > 0`` (``--trial-cpus``): that many CPUs per trial, if a node has them free.
    * ``whole_node``: one trial holding the largest free share of a node (the kernel's threads inside).
    * otherwise (Optuna, ASHA: many small trials): the largest free share split into
      ``ceil(free)`` equal trials of at most 1 CPU (1.75 free: two trials of 0.87).

    ``concurrent`` counts the trials of that size the free CPUs of all nodes hold at once.
    """
    best = _largest_free(nodes)
    if requested > 0:
        trial = requested
    elif whole_node:
        trial = best
    else:
        trial = floor_cpus(best / math.ceil(best)) if best >= 1 else best
    if trial < MIN_CPUS or trial > best + 1e-9:
        return None
    concurrent = sum(int(floor_cpus(n.free) / trial + 1e-9) for n in nodes)
    return TrialSizing(trial_cpus=trial, threads=kernel_threads(trial), concurrent=max(1, concurrent))


def size_tasks(nodes: Sequence[NodeCpus], per_task: float) -> float | None:
    """CPUs per Ray task: ``per_task`` when a node has that free, else the largest free share
    (at least :data:`MIN_CPUS`), else None (nothing free now)."""
    best = _largest_free(nodes)
    if best >= per_task:
        return per_task
    return best if best >= MIN_CPUS else None


def unavailable_message(what: str, need: float, nodes: Sequence[NodeCpus], holders: Iterable[Holder], *,
                        waited_s: float = 0.0, hint: str = "") -> str:
    """One line: what could not start, what is free, and what holds the CPUs (largest first, 6 at most)."""
    total = sum(n.total for n in nodes)
    free = sum(floor_cpus(n.free) for n in nodes)
    if need > largest_total(nodes) + 1e-9:
        return (f"{what}: needs {need:g} CPU(s) on one node but the largest node has {largest_total(nodes):g} "
                f"(cluster: {total:g} CPUs){'; ' + hint if hint else ''}")
    ranked = sorted(holders, key=lambda h: -h.cpus)
    shown = "; ".join(f"{h.label} ({h.cpus:g} CPU{'' if h.cpus == 1 else 's'}"
                      f"{', ' + h.job if h.job else ''})" for h in ranked[:6])
    more = f"; and {len(ranked) - 6} more" if len(ranked) > 6 else ""
    held = f"held by: {shown}{more}" if ranked else "no holder found in Ray's state API (it may have just ended)"
    waited = f" after waiting {waited_s:.0f} s" if waited_s >= 1 else ""
    wants = "some free CPU" if need <= MIN_CPUS else f"{need:g} free CPU(s) on one node"
    return (f"{what}: needs {wants} but only {free:g} of {total:g} are free{waited}; {held}"
            f"{'; ' + hint if hint else ''}")


def holder_label(class_name: str, name: str | None) -> str:
    """A person's name for an actor: Serve replicas, proxies and controllers, Tune trials, else the actor's name."""
    if class_name.startswith("ServeReplica:"):
        parts = class_name.split(":")
        return f"Serve replica {'/'.join(parts[1:])}"
    if class_name in ("ServeController", "ProxyActor"):
        return f"Serve {'controller' if class_name == 'ServeController' else 'proxy'}"
    if class_name in ("ImplicitFunc", "_Inner") or class_name.startswith("ImplicitFunc"):
        return "Ray Tune trial"
    return f"actor {name}" if name else f"actor {class_name}"


def _cpu_of(resources: dict[str, float] | None) -> float:
    """CPUs in a resource request: ``CPU`` or its placement-group form ``CPU_group_<pg>`` (largest)."""
    values = [float(v) for k, v in (resources or {}).items() if k == "CPU" or k.startswith("CPU_group_")]
    return max(values, default=0.0)


def _job_text(entrypoint: str | None, job_id: str, own: str) -> str:
    if job_id == own:
        return "this job"
    if not entrypoint:
        return f"job {job_id}"
    words = entrypoint.split()
    while words and ("/" in words[0] and (words[0].endswith("python") or "python3" in words[0])):
        words = words[1:]  # the interpreter path tells a person nothing
    if words and words[0].endswith("/raytrader"):
        words[0] = "raytrader"
    text = " ".join(words)
    return f"job {job_id}: {text[:70]}{'...' if len(text) > 70 else ''}"


# ---- the parts that ask Ray ------------------------------------------------------------------------------------


def cluster_cpus() -> list[NodeCpus]:
    """Total and free CPUs of every alive node (Ray initialised)."""
    from ray._private.state import available_resources_per_node, total_resources_per_node  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    totals = total_resources_per_node()
    free = available_resources_per_node()
    return [NodeCpus(node_id=node, total=float(res.get("CPU", 0.0)),
                     free=min(float(res.get("CPU", 0.0)), float(free.get(node, {}).get("CPU", 0.0))))
            for node, res in totals.items()]


def cpu_holders() -> list[Holder]:
    """What holds CPUs now: alive actors, running tasks and placement groups with CPUs, from Ray's state API.

    Best effort: an unreachable state API gives an empty list (the message then says no holder was found).
    """
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    try:
        from ray.util.state import list_actors, list_jobs, list_placement_groups, list_tasks  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        address = ray.get_runtime_context().gcs_address
        own = ray.get_runtime_context().get_job_id()
        entry = {j.job_id: j.entrypoint for j in list_jobs(address=address) if j.job_id}
        out: list[Holder] = []
        pgs_with_actors: set[str] = set()
        for a in list_actors(address=address, filters=[("state", "=", "ALIVE")], detail=True, limit=10_000,
                             raise_on_missing_output=False):
            if a.placement_group_id:
                pgs_with_actors.add(a.placement_group_id)
            cpus = _cpu_of(a.required_resources)
            if cpus > 0:
                out.append(Holder(holder_label(a.class_name, a.name), cpus, _job_text(entry.get(a.job_id), a.job_id, own)))
        for t in list_tasks(address=address, filters=[("state", "=", "RUNNING")], detail=True, limit=10_000,
                            raise_on_missing_output=False):
            cpus = _cpu_of(t.required_resources)
            if t.type == "NORMAL_TASK" and cpus > 0:
                out.append(Holder(f"task {t.name}", cpus, _job_text(entry.get(t.job_id), t.job_id, own)))
        for pg in list_placement_groups(address=address, filters=[("state", "=", "CREATED")], detail=True,
                                        limit=10_000, raise_on_missing_output=False):
            if pg.placement_group_id in pgs_with_actors:
                continue  # its actor is listed already
            cpus = sum(_cpu_of(b.get("resources_per_bundle") or b.get("unit_resources")) for b in (pg.bundles or []))
            if cpus > 0:
                label = f"placement group {pg.name or pg.placement_group_id[:8]}"
                out.append(Holder(label, cpus, _job_text(entry.get(pg.creator_job_id), pg.creator_job_id, own)))
        return out
    except Exception:  # noqa: BLE001 - the holders only decorate an error message; never mask it
        return []


def _notice(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def wait_for_cpus(fit: Callable[[list[NodeCpus]], T | None], *, what: str, need: float, grace_s: float | None = None,
                  hint: str = "", notice: Callable[[str], None] = _notice) -> T:
    """``fit(nodes)`` on the current CPUs until it returns a sizing, for at most ``grace_s`` seconds of
    waiting on *other* work: while this job's own tasks hold the CPUs (the demo's backtests before its
    walk-forward), the wait goes on, since they will free them.

    Raises:
        ResourcesUnavailableError: ``need`` CPUs exceed every node's total (at once), or nothing fitted in time.
    """
    grace_s = GRACE_S if grace_s is None else grace_s
    started = time.monotonic()
    nodes = cluster_cpus()
    if need > largest_total(nodes) + 1e-9:
        raise ResourcesUnavailableError(unavailable_message(what, need, nodes, [], hint=hint))
    told = False
    own = OwnWork()
    while True:
        sized = fit(nodes)
        if sized is not None:
            return sized
        waited = time.monotonic() - started
        if waited >= grace_s and own.excuses(unknown=False):
            started = time.monotonic()  # this job's own tasks hold the CPUs: they will free them, keep waiting
            waited = 0.0
        if waited >= grace_s:
            raise ResourcesUnavailableError(unavailable_message(what, need, nodes, cpu_holders(), waited_s=waited,
                                                                hint=hint))
        if not told:
            wants = "a free CPU" if need <= MIN_CPUS else f"{need:g} free CPU(s)"
            notice(f"{what}: waiting up to {grace_s:.0f} s for {wants} "
                   f"({sum(floor_cpus(n.free) for n in nodes):g} of {sum(n.total for n in nodes):g} free now)")
            told = True
        time.sleep(0.5)
        nodes = cluster_cpus()


def plan_trials(*, requested: float, whole_node: bool, what: str = "sweep", grace_s: float | None = None) -> TrialSizing:
    """:func:`size_trials` on the live cluster, waiting at most ``grace_s`` (see :func:`wait_for_cpus`)."""
    hint = "stop what holds them, or pass a smaller --trial-cpus" if requested else "stop what holds them"
    return wait_for_cpus(lambda nodes: size_trials(nodes, requested=requested, whole_node=whole_node),
                         what=f"{what}: a Ray Tune trial", need=requested or MIN_CPUS, grace_s=grace_s, hint=hint)


def plan_tasks(per_task: float, *, what: str, grace_s: float | None = None) -> float:
    """:func:`size_tasks` on the live cluster, waiting at most ``grace_s`` (see :func:`wait_for_cpus`)."""
    return wait_for_cpus(lambda nodes: size_tasks(nodes, per_task), what=f"{what}: a Ray task", need=MIN_CPUS,
                         grace_s=grace_s)


#: task states in which a task holds (or is about to hold) a node's CPUs: it is starting or running
_PLACED = ("SUBMITTED_TO_WORKER", "PENDING_ARGS_FETCH", "PENDING_OBJ_STORE_MEM_AVAIL", "RUNNING")

#: state-API filters that leave out tasks that have ended (ANDed, applied by the GCS)
_ENDED_FILTERS = (("state", "!=", "FINISHED"), ("state", "!=", "FAILED"))

#: task types whose end frees CPUs: a task, or an actor being created. A method running on a live actor
#: (an ACTOR_TASK: a stream loop, a long poll) frees nothing when it returns, and may never return.
_FREEING_TYPES = ("NORMAL_TASK", "ACTOR_CREATION_TASK")


def _unended_tasks_of_this_job(timeout_s: float = STATE_TIMEOUT_S) -> list[Any]:
    """The state API's rows of this driver's job's tasks that have not ended (any other state).

    The GCS applies the filters (source side): without the two state filters every finished task of the job was
    turned into a row - 1.3 CPU-s of the dashboard's state head after 3,000 tasks, and no answer within
    STATE_TIMEOUT_S after 13,000. Raises what the state API raises (no answer in ``timeout_s``)."""
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray.util.state import list_tasks  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    ctx = ray.get_runtime_context()
    return list_tasks(address=ctx.gcs_address, limit=10_000, timeout=timeout_s,
                      filters=[("job_id", "=", ctx.get_job_id()), *_ENDED_FILTERS], raise_on_missing_output=False)


def _own_placed_work() -> frozenset[str] | None:
    """Ids of this driver's job's tasks, starting actors and placement groups that hold CPUs or are starting
    on a node (None: the state API did not answer). Work that is placed is progress, however slowly it starts."""
    try:
        placed = {f"task {t.task_id}" for t in _unended_tasks_of_this_job()
                  if str(t.state) in _PLACED and str(t.type) in _FREEING_TYPES}
        # this job's placement groups and Tune trials count; its other actors (long-lived helpers that
        # hold CPUs) are exactly what can starve its tasks, so they do not
        return frozenset(placed | {h.label for h in cpu_holders() if h.job == "this job"
                                   and not h.label.startswith("actor ")})
    except Exception:  # noqa: BLE001 - unknown: the caller decides (see OwnWork.excuses)
        return None


class OwnWork:
    """Whether this job's own placed work still excuses waiting for CPUs: some is placed (it will free them)
    and it changed - a task of it started or finished - within ``stall_s`` seconds. A task the state API
    shows running for ever (a lost end event, a leak) thus excuses at most ``stall_s`` of waiting.

    ``probe`` returns the ids of the placed work (None: unknown); ``clock`` is in seconds.
    """

    def __init__(self, probe: Callable[[], frozenset[str] | None] | None = None, *,
                 stall_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._probe = probe or _own_placed_work
        self._stall_s = OWN_WORK_STALL_S if stall_s is None else stall_s
        self._clock = clock
        self._seen: frozenset[str] | None = None
        self._since = clock()

    def excuses(self, *, unknown: bool) -> bool:
        """Probe once. ``unknown``: what an unanswered probe means (it counts as no change)."""
        own = self._probe()
        now = self._clock()
        if own is not None and own != self._seen:
            self._seen, self._since = own, now
        if now - self._since >= self._stall_s:
            return False
        return unknown if own is None else bool(own)


def gather(refs: Sequence[Any], *, what: str, task_cpus: float, progress: Callable[[int, int], None] | None = None,
           stall_s: float | None = None) -> list[Any]:
    """``ray.get(refs)`` in order, reporting ``progress(done, total)``, with a scheduling watchdog.

    When no task has finished for ``stall_s`` seconds, no node has ``task_cpus`` free and none of this
    job's work is placed on a node (running, or starting a worker), the remaining tasks are cancelled
    and :class:`ResourcesUnavailableError` names what holds the CPUs. Slow tasks, and tasks whose
    workers are slow to start, are never interrupted.
    """
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    stall_s = GRACE_S if stall_s is None else stall_s
    own = OwnWork()
    pending = list(refs)
    done: set[Any] = set()
    last = time.monotonic()
    if progress:
        progress(0, len(refs))
    while pending:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        if ready:
            done.update(ready)
            last = time.monotonic()
            if progress:
                progress(len(done), len(refs))
            continue
        if time.monotonic() - last < stall_s:
            continue
        nodes = cluster_cpus()
        if size_tasks(nodes, task_cpus) != task_cpus and not own.excuses(unknown=True):
            for ref in pending:
                ray.cancel(ref, force=True)
            raise ResourcesUnavailableError(unavailable_message(
                f"{what}: {len(pending)} Ray task(s) of {task_cpus:g} CPU could not start", task_cpus, nodes,
                cpu_holders(), waited_s=time.monotonic() - last))
        last = time.monotonic()
    return ray.get(list(refs))


def tune_watchdog(*, what: str, trial_cpus: float, stall_s: float | None = None) -> Any:
    """A Tune ``Callback`` that fails the fit when trials wait for CPUs that do not come (see :func:`gather`)."""
    from ray.tune import Callback  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    stall = GRACE_S if stall_s is None else stall_s

    class _Watchdog(Callback):
        def __init__(self) -> None:
            self.last = time.monotonic()
            self.own = OwnWork()

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            now = time.monotonic()
            waiting = any(t.status == "PENDING" for t in trials)
            if not waiting or any(t.status == "RUNNING" for t in trials):
                self.last = now
                return
            if now - self.last < stall:
                return
            nodes = cluster_cpus()
            # trials whose placement groups exist are starting (worker start-up can take many seconds)
            if size_trials(nodes, requested=trial_cpus) is None and not self.own.excuses(unknown=True):
                raise ResourcesUnavailableError(unavailable_message(
                    f"{what}: Ray Tune trials of {trial_cpus:g} CPU could not start", trial_cpus, nodes,
                    cpu_holders(), waited_s=now - self.last))
            self.last = now

    return _Watchdog()
