"""Jobs on the shared test cluster: the demo through the Jobs API, and plain `ray job submit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.cli import main
from jobs.backtest import BacktestRequest, run_backtest_request
from jobs.demo_parts import demo_samples

REPO = Path(__file__).resolve().parents[2]


#: the demo's paper session here: 10 s at x600 replay is ~100 one-minute bars, several sma_cross(10, 30)
#: crossings; `make run` keeps its 20 s default (the session's code path is the same)
PAPER_SECONDS = "10"


def test_demo_submits_a_ray_job_and_prints_its_result(cluster, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--paper-seconds", PAPER_SECONDS]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "SUCCEEDED"
    assert out["dashboard_url"] == cluster.ray.dashboard_url
    assert out["job_url"].endswith(out["job_id"])
    result = out["result"]
    assert [r["symbol"] for r in result["results"]] == [
        "ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC", "XLM/BTC", "XMR/BTC", "ZEC/BTC"]
    assert result["cluster"] == {"nodes": 1, "cpus": 2.0, "task_cpus": 0.5}
    # what ran on the cluster equals the same backtest run here, in-process
    local = run_backtest_request(BacktestRequest(strategy="sma_cross", params=(("fast", "12"), ("slow", "48")),
                                                 sample=demo_samples()[3], fees_bps=10.0))
    remote = result["results"][3]
    assert remote["symbol"] == local["symbol"] == "ETH/BTC"
    assert remote["total_return"] == local["total_return"] and remote["n_trades"] == local["n_trades"] > 0

    # the walk-forward table is out-of-sample: 4 ordered, non-overlapping test windows per pair
    wf = result["walkforward"]
    assert len(wf["table"]) == 10 * wf["folds"] == 40 and len(wf["pairs"]) == 10
    for symbol in {r["symbol"] for r in wf["table"]}:
        rows = sorted((r for r in wf["table"] if r["symbol"] == symbol), key=lambda r: r["fold"])
        assert all(a["test_end"] <= b["test_start"] for a, b in zip(rows, rows[1:]))
        assert all(r["fast"] < r["slow"] for r in rows)

    # the quantum selection ran on the cluster beside the exact optimum
    q = result["quantum"]
    assert len(q["exact_selected"]) == q["budget"] == 4
    assert {r["solver"] for r in q["runs"]} == {"qaoa", "cvar-vqe"}
    for run in q["runs"]:
        assert run["objective"] >= q["exact_objective"] - 1e-12  # nothing beats the exact optimum
    cvar = next(r for r in q["runs"] if r["solver"] == "cvar-vqe")
    assert cvar["selected"] == q["exact_selected"] and cvar["p_optimal"] > 0.2

    # the short paper session traded through the journal, and the venues agree with it order by order
    paper = result["paper"]
    assert paper["venues"] == ["binance", "coinbase"] and paper["trading_state"] == "ACTIVE"  # two dialects
    checks = paper["checks"]
    assert checks["chain_ok"] and checks["balances_match"]
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []
    assert checks["orders_sent"] == checks["venue_orders"] > 0, (checks, paper["orders_by_state"], paper["seconds"])
    assert checks["journal_entries"] > checks["orders_sent"]

    # the job is listed by `raytrader status`, with nothing secret in its metadata
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert any(j["submission_id"] == out["job_id"] and j["status"] == "SUCCEEDED" for j in status["jobs"])
    assert cluster.redis.password not in json.dumps(status)


def test_demo_without_a_cluster_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    assert main(["demo"]) == 2
    assert "raytrader up" in capsys.readouterr().err


def test_plain_ray_job_submit_with_working_dir(cluster) -> None:
    """`ray job submit --working-dir .` (Ray's own CLI): the job runs from Ray's unpacked copy of the repository and
    prints its backtest; numba compiled nothing into that copy (the cluster's ``NUMBA_CACHE_LOCATOR_CLASSES`` gives
    a byte-identical copy the installed files' cache: ``raytrader.numba_cache``; without it each such job compiled
    every kernel again, 7 of them here, about 5 s of CPU)."""
    from raytrader.config import load_config

    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    proc = subprocess.run(
        [str(ray_cli), "job", "submit", "--address", cluster.ray.dashboard_url, "--working-dir", ".", "--",
         "python", "-m", "jobs.backtest", "--sample", "XRP-ETH-1m", "-p", "fast=5", "-p", "slow=20", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("{"))
    result = json.loads(line)
    assert result["symbol"] == "XRP/ETH" and result["bars"] > 2000 and result["params"] == {"fast": 5, "slow": 20}
    copies = list(Path(load_config().cluster.temp_dir or "/tmp/ray").glob("session_*/runtime_resources/working_dir_files/*"))
    assert any((c / "backtest" / "engine.py").is_file() for c in copies), copies  # the job's unpacked copy
    assert [p for c in copies for p in c.rglob("*.nbi")] == []


def test_job_bad_input_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "jobs.backtest", "--sample", "ETH-BTC-5m", "-p", "fast=40",
                           "-p", "slow=30"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    assert "fast < slow" in proc.stderr and proc.stdout == ""
