"""``raytrader paper`` and ``python -m jobs.paper_trade``: bad input and a missing cluster exit 2 with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.paper_trade import PaperInputError, PaperRequest, parse_params

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYTRADER_")}
    env["RAYTRADER_CLUSTER__HOME"] = str(home)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_paper_needs_a_running_cluster(tmp_path: Path) -> None:
    out = _run([sys.executable, "-m", "cluster.cli", "paper", "--seconds", "5"], tmp_path / "no-cluster")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["raytrader: error: the cluster is not running: start it with "
                                               "`raytrader up`"]


@pytest.mark.parametrize("flags, names", [
    (["-p", "fast=x"], "fast=x"), (["--venues", "kraken"], "venues kraken"), (["--speed", "0"], "speed"),
    (["-p", "fast=40", "-p", "slow=30"], "fast < slow"), (["--sample", "NOPE"], "sample 'NOPE'"),
    (["--size", "2"], "size"), (["--sizing", "vol-target:abc"], "vol-target"), (["--sizing", "risk-parity"], "risk-parity"),
])
def test_bad_flags_exit_2_naming_the_flag_before_ray(tmp_path: Path, flags: list[str], names: str) -> None:
    for argv in ([sys.executable, "-m", "cluster.cli", "paper", *flags],
                 [sys.executable, "-m", "jobs.paper_trade", *flags]):
        out = _run(argv, tmp_path)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and names in lines[0], lines


def test_params_parse_as_numbers() -> None:
    assert parse_params(["fast=10", "slow=30", "x=0.5"]) == (("fast", 10), ("slow", 30), ("x", 0.5))
    with pytest.raises(PaperInputError, match="NAME=VALUE"):
        parse_params(["fast"])
    assert PaperRequest(params=(("fast", 5), ("slow", 20))).params == (("fast", 5), ("slow", 20))
