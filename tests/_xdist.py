"""Parallel runs: `make test` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup
--no-loadscope-reorder``; `make test TEST_WORKERS=0` runs it serially); this plugin (loaded by tests/conftest.py)
decides what a worker takes as one unit.

Each worker is a pytest session of its own, with its own test cluster (Ray head + Redis, tests/conftest.py) and its
own session fixtures. A unit is sent to one worker whole and runs there in collection order:

* every test that uses the shared paper session (tests/_paper.py) or the package's ``deployed_api`` (tests/cluster):
  one unit, so the paper session's phases run in order on one session, and ``serve up`` is paid once;
* every test that uses tests/api's ``live_api``: one unit (test_serve.py's last test shuts that Serve down, so it
  must come after the other files that use it, as in a serial run);
* every other file: one unit (its module fixtures are set up once);
* a file with a test in a shared unit joins that unit whole: its module fixtures (test_fuzz.py's pool of fuzzing
  processes, used by its live test and its in-process tests) are then set up once too.

xdist turns a test's ``xdist_group`` mark into a suffix of its node id in its own (plain) collection hook, so the
marks are set in a hook wrapper, before every other implementation: a mark set later is ignored, and loadgroup then
deals single tests to both workers (until 2026-12-02 108 of 170 files ran partly on each worker, their module
fixtures set up twice). pytest stays below 9.2, where xdist 3.8's suffix is ignored too (pytest-xdist#1386).

Units start longest first (:data:`LONG_FIRST`, measured wall seconds in a comment), so no long unit is left for the
end while the other worker idles; the rest follow in collection order. Outside xdist this plugin does nothing: a
serial ``pytest`` runs exactly as before.
"""

from __future__ import annotations

import pytest

__all__ = ["LONG_FIRST", "units", "worker_id"]

#: units that start first, longest first (the units' summed test wall seconds in a two-worker run on 2 cores,
#: 2026-12-02 19:20, in which files were still split over both workers: rough); a scheduling hint only: a stale
#: entry costs balance, never a result
LONG_FIRST = (
    "shared:live-api",                      # 346 s (test_fuzz.py's pool of fuzzing processes included)
    "tests/cluster/test_multinode.py",      # 299 s
    "tests/jobs/test_paper_crash.py",       # 224 s
    "shared:paper-and-serve",               # 187 s
    "tests/jobs/test_train_rl.py",          # 140 s
    "tests/cluster/test_crash_recovery.py",  # 79 s
    "tests/jobs/test_paper_routed.py",      # 71 s
    "tests/jobs/test_paper_arbitrage.py",   # 66 s
    "tests/strategies/test_user_strategy_cluster.py",  # 61 s
    "tests/jobs/test_busy_cluster.py",      # 57 s
    "tests/jobs/test_paper_trade.py",       # 49 s
    "tests/api/test_trading_routes.py",     # 48 s
    "tests/jobs/test_paper_cli.py",         # 47 s
    "tests/jobs/test_jobs.py",              # 47 s
    "tests/actors/test_router.py",          # 35 s
)

#: the fixtures whose users form one unit, and the unit's name
SHARED = {"paper_pool": "shared:paper-and-serve", "deployed_api": "shared:paper-and-serve",
          "live_api": "shared:live-api"}


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def units(items: list[pytest.Item]) -> dict[int, str]:
    """The unit of each item (by ``id(item)``), as the module docstring says: files and shared units joined when a
    test of the file uses a shared fixture (transitively: two shared units one file uses become one)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra == rb:
            return
        if rb.startswith("shared:") and not ra.startswith("shared:"):  # a shared name stays the representative
            ra, rb = rb, ra  # (LONG_FIRST names it)
        parent[rb] = ra

    for item in items:
        names = getattr(item, "fixturenames", ())
        for shared in {unit for fixture, unit in SHARED.items() if fixture in names}:
            union(shared, _file(item))
    return {id(item): find(_file(item)) for item in items}


def worker_id(config: pytest.Config) -> str | None:
    """This process's xdist worker id (``gw0``, ``gw1``...), None outside a worker."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


def _in_loadgroup_worker(config: pytest.Config) -> bool:
    return worker_id(config) is not None and bool(config.getoption("loadgroup", False))  # xdist sets it on workers


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]):
    """Marks before every other implementation (xdist's own makes each ``xdist_group`` mark a node-id suffix, and
    ignores a mark set after it); the order after them all (after tests/_paper.py's order)."""
    if not _in_loadgroup_worker(config):
        return (yield)
    unit = units(items)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(unit[id(item)]))
    result = yield
    rank = {name: k for k, name in enumerate(LONG_FIRST)}
    first_seen: dict[str, int] = {}
    for k, item in enumerate(items):
        first_seen.setdefault(unit[id(item)], k)
    # stable: within a unit the collection order (tests/_paper.py's phases) is kept
    items.sort(key=lambda item: (rank.get(unit[id(item)], len(rank)), first_seen[unit[id(item)]]))
    return result
