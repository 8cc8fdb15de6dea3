"""tests/_xdist.py under real pytest-xdist: a small suite run with `-n 2 --dist loadgroup` (as `make test` runs
ours) in a subprocess; each test writes the worker it ran on.

What this guards: every test of a file runs on one worker (its module fixtures are set up once), the users of a
shared fixture and every test of their files form one unit, and a serial run is untouched. Until 2026-12-02 the
plugin set its ``xdist_group`` marks after xdist had read them: nothing was grouped, and 108 of 170 files of the
suite ran partly on each worker (test_multinode.py's three-node cluster started twice).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

#: a test body that records (file, test, worker) in $UNITS_OUT
_RECORD = """
import json, os
def record(name):
    with open(os.environ["UNITS_OUT"], "a") as out:
        out.write(json.dumps([__name__, name, os.environ.get("PYTEST_XDIST_WORKER", "serial")]) + "\\n")
"""


def _suite(root: Path) -> None:
    (root / "conftest.py").write_text(textwrap.dedent("""
        import pytest
        pytest_plugins = ["tests._xdist"]

        @pytest.fixture(scope="session")
        def live_api():
            return "shared"
    """))
    for k in range(8):  # plain files of 6 tests each
        body = _RECORD + "".join(f"\ndef test_{t}():\n    record('t{t}')\n" for t in range(6))
        (root / f"test_plain_{k}.py").write_text(body)
    for k in range(2):  # files where one test uses the shared fixture: both files join the shared unit whole
        body = _RECORD + "\ndef test_shared(live_api):\n    record('shared')\n" + "".join(
            f"\ndef test_{t}():\n    record('t{t}')\n" for t in range(3))
        (root / f"test_mixed_{k}.py").write_text(body)


def _run(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    out = root / "units.jsonl"
    out.unlink(missing_ok=True)
    env = {**os.environ, "UNITS_OUT": str(out), "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root),
                           "-c", os.devnull, *args, str(root)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, rows


def test_a_file_and_a_shared_fixtures_users_each_run_on_one_worker(tmp_path: Path) -> None:
    _suite(tmp_path)
    proc, rows = _run(tmp_path, "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(rows) == 8 * 6 + 2 * 4
    workers_of: dict[str, set[str]] = defaultdict(set)
    for module, _, worker in rows:
        workers_of[module].add(worker)
    assert all(len(w) == 1 for w in workers_of.values()), dict(workers_of)
    assert workers_of["test_mixed_0"] == workers_of["test_mixed_1"]  # the shared unit, whole files included
    assert set().union(*workers_of.values()) == {"gw0", "gw1"}  # both workers had work
    for module in workers_of:  # within a unit, a file's tests in collection order
        names = [name for m, name, _ in rows if m == module]
        assert names == sorted(names, key=lambda n: (n != "shared", n)), (module, names)


def test_a_serial_run_is_untouched(tmp_path: Path) -> None:
    _suite(tmp_path)
    proc, rows = _run(tmp_path, "-p", "no:xdist")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [(m, n) for m, n, _ in rows][:5] == [("test_mixed_0", "shared"), *(("test_mixed_0", f"t{t}") for t in range(3)),
                                                 ("test_mixed_1", "shared")]
    assert {w for _, _, w in rows} == {"serial"}
