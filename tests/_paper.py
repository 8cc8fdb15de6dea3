"""One paper session shared by the tests that only read or extend a finished one (a pytest plugin: see
``pytest_configure`` in tests/conftest.py).

A :class:`jobs.paper_trade.PaperSession` costs ~25 s on 2 cores (emulators, six actors, ccxt's load_markets,
trading until each venue has filled a few orders); the audit trail, the paper report, the Prometheus test
and the live-risk kill switch used to start one each. They share this one, in phases; a session only moves
forward, and a test that needs an earlier phase than the live session has reached gets a fresh session:

1. ``paper_finished`` / ``paper_summary``: sma_cross(3, 8) traded on ``binance`` and ``coinbase`` until each
   venue filled :data:`MIN_FILLS` orders; the strategies stopped, the OMS settled, every venue fill journaled;
   nothing else was done to it. Its journal and the venues' books are read by tests/cluster/test_audit_trail.py;
   its summary (:meth:`PaperSession.summary`, what ``raytrader paper`` prints) draws the paper report in
   tests/cluster/test_report_browser.py.
2. ``paper_metrics``: tests/cluster/test_prometheus.py adds orders of its own (a held position, a venue
   rejection, a denial while halted) and leaves it ACTIVE.
3. ``paper_halting``: tests/risk/test_live_risk.py breaks a VaR limit; the kill switch leaves it HALTED.

Order, made explicit: :func:`pytest_collection_modifyitems` moves every test that uses one of these fixtures
to the end of the package (folder) of the first of them, sorted by phase (stable otherwise), so the session is
started once and is live only while they run; :func:`pytest_runtest_teardown` closes it after the last of them
(its journal stays in Redis, its venues' books in memory, its summary here). Any subset of the tests, or
one file alone, still gets what it needs (a fresh session when the live one has moved past its phase).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any, Iterator

import pytest

__all__ = ["MIN_FILLS", "FINISHED", "METRICS", "HALTING", "SharedPaper", "venue_fills"]

#: filled orders per venue before the strategies stop
MIN_FILLS = 3
FINISHED, METRICS, HALTING = 1, 2, 3
#: fixture -> the phase its test leaves the session in (the order the tests run in)
PHASE_OF = {"paper_finished": FINISHED, "paper_summary": FINISHED, "paper_metrics": METRICS,
            "paper_halting": HALTING}


def venue_fills(session: Any) -> dict[str, list[Any]]:
    """Each venue's own record of our fills (not our view of them)."""
    from jobs.paper_trade import ACCOUNT, _retrying

    return {name: _retrying(lambda v=v: v.engine.fills(ACCOUNT, session.symbol)) for name, v in session.venues.items()}


class SharedPaper:
    """The live shared session (at most one), the phase it has reached, and the summary taken when finished."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self.session: Any = None
        self.phase = 0
        self.summary: dict[str, Any] | None = None

    def at(self, phase: int) -> Any:
        """The live session, moved to ``phase`` by the caller; a fresh finished one if it is already past it."""
        if self.session is None or self.phase > phase:
            self.close()
            self._start_finished()
        self.phase = phase
        return self.session

    def finished_summary(self) -> dict[str, Any]:
        """The summary of a session taken in its finished phase (the live one, or an earlier one)."""
        if self.summary is None:
            self.summary = self.at(FINISHED).summary()
        return self.summary

    def _start_finished(self) -> None:
        import ray

        from jobs.paper_trade import PaperRequest, PaperSession

        request = PaperRequest(params=(("fast", 3), ("slow", 8)), speed=600.0, seconds=60, warmup_bars=30)
        stack = ExitStack()
        try:
            s = stack.enter_context(PaperSession(request))
            deadline = time.monotonic() + 150
            while min(len(f) for f in venue_fills(s).values()) < MIN_FILLS:
                assert time.monotonic() < deadline, f"venues filled {[len(f) for f in venue_fills(s).values()]}"
                time.sleep(0.5)
            s.stop_strategies()
            s.settle()
            want = sum(len(f) for f in venue_fills(s).values())
            deadline = time.monotonic() + 60
            while ray.get(s.oms.status.remote(), timeout=60)["fills"] < want:  # the OMS pulls the last fills
                assert time.monotonic() < deadline, "the OMS did not journal every venue fill"
                ray.get(s.oms.sync.remote(), timeout=60)
                time.sleep(0.3)
        except BaseException:
            stack.close()
            raise
        self._stack, self.session, self.phase, self.summary = stack, s, FINISHED, None

    def close(self) -> None:
        """Stop the live session (its journal stays in Redis; its venues' books stay readable)."""
        stack, self._stack, self.session, self.phase = self._stack, None, None, 0
        if stack is not None:
            stack.close()


_POOL = SharedPaper()


@pytest.fixture(scope="session")
def paper_pool(ray_session: None) -> Iterator[SharedPaper]:
    try:
        yield _POOL
    finally:
        _POOL.close()


@pytest.fixture
def paper_finished(paper_pool: SharedPaper) -> Any:
    """A finished session (phase 1, module docstring) that nothing else touched."""
    return paper_pool.at(FINISHED)


@pytest.fixture
def paper_summary(paper_pool: SharedPaper) -> dict[str, Any]:
    """The summary of a finished session, as ``raytrader paper`` / ``python -m jobs.paper_trade`` print it."""
    return paper_pool.finished_summary()


@pytest.fixture
def paper_metrics(paper_pool: SharedPaper) -> Any:
    """The finished session, for a test that adds orders of its own and leaves it ACTIVE (phase 2)."""
    return paper_pool.at(METRICS)


@pytest.fixture
def paper_halting(paper_pool: SharedPaper) -> Any:
    """The session, for a test that halts it (phase 3, the last)."""
    return paper_pool.at(HALTING)


def _phase(item: pytest.Item) -> int | None:
    """The phase ``item`` leaves the shared session in; None when it does not use it."""
    names = getattr(item, "fixturenames", ())
    if "paper_pool" not in names:
        return None
    return max([p for name, p in PHASE_OF.items() if name in names], default=FINISHED)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    users = [(i, item) for i, item in enumerate(items) if _phase(item) is not None]
    if not users:
        return
    order = sorted(users, key=lambda u: (_phase(u[1]), u[0]))
    block = [item for _, item in order]
    rest = [item for item in items if _phase(item) is None]
    # after the last other test of the folder of the block's first test: package fixtures (e.g. tests/cluster's
    # Serve API) stay up for the block's tests in that folder, and the tests of other folders come after them
    folder = block[0].path.parent
    at = max((k + 1 for k, item in enumerate(rest) if item.path.parent == folder),
             default=sum(1 for item in items[:order[0][0]] if _phase(item) is None))
    items[:] = rest[:at] + block + rest[at:]


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if _POOL.session is not None and (nextitem is None or _phase(nextitem) is None):
        _POOL.close()  # the last test of the block: nothing keeps replaying while the other tests run
