"""vectorbt's numba kernels for tests/backtest/test_vectorbt_parity.py, compiled by a background process while the
suite's earlier tests run (a pytest plugin, loaded by tests/conftest.py).

vectorbt 1.2.0 compiles ``Portfolio.from_signals``'s simulation kernel (``vectorbt.portfolio.nb.
simulate_from_signals_nb``, declared without ``cache=True``) in every process that calls it, and its ``cache=True``
helpers once per fresh venv: the parity module's first case took ~40 s of compiling on 2 cores in a fresh clone.
Numba's disk cache is switched on for that kernel (:func:`use_disk_cache`, in both processes), and when the parity
tests are collected behind other tests, :func:`pytest_collection_finish` starts ``python -m tests._vectorbt_warm``
(at low CPU priority): it runs the module's first case through vectorbt (both fill conventions, every accessor the
tests read), so numba writes every kernel they need to its cache. The parity module waits for that process
(:func:`wait`) and then loads the kernels instead of compiling them. What is compared is unchanged: vectorbt
computes every number in the test's own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["use_disk_cache", "wait"]

REPO = Path(__file__).resolve().parents[1]
PARITY_FILE = "test_vectorbt_parity.py"
#: start the background compile only when at least this many tests run before the parity module (run alone, the
#: module compiles for itself: waiting on another process would gain nothing)
MIN_TESTS_BEFORE = 50

_proc: subprocess.Popen | None = None
_log: Path | None = None


def use_disk_cache() -> None:
    """Numba's disk cache for vectorbt's from_signals kernel (its ``cache=True`` helpers have it already)."""
    from vectorbt.portfolio import nb  # only the parity test and this process import it

    nb.simulate_from_signals_nb.enable_caching()


def wait(timeout_s: float = 90.0) -> str:
    """Wait (up to ``timeout_s``) for the background compile when one was started; what happened, for the log.

    Past ``timeout_s`` the background process is stopped and the test process compiles for itself (the wait
    counts toward the first parity test's time limit)."""
    if _proc is None:
        return "no background compile (this process compiles)"
    started = time.monotonic()
    if _proc.poll() is None:  # the parity tests wait on it now: its priority back to the test process's own
        try:
            os.setpriority(os.PRIO_PROCESS, _proc.pid, os.getpriority(os.PRIO_PROCESS, 0))
        except OSError:
            pass  # not allowed (not root): it keeps running niced
    try:
        rc = _proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _proc.kill()
        _proc.wait(timeout=30)
        return f"background compile stopped after {timeout_s:g} s (this process compiles)"
    return f"background compile exited {rc}, waited {time.monotonic() - started:.1f} s (log {_log})"


def pytest_collection_finish(session: pytest.Session) -> None:
    global _proc, _log
    first = next((i for i, item in enumerate(session.items) if item.path.name == PARITY_FILE), None)
    if first is None or first < MIN_TESTS_BEFORE or _proc is not None:
        return
    from tests._xdist import worker_id

    if worker_id(session.config) not in (None, "gw0"):
        return  # one background compile for the machine: the workers share numba's disk cache
    fd, name = tempfile.mkstemp(prefix="rt-vectorbt-warm-", suffix=".log")
    _log = Path(name)
    with os.fdopen(fd, "wb") as log:
        _proc = subprocess.Popen([sys.executable, "-m", "tests._vectorbt_warm"], cwd=REPO, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _proc is not None and _proc.poll() is None:
        _proc.kill()
        _proc.wait(timeout=30)
    if _log is not None:
        _log.unlink(missing_ok=True)


def _warm() -> None:
    """The parity module's first case through our engine and vectorbt, both fill conventions, every accessor its
    test reads."""
    from backtest.engine import run_backtest
    from market.samples import load_sample
    from strategies.sma_cross import sma_cross
    from tests.backtest.test_vectorbt_parity import CASES, CASH, FEE, _vectorbt

    use_disk_cache()
    sample, fast, slow = CASES[0]
    bars = load_sample(sample)
    target = sma_cross(bars, fast=fast, slow=slow)
    for fill in ("open", "close"):
        started = time.perf_counter()
        run_backtest(bars, target, fees_bps=FEE * 1e4, fill=fill, cash=CASH)  # the engine's kernels too
        pf = _vectorbt(bars, target, fill)
        closed = pf.trades.closed
        _ = (pf.trades.values, pf.total_return(), pf.value(), closed.win_rate(), closed.profit_factor(),
             closed.expectancy())
        print(f"{fill}: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    os.nice(10)  # the suite's own tests come first: this takes the CPU they leave idle
    _warm()
