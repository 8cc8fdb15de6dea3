"""Test-session wiring: one private raytrader cluster (Ray head + Redis) shared by every test that needs it.

Before any test module is imported, the environment is pointed at a fresh
run folder and free ports, so the suite never touches a cluster the user
started with `make run` (and vice versa). The cluster itself starts lazily,
the first time a test asks for the ``cluster`` fixture, and is stopped at
the end of the session; its teardown checks that no process of it is left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from raytrader.ports import STABLE_SPAN, free_port, free_port_block, free_ports, stable_ports  # noqa: F401 - free_port* are re-exported to the tests

# Property tests: deterministic example generation, and no per-example deadline (a loaded
# 2-core CI machine makes timing-based failures meaningless; speed lives in benchmarks/).
settings.register_profile("raytrader", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("raytrader")

REPO = Path(__file__).resolve().parents[1]


#: every port a cluster_env of this process has handed out: free until its cluster binds it, never handed out twice
_PROMISED: set[int] = set()


def _port_span() -> range:
    """This process's share of :data:`raytrader.ports.STABLE_SPAN`: all of it in a serial run, the k-th of n equal
    parts on pytest-xdist worker ``gwk`` of n, so two workers' clusters never pick the same port."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    k = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    width = len(STABLE_SPAN) // max(count, 1)
    return range(STABLE_SPAN.start + k * width, STABLE_SPAN.start + (k + 1) * width)


#: the test clusters' Prometheus scrape interval, seconds (the default, 5 s, is what ``make run`` uses)
TEST_SCRAPE_INTERVAL_S = 15.0


def cluster_env(home: Path) -> dict[str, str]:
    """Environment for a private raytrader cluster in ``home`` on free, pairwise distinct ports."""
    # the API's direct-ingress ports are SERVE__PORT..+9 and Serve's proxy +10 (see cluster/rayenv.serve_env); all
    # are bound long after this pick, so they come from below the kernel's ephemeral range (raytrader.ports), a
    # share of it per pytest-xdist worker: under two workers a port in the ephemeral range was once taken before
    # Ray bound it ("missing listeners" in test_listeners.py, 2026-12-02)
    serve, (gcs, dashboard, client, agent) = stable_ports(11, 4, span=_port_span(), exclude=_PROMISED)
    _PROMISED.update(range(serve, serve + 11), (gcs, dashboard, client, agent))
    return {
        "RAYTRADER_CLUSTER__HOME": str(home),
        "RAYTRADER_CLUSTER__TEMP_DIR": str(home / "ray"),
        "RAYTRADER_CLUSTER__GCS_PORT": str(gcs),
        "RAYTRADER_CLUSTER__DASHBOARD_PORT": str(dashboard),
        "RAYTRADER_CLUSTER__CLIENT_PORT": str(client),
        "RAYTRADER_CLUSTER__AGENT_PORT": str(agent),
        "RAYTRADER_CLUSTER__NUM_CPUS": "2",
        "RAYTRADER_SERVE__PORT": str(serve),
        "RAYTRADER_DATA__STORE": str(home / "store"),
        # Ray's metrics agent rebuilds every series for each scrape: at the default 5 s it used ~2.5x the CPU of
        # an idle head's agent (110 vs 44 ticks in 30 s); tests/cluster/test_prometheus.py is the one reader
        "RAYTRADER_PROMETHEUS__SCRAPE_INTERVAL_S": str(TEST_SCRAPE_INTERVAL_S),
    }


_SESSION_HOME = Path(tempfile.mkdtemp(prefix="rt-test-", dir="/tmp"))  # short: Ray puts unix sockets under it


def pytest_configure(config: pytest.Config) -> None:
    for var in [v for v in os.environ if v.startswith("RAYTRADER_") or v == "REDIS_URL"]:
        del os.environ[var]
    os.environ.update(cluster_env(_SESSION_HOME))
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # drivers join the loopback-only head (cluster/rayenv.py)
    config.pluginmanager.import_plugin("tests._paper")  # the paper session several modules share, and their order
    config.pluginmanager.import_plugin("tests._vectorbt_warm")  # vectorbt's kernels compiled in the background
    config.pluginmanager.import_plugin("tests._xdist")  # what one pytest-xdist worker takes whole (`make test`)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster() -> Iterator["object"]:
    """The shared test cluster's state (``raytrader.state.ClusterState``), started on first use."""
    from raytrader.config import load_config
    from cluster.lifecycle import down, session_members, up

    config = load_config()
    try:
        result = up(config)
    except BaseException:
        down(config)  # `up` records what did start (e.g. Redis when Ray timed out): stop it, leave nothing behind
        raise
    try:
        yield result.state
    finally:
        from raytrader.state import read_state

        now = read_state(config.cluster.home)  # a test may have had `up` replace a killed redis-server
        records = (result.state.ray, result.state.redis, *((now.ray, now.redis) if now else ()))
        leaders = list(dict.fromkeys(p.process for p in records if p and p.process))
        from cluster.prometheus import read_record

        prom = read_record(config)
        if prom and prom.process:
            leaders.append(prom.process)  # Prometheus, started by `up` in a session of its own
        down(config)
        left = [proc.pid for leader in leaders for proc in session_members(leader)]
        assert not left, f"processes of the test cluster survived `down`: {left}"


@pytest.fixture(scope="session")
def ray_session(cluster) -> Iterator[None]:
    """A Ray driver attached to the shared test cluster (for tests that call ray directly)."""
    import ray

    ray.init(address=cluster.ray.gcs_address, log_to_driver=False)
    try:
        yield None
    finally:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _strategy_path_does_not_leak() -> Iterator[None]:
    """``cluster.cli.main`` exports the config's strategy folder (for Ray workers and subprocesses); a test that
    calls it in-process must not hand that folder to the tests after it."""
    before = os.environ.get("RAYTRADER_STRATEGIES__PATH")
    yield
    if before is None:
        os.environ.pop("RAYTRADER_STRATEGIES__PATH", None)
    else:
        os.environ["RAYTRADER_STRATEGIES__PATH"] = before
