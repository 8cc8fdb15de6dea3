"""``raytrader paper`` and ``python -m jobs.paper_trade``: bad input and a missing cluster exit 2 with one line.

Each check is a fresh interpreter (seconds of CPU to import the CLI); :func:`runs` starts them all at once, a
few side by side, so that both cores work, and each test reads its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jobs.paper_trade import PaperInputError, PaperRequest, parse_params

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYTRADER_")}
    env["RAYTRADER_CLUSTER__HOME"] = str(home)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


NO_CLUSTER = (sys.executable, "-m", "cluster.cli", "paper", "--seconds", "5")
BAD_FLAGS = [
    (["-p", "fast=x"], "-p fast: 'x' is not a number"), (["-p", "fast=5", "-p", "fast=6"], "-p fast: given twice"),
    (["--execution", "twap", "--exec-param", "slices=2", "--exec-param", "slices=3"], "exec-param slices: given twice"),
    (["--venues", "kraken"], "venues kraken"), (["--speed", "0"], "speed"),
    (["-p", "fast=40", "-p", "slow=30"], "fast < slow"), (["--sample", "NOPE"], "sample 'NOPE'"),
    (["--size", "2"], "size"), (["--sizing", "vol-target:abc"], "vol-target"), (["--sizing", "risk-parity"], "risk-parity"),
]


def _argvs(flags: list[str]) -> list[tuple[str, ...]]:
    """``raytrader paper FLAGS`` and ``python -m jobs.paper_trade FLAGS``."""
    return [(sys.executable, "-m", "cluster.cli", "paper", *flags), (sys.executable, "-m", "jobs.paper_trade", *flags)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], subprocess.CompletedProcess]:
    """argv -> its finished process, for every command line of this module, each with a run folder where no
    cluster runs."""
    home = tmp_path_factory.mktemp("paper-cli") / "no-cluster"
    argvs = [NO_CLUSTER] + [argv for flags, _ in BAD_FLAGS for argv in _argvs(flags)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(argvs, pool.map(lambda argv: _run(list(argv), home), argvs)))


def test_paper_needs_a_running_cluster(runs: dict[tuple[str, ...], subprocess.CompletedProcess]) -> None:
    out = runs[NO_CLUSTER]
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["raytrader: error: the cluster is not running: start it with "
                                               "`raytrader up`"]


@pytest.mark.parametrize("flags, names", BAD_FLAGS)
def test_bad_flags_exit_2_naming_the_flag_before_ray(runs: dict[tuple[str, ...], subprocess.CompletedProcess],
                                                     flags: list[str], names: str) -> None:
    for argv in _argvs(flags):
        out = runs[argv]
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and names in lines[0], lines


def test_params_parse_as_numbers() -> None:
    assert parse_params(["fast=10", "slow=30", "x=0.5"]) == (("fast", 10), ("slow", 30), ("x", 0.5))
    with pytest.raises(PaperInputError, match="NAME=VALUE"):
        parse_params(["fast"])
    with pytest.raises(PaperInputError, match="-p slow: given twice"):
        parse_params(["slow=30", "fast=10", "slow=40"])
    assert PaperRequest(params=(("fast", 5), ("slow", 20))).params == (("fast", 5), ("slow", 20))
