"""Parallel runs: `make test` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup
--no-loadscope-reorder``; `make test TEST_WORKERS=0` runs it serially); this plugin (loaded by tests/conftest.py)
decides what a worker takes as one unit.

Each worker is a pytest session of its own, with its own test cluster (Ray head + Redis, tests/conftest.py) and its
own session fixtures. A unit is sent to one worker whole and runs there in collection order:

* every test that uses the shared paper session (tests/_paper.py) or the package's ``deployed_api`` (tests/cluster):
  one unit, so the paper session's phases run in order on one session, and ``serve up`` is paid once;
* every test that uses tests/api's ``live_api``: one unit (test_serve.py's last test shuts that Serve down, so it
  must come after the other files that use it, as in a serial run);
* every other file: one unit (its module fixtures are set up once).

Units start longest first (:data:`LONG_FIRST`, measured wall seconds in a comment), so no long unit is left for the
end while the other worker idles; the rest follow in collection order. Outside xdist this plugin does nothing: a
serial ``pytest`` runs exactly as before.
"""

from __future__ import annotations

import pytest

__all__ = ["LONG_FIRST", "unit_of", "worker_id"]

#: units that start first, longest first (wall seconds of the unit in a serial run on 2 quiet cores, 2026-12-02);
#: a scheduling hint only: a stale entry costs balance, never a result
LONG_FIRST = (
    "tests/jobs/test_paper_crash.py",       # 179 s
    "tests/cluster/test_multinode.py",      # 124 s
    "shared:paper-and-serve",               # ~90 s
    "shared:live-api",                      # ~120 s
    "tests/cluster/test_crash_recovery.py",  # 60 s
    "tests/jobs/test_jobs.py",              # 48 s
    "tests/jobs/test_paper_routed.py",      # 36 s
    "tests/actors/test_exchange_actor.py",  # 35 s
    "tests/jobs/test_train_rl.py",          # 34 s
    "tests/actors/test_exchange_failures.py",  # 33 s
    "tests/jobs/test_paper_trade.py",       # 33 s
    "tests/jobs/test_busy_cluster.py",      # 31 s
    "tests/actors/test_exchange_coinbase.py",  # 28 s
    "tests/jobs/test_paper_arbitrage.py",   # 25 s
    "tests/api/test_trading_routes.py",     # 22 s
)


def unit_of(item: pytest.Item) -> str:
    """The unit ``item`` is sent to a worker with (module docstring)."""
    names = getattr(item, "fixturenames", ())
    if "paper_pool" in names or "deployed_api" in names:
        return "shared:paper-and-serve"
    if "live_api" in names:
        return "shared:live-api"
    return item.nodeid.split("::", 1)[0]


def worker_id(config: pytest.Config) -> str | None:
    """This process's xdist worker id (``gw0``, ``gw1``...), None outside a worker."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


@pytest.hookimpl(trylast=True)  # after tests/_paper.py's order; before xdist's own (trylast, registered earlier)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if worker_id(config) is None or not config.getoption("loadgroup", False):  # xdist sets it on workers
        return
    rank = {unit: k for k, unit in enumerate(LONG_FIRST)}
    units = {id(item): unit_of(item) for item in items}
    first_seen: dict[str, int] = {}
    for k, item in enumerate(items):
        first_seen.setdefault(units[id(item)], k)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(units[id(item)]))
    # stable: within a unit the collection order (tests/_paper.py's phases) is kept
    items.sort(key=lambda item: (rank.get(units[id(item)], len(rank)), first_seen[units[id(item)]]))
