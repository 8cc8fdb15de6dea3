"""``process_infos``: each caller's attributes stay its own while other iterations over the processes run."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import psutil

from raytrader.processes import process_infos


def test_psutil_shares_info_between_iterations_so_an_interleaved_one_overwrites_it() -> None:
    """The hazard ``process_infos`` exists for (if psutil stops sharing, this fails and the module can go)."""
    list(psutil.process_iter())  # psutil caches one Process per PID from here on
    first = psutil.process_iter(["status"])
    proc = next(first)
    other = next(psutil.process_iter(["name"]))
    assert other is proc and "status" not in proc.info


def test_an_interleaved_iteration_leaves_each_callers_dict_alone() -> None:
    list(psutil.process_iter())
    mine = process_infos(["status", "create_time"])
    pairs = [next(mine) for _ in range(3)]
    list(itertools.islice(psutil.process_iter(["name"]), 10))  # the other caller reads the same PIDs
    for proc, info in pairs:
        assert set(info) == {"status", "create_time"}
        assert info["create_time"] == proc.create_time()


def test_every_live_process_is_listed_and_one_that_exited_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        by_pid = {p.pid: info for p, info in process_infos(["cmdline", "status"])}
        assert os.getpid() in by_pid and child.pid in by_pid
        assert "time.sleep(60)" in " ".join(by_pid[child.pid]["cmdline"])
    finally:
        child.kill()
        child.wait()
    assert child.pid not in {p.pid for p, _ in process_infos(["status"])}
