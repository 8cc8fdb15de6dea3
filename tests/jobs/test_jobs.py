"""Jobs on the shared test cluster: the demo through the Jobs API.

(Ray's own `ray job submit --working-dir .` is the DQN job of test_train_rl.py: one job proves that path.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.cli import main
from jobs.backtest import BacktestRequest, run_backtest_request
from jobs.demo_parts import demo_samples
from tests.jobs.test_demo_exchange import assert_demo_exchange

REPO = Path(__file__).resolve().parents[2]


#: the demo's paper session here: 10 s at x600 replay is ~100 one-minute bars, several sma_cross(10, 30)
#: crossings; `make run` keeps its 20 s default (the session's code path is the same)
PAPER_SECONDS = "10"


def test_demo_submits_a_ray_job_and_prints_its_result(cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """`raytrader demo` (what `make run` runs) as one Ray job: its backtests equal the same backtest run here, the
    walk-forward table is out-of-sample, the quantum runs sit beside the exact optimum, both emulated venues stream and fill
    through ccxt, the paper session's journal
    agrees with both venues order by order, and the job is listed with nothing secret in its metadata. (The only run
    of the demo's walk-forward and exchange parts in the suite.)"""
    assert main(["demo", "--json", "--paper-seconds", PAPER_SECONDS]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "SUCCEEDED"
    assert out["dashboard_url"] == cluster.ray.dashboard_url
    assert out["job_url"].endswith(out["job_id"])
    result = out["result"]
    assert [r["symbol"] for r in result["results"]] == [
        "ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC", "XLM/BTC", "XMR/BTC", "ZEC/BTC"]
    assert result["cluster"] == {"nodes": 1, "cpus": 2.0, "task_cpus": 0.5}
    timings = result["timings"]  # where the job's time went, phase by phase
    assert list(timings) == ["attach_s", "research_s", "exchange_s", "paper_s", "report_s"]
    assert min(timings.values()) >= 0 and sum(timings.values()) == pytest.approx(result["seconds"], abs=0.01)
    # what ran on the cluster equals the same backtest run here, in-process
    local = run_backtest_request(BacktestRequest(strategy="sma_cross", params=(("fast", "12"), ("slow", "48")),
                                                 sample=demo_samples()[3], fees_bps=10.0))
    remote = result["results"][3]
    assert remote["symbol"] == local["symbol"] == "ETH/BTC"
    assert remote["total_return"] == local["total_return"] and remote["n_trades"] == local["n_trades"] > 0

    # the walk-forward table is out-of-sample: 4 ordered, non-overlapping test windows per pair
    wf = result["walkforward"]
    assert len(wf["table"]) == 10 * wf["folds"] == 40 and len(wf["pairs"]) == 10
    assert {"symbol", "fold", "fast", "slow", "is_sharpe", "oos_return", "oos_sharpe", "oos_trades"} <= set(wf["table"][0])
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

    assert_demo_exchange(result["exchange"])  # two venue dialects, their streams, orders and fees

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


def test_job_bad_input_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "jobs.backtest", "--sample", "ETH-BTC-5m", "-p", "fast=40",
                           "-p", "slow=30"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    assert "fast < slow" in proc.stderr and proc.stdout == ""
