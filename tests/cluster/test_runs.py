"""Run records (raytrader.runs) and `raytrader runs` / `runs show`: real backtests in this process, no Ray."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cluster.cli import main
from raytrader.runs import (RunNotFoundError, fail_record, finish_record, fmt_return, key_numbers, list_records,
                            load_record,
                            start_record)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _out(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_a_backtest_is_recorded_and_shown_again(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--sample", "ETH-BTC-5m", "-p", "fast=10", "-p", "slow=30", "--json"]) == 0
    result = _out(capsys)
    assert main(["runs", "--json"]) == 0
    listed = _out(capsys)
    assert listed["folder"] == str(home / "runs") and len(listed["runs"]) == 1
    run = listed["runs"][0]
    assert run["kind"] == "backtest" and run["status"] == "ok" and run["id"].startswith("backtest-")
    assert run["key"]["total_return"] == pytest.approx(result["total_return"])
    assert run["key"]["n_trades"] == result["n_trades"]
    assert "runs" not in run["command"] and "fast=10" in run["command"]

    assert main(["runs"]) == 0
    text = capsys.readouterr().out
    assert run["id"] in text and "ok" in text and f"return {fmt_return(result['total_return'])} " in text

    # show by a unique prefix: the record, and the backtest printed as the command printed it
    assert main(["runs", "show", run["id"][:-2]]) == 0
    shown = capsys.readouterr().out
    assert f"run {run['id']}: backtest OK" in shown
    assert main(["backtest", "--sample", "ETH-BTC-5m", "-p", "fast=10", "-p", "slow=30"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() in shown  # the same text again, from the record alone
    assert main(["runs", "show", run["id"], "--json"]) == 0
    assert _out(capsys)["result"]["total_return"] == result["total_return"]


def test_a_failed_run_says_it_failed(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--sample", "ETH-BTC-5m", "--strategy", "no_such_strategy"]) == 2
    err = capsys.readouterr().err
    assert main(["runs", "--json"]) == 0
    [run] = _out(capsys)["runs"]
    assert run["status"] == "failed" and "no_such_strategy" in run["error"]
    assert run["error"] in " ".join(err.split())
    assert main(["runs"]) == 0
    assert "FAILED: " in capsys.readouterr().out


def test_runs_show_unknown_id_exits_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", "sweep-nope"]) == 2
    assert "no such run" in capsys.readouterr().err
    assert main(["runs", "list", "x"]) == 2


def test_records_are_atomic_ordered_and_a_dead_running_one_reads_as_failed(tmp_path: Path) -> None:
    first = start_record(tmp_path, "sweep", "raytrader sweep", now=1_700_000_000)
    second = start_record(tmp_path, "montecarlo", "raytrader montecarlo", now=1_700_000_100)
    finish_record(tmp_path, second, {"backtest": {"strategy": "sma_cross", "symbol": "ETH/BTC"}, "method": "trades",
                                     "n_paths": 10, "total_return": {"p5": -0.1, "p50": 0.2, "p95": 0.5},
                                     "prob_ruin": 0.0}, now=1_700_000_130)
    records = list_records(tmp_path)
    assert [r.id for r in records] == [second.id, first.id]  # newest first
    assert records[0].seconds == 30.0 and records[0].key["return_p50"] == 0.2
    assert records[1].status == "running"  # this process is alive
    dead = json.loads((tmp_path / "runs" / f"{first.id}.json").read_text())
    dead["pid"] = 2 ** 22 + 12345  # no such process
    (tmp_path / "runs" / f"{first.id}.json").write_text(json.dumps(dead))
    assert load_record(tmp_path, first.id).status == "failed"
    assert not [p for p in os.listdir(tmp_path / "runs") if p.endswith(".tmp")]
    failed = fail_record(tmp_path, second, "boom\n  on two lines")
    assert failed.error == "boom on two lines"
    with pytest.raises(RunNotFoundError, match="2 runs start with it"):
        load_record(tmp_path, "")


def test_key_numbers_of_a_sweep_name_the_best_and_its_files() -> None:
    key, files = key_numbers("sweep", {
        "strategy": "sma_cross", "symbol": "ETH/BTC", "n_configs": 75, "metric": "sortino", "param_names": ["fast", "slow"],
        "best": {"fast": 30, "slow": 90, "sortino": 1.5, "sharpe": 1.0, "out_of_sample": {"sortino": 0.5}},
        "run_dir": "/r", "results_path": "/r/results.parquet", "summary_path": "/r/summary.json"})
    assert key["best"] == {"fast": 30, "slow": 90} and key["best_value"] == 1.5 and key["best_out_of_sample"] == 0.5
    assert files == {"run_dir": "/r", "results_path": "/r/results.parquet", "summary_path": "/r/summary.json"}


def test_a_paper_runs_key_numbers_and_headline_come_from_the_jobs_summary(tmp_path: Path) -> None:
    from raytrader.runs import headline

    summary = {"strategy": "sma_cross", "symbol": "XRP/ETH", "venues": ["binance", "coinbase"],
               "orders_by_state": {"FILLED": 7, "CANCELED": 2}, "fills": 9, "trading_state": "ACTIVE",
               "pnl": {"ETH": {"realized": 0.001, "unrealized": -0.0004, "total": 0.0006}},
               "journal_stream": "raytrader:journal:paper:abc", "checks": {"chain_ok": True, "lost": [], "duplicated": []}}
    data = {"job_id": "raysubmit_1", "status": "SUCCEEDED", "result": summary, "report_path": "/r/paper.html"}
    key, files = key_numbers("paper", data)
    assert (key["orders"], key["fills"], key["pnl"], key["lost"], key["journal_stream"]) == (
        9, 9, {"ETH": 0.0006}, 0, "raytrader:journal:paper:abc")
    assert files == {"report_path": "/r/paper.html"}
    record = finish_record(tmp_path, start_record(tmp_path, "paper", "raytrader paper"), data)
    assert headline(record) == ("sma_cross XRP/ETH on binance,coinbase: 9 orders, 9 fills, PnL +0.0006 ETH, ACTIVE; "
                                "0 lost, 0 duplicated, chain verified")
    assert load_record(tmp_path, record.id).result["result"]["journal_stream"] == "raytrader:journal:paper:abc"
