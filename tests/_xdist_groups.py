"""How ``make test`` spreads the suite over two pytest-xdist workers (a pytest plugin, loaded by tests/conftest.py).

Most of the suite's wall time is spent on a Ray cluster that waits (a paper session replaying bars, a node whose
death is being noticed, a restarted actor importing its modules): one pytest process keeps the 2 CPUs ~70 % busy.
``make test`` runs two workers (``-n 2 --dist loadgroup``) so that one worker's waits are the other's CPU time.

Each worker is its own pytest session: its own run folder, ports, Ray cluster and Redis (tests/conftest.py gives
every process a fresh ``cluster_env``), started when its first test asks for them. What must not be split:

* a module: its module-scoped fixtures would be set up on both workers, and some modules order their tests;
* the modules that share one expensive session fixture (:data:`SHARED`, e.g. the paper session of
  tests/_paper.py, which its modules move forward phase by phase in a fixed order).

So every test is put in an ``xdist_group`` named after its module, and the modules that share a fixture of
:data:`SHARED` are merged into one group (union-find over modules). Work is handed out group by group in
collection order; within a group the tests keep their order. Without xdist (``pytest tests/x.py``) this plugin
only adds marks that nothing reads.
"""

from __future__ import annotations

import pytest

#: session fixtures whose modules must run in one worker (started once, moved forward in a fixed order)
SHARED = frozenset({"paper_pool"})


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def groups(items: list[pytest.Item]) -> dict[str, str]:
    """Module path -> group name: the module itself, or the first module (in collection order) of the set of
    modules that share a fixture of :data:`SHARED` with it."""
    parent: dict[str, str] = {}  # union-find; insertion order = first seen

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def rank(key: str) -> tuple[bool, int]:  # a module before a fixture, then the one seen first
        return key.startswith("fixture:"), list(parent).index(key)

    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        for name in SHARED.intersection(info.names_closure if info is not None else ()):
            a, b = find(_module(item)), find("fixture:" + name)
            if a != b:
                keep, drop = sorted((a, b), key=rank)
                parent[drop] = keep
    return {_module(item): find(_module(item)) for item in items}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks to name each test's group
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    of = groups(items)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(of[_module(item)]))
