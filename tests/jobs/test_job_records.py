"""A Ray job (`python -m jobs.sweep` through the Jobs API) whose trials cannot be placed fails at once with exit 2
instead of sitting RUNNING, and is recorded as failed for `raytrader runs` (issue 11 A1).

A sweep job that succeeds and its record: tests/strategies/test_user_strategy_cluster.py (one job, the user's
strategy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.jobs import submit_and_wait
from cluster.lifecycle import ClusterError
from raytrader.config import load_config
from raytrader.runs import list_records


def _record_for(marker: str):
    home = load_config().cluster.home
    found = [r for r in list_records(home, kind="sweep") if marker in r.command]
    assert len(found) == 1, [r.command for r in list_records(home)]
    return found[0]


def test_a_sweep_ray_job_that_cannot_be_placed_fails_at_once(cluster, tmp_path: Path) -> None:
    out = tmp_path / "job-too-big"
    entry = f"python -m jobs.sweep --sample XRP-ETH-1m -g fast=5:20:5 -g slow=30:60:10 --trial-cpus 8 --out {out}"
    with pytest.raises(ClusterError, match="ended FAILED") as failed:  # not RUNNING for ever
        submit_and_wait(cluster.ray.dashboard_url, entry, name="sweep", timeout_s=300, show_progress=False)
    assert "jobs.sweep: error: sweep: a Ray Tune trial: needs 8 CPU(s) on one node" in str(failed.value)
    record = _record_for(str(out))
    assert record.status == "failed" and "the largest node has 2" in record.error
    assert not (out / "results.parquet").exists()
