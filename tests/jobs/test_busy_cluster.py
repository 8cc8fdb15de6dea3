"""Research jobs on a cluster where something else holds CPUs (issue 11 A1).

The shared test cluster has 2 CPUs. A detached, named actor stands in for
what held them in the report (the Serve replica's 0.25 CPU; a long job):
the sweep, walk-forward and Monte Carlo must size their work to what is
free and finish, and a request that cannot be placed must exit 2 within
seconds naming the holder, never wait silently.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

import jobs.resources as resources
import strategies  # noqa: F401 - registers the built-in strategies
from backtest.grid import expand_grid, parse_grid
from cluster import cli
from strategies.registry import get_strategy
from tests._trade import wait_for

HOG = "cpu-hog"


@pytest.fixture()
def hog(ray_session) -> Iterator[Callable[[float], float]]:
    """``hog(cpus)`` starts a detached actor named ``cpu-hog`` holding ``cpus`` CPUs (0 = all free now) and
    returns what it holds; it is killed at the end of the test."""
    import ray

    started = []

    @ray.remote
    class Hog:
        async def ping(self) -> int:
            return 1

        async def hold(self) -> None:
            """Never returns, as a stream loop's method: the state API shows this job's task RUNNING for as
            long as the actor lives (what hung these tests in CI: it was taken for work that frees CPUs)."""
            while True:
                await asyncio.sleep(1)

    def start(cpus: float) -> float:
        deadline = time.monotonic() + 60
        while cpus == 0:  # all that is free; wait until a previous test's workers gave theirs back
            free = resources.floor_cpus(ray.available_resources().get("CPU", 0.0))
            if free >= 2.0 or time.monotonic() > deadline:
                cpus = free
            time.sleep(0.5)
        actor = Hog.options(name=HOG, namespace="tests", num_cpus=cpus, lifetime="detached").remote()
        started.append(actor)
        ray.get(actor.ping.remote(), timeout=60)
        actor.hold.remote()
        return cpus

    yield start
    for actor in started:
        ray.kill(actor)
    deadline = time.monotonic() + 30  # give the CPUs back before the next test sizes its work
    while ray.available_resources().get("CPU", 0.0) < 1.99 and time.monotonic() < deadline:
        time.sleep(0.2)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = [x for x in captured.out.splitlines() if x.strip()]
    return code, (json.loads(lines[-1]) if code == 0 else {}), captured.err


@pytest.mark.timeout(600)
def test_sweep_walkforward_and_montecarlo_finish_beside_a_replica_sized_holder(
        hog, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    held = hog(0.25)  # what `raytrader serve up` holds by default (serve.replica_cpus)
    code, out, err = _run(["sweep", "--sample", "ETH-BTC-5m", "-g", "fast=5:30:5", "-g", "slow=10:60:10",
                           "--out", str(tmp_path / "sweep"), "--json"], capsys)
    assert code == 0, err[-2000:]
    # one trial, sized to what was free (at most the 1.75 the holder left), two numba threads
    assert out["n_trials"] == 1 and 0 < out["trial_cpus"] <= 2.0 - held
    assert out["threads_per_trial"] == resources.kernel_threads(out["trial_cpus"])
    _, params = expand_grid(get_strategy("sma_cross"), parse_grid(["fast=5:30:5", "slow=10:60:10"]))
    assert out["n_configs"] == len(params) and Path(out["results_path"]).is_file()

    code, out, err = _run(["walkforward", "--sample", "ETH-BTC-5m", "-g", "fast=4:20:4", "-g", "slow=20:60:20",
                           "--folds", "3", "--train-bars", "2000", "--json"], capsys)
    assert code == 0, err[-2000:]
    assert out["n_folds"] == len(out["folds"]) == 3

    code, out, err = _run(["montecarlo", "--sample", "ETH-BTC-5m", "-p", "fast=10", "-p", "slow=30",
                           "--paths", "400", "--tasks", "4", "--json"], capsys)
    assert code == 0, err[-2000:]
    assert out["n_paths"] == 400 and 0 < out["task_cpus"] <= 0.5


@pytest.mark.timeout(300)
def test_a_sweep_that_cannot_be_placed_exits_2_naming_the_holder(hog, tmp_path: Path, monkeypatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(resources, "GRACE_S", 1.0)
    held = hog(1.5)
    started = time.monotonic()
    code, _, err = _run(["sweep", "--sample", "ETH-BTC-5m", "-g", "fast=5:30:5", "-g", "slow=10:60:10",
                         "--trial-cpus", "1", "--out", str(tmp_path / "sweep"), "--json"], capsys)
    waited = time.monotonic() - started
    assert code == 2
    error = [x for x in err.splitlines() if x.startswith("raytrader: error:")]
    assert len(error) == 1, err[-2000:]
    assert f"actor {HOG} ({held:g} CPUs" in error[0] and "needs 1 free CPU(s) on one node" in error[0]
    assert "waiting up to 1 s" in err  # it said it was waiting, before failing
    assert waited < 120  # bounded by the grace period, not by the holder (which never ends)
    assert not (tmp_path / "sweep" / "results.parquet").exists()

    # more CPUs than any node has: no wait at all, and the message says why
    code, _, err = _run(["sweep", "--sample", "ETH-BTC-5m", "-g", "fast=5:30:5", "-g", "slow=10:60:10",
                         "--trial-cpus", "8", "--json"], capsys)
    assert code == 2 and "the largest node has 2" in err and "waiting" not in err


@pytest.mark.timeout(300)
def test_montecarlo_with_no_cpu_free_exits_2_naming_the_holder(hog, monkeypatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(resources, "GRACE_S", 1.0)
    hog(0)  # everything that is free
    code, _, err = _run(["montecarlo", "--sample", "ETH-BTC-5m", "-p", "fast=10", "-p", "slow=30",
                         "--paths", "100", "--json"], capsys)
    assert code == 2
    assert f"actor {HOG}" in err and "needs some free CPU" in err


@pytest.mark.timeout(300)
def test_the_task_watchdog_cancels_tasks_that_cannot_start(hog) -> None:
    """Tasks submitted before the CPUs were taken (the race the up-front check cannot see) fail, not hang."""
    import ray

    hog(0)

    @ray.remote(num_cpus=0.5)
    def work() -> int:
        return 1

    refs = [work.remote() for _ in range(3)]
    with pytest.raises(resources.ResourcesUnavailableError, match=f"3 Ray task.*actor {HOG}"):
        resources.gather(refs, what="test", task_cpus=0.5, stall_s=1.0)


@pytest.mark.timeout(300)
def test_the_tune_watchdog_stops_a_fit_whose_trials_cannot_start(hog, tmp_path: Path) -> None:
    from ray import tune

    hog(0)

    def trainable(config: dict) -> None:
        tune.report({"x": 1})

    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 0.5}),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0,
                                                 callbacks=[resources.tune_watchdog(what="test", trial_cpus=0.5,
                                                                                    stall_s=1.0)]))
    with pytest.raises(resources.ResourcesUnavailableError, match=f"actor {HOG}"):
        tuner.fit()


def test_own_work_lists_this_jobs_running_task_and_none_of_its_ended_ones(ray_session) -> None:
    """The watchdog's probe (``resources._own_placed_work``) asks the GCS for this job's tasks that have not ended:
    a running task is there, the 300 tasks that finished just before it are not (the probe once turned every ended
    task of the job into a row: 4 CPU-s of the dashboard and no answer in time after 13,000 tasks)."""
    import ray

    @ray.remote(num_cpus=1)  # at most two at once: they reuse the driver's two workers (at 0.01 CPU each of the
    def quick(i: int) -> int:  # 300 asked for a worker of its own, and Ray started ~12 processes of ~1 CPU-s)
        return i

    @ray.remote(num_cpus=0.01)
    def slow(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    ended = [quick.remote(i) for i in range(300)]
    assert ray.get(ended) == list(range(300))
    ended_ids = {f"task {ref.task_id().hex()}" for ref in ended}
    running = slow.remote(60.0)
    try:
        running_id = f"task {running.task_id().hex()}"

        def probe() -> frozenset[str] | None:
            own = resources._own_placed_work()
            return own if own is not None and running_id in own else None

        # the task's RUNNING event reaches the GCS within Ray's 1 s report interval
        own = wait_for(probe, 60, "the running task among the job's own placed work", every_s=0.5)
        assert running_id in own
        assert not own & ended_ids
        # the query itself leaves the ended tasks out (not only the probe's own state check after it)
        rows = resources._unended_tasks_of_this_job()
        listed = {f"task {r.task_id}" for r in rows}
        assert running_id in listed and not listed & ended_ids
        assert all(str(r.state) not in ("FINISHED", "FAILED") for r in rows)
    finally:
        ray.cancel(running, force=True)
