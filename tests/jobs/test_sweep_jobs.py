"""Sweep (Ray Tune), walk-forward and Monte Carlo on the shared test cluster: CLI, Ray job, exit codes.

The sweep as a plain Ray job (`python -m jobs.sweep` through the Jobs API) is in test_job_records.py; the demo's
walk-forward over the ten bundled pairs in the demo job's test (test_jobs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strategies  # noqa: F401
from backtest.engine import run_backtest
from backtest.metrics import measured_periods_per_year, summary
from backtest.grid import expand_grid, parse_grid
from cluster import cli
from market.samples import load_sample
from strategies.registry import get_strategy
from strategies.sma_cross import sma_cross

MODULE = "cluster.commands.sweep"


@pytest.fixture()
def commands() -> None:
    assert MODULE in cli.COMMAND_MODULES  # sweep, walkforward and montecarlo are part of the CLI


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 1, out[-2000:]  # --json: exactly one object on stdout, Tune's chatter elsewhere
    return json.loads(lines[0])


def test_sweep_runs_through_ray_tune_and_matches_the_engine(commands, ray_session, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    grid = ["-g", "fast=5:40:5", "-g", "slow=10:100:10"]
    assert cli.main(["sweep", "--sample", "ETH-BTC-5m", *grid, "--fees-bps", "10", "--trials", "2", "--trial-cpus", "0.5",
                     "--out", str(tmp_path / "run"), "--json"]) == 0
    out = _json(capsys)
    _, params = expand_grid(get_strategy("sma_cross"), parse_grid(["fast=5:40:5", "slow=10:100:10"]))
    assert out["n_configs"] == len(params) == 64 and out["n_trials"] == 2 and out["trial_cpus"] == 0.5
    assert out["search"] == "grid" and out["seconds"] > 0 and out["bars"] == 5760
    # default --holdout 0.3: the search sees the first 4032 bars, the last 1728 are held out
    assert out["in_sample"]["bars"] == 4032 and out["out_of_sample"]["bars"] == 1728
    assert out["in_sample"]["end"] < out["out_of_sample"]["start"]

    frame = pd.read_parquet(out["results_path"])
    assert len(frame) == 64 and list(frame.columns[:2]) == ["fast", "slow"]
    assert np.array_equal(frame[["fast", "slow"]].to_numpy(), params)  # one row per config, grid order
    full = load_sample("ETH-BTC-5m")
    bars, tail = full.take(slice(0, 4032)), full.take(slice(4032, None))
    # one bars-per-year for in-sample and holdout: measured once on all 5760 bars
    ppy = measured_periods_per_year(full.timestamp, full.timeframe_ms)
    assert out["periods_per_year"] == ppy and out["periods_per_year_source"] == "measured"
    for i in (0, 17, 63):  # what ran inside Tune trials equals the engine here, exactly
        fast, slow = params[i].tolist()
        ref = summary(run_backtest(bars, sma_cross(bars, fast=fast, slow=slow), fees_bps=10), bars.timeframe_ms,
                      periods_per_year=ppy)
        for m in ("total_return", "sharpe", "max_drawdown", "n_trades"):
            assert frame[m].iloc[i] == ref[m], (i, m)
    best = int(frame["sharpe"].to_numpy().argmax())
    in_sample = {k: v for k, v in out["best"].items() if k != "out_of_sample"}
    assert in_sample == {k: (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[best].to_dict().items()}
    assert json.loads(Path(out["summary_path"]).read_text())["best"] == out["best"]
    # the best configuration measured on the held-out bars, from flat, equals the engine there
    fast, slow = params[best].tolist()
    ref = summary(run_backtest(tail, sma_cross(tail, fast=fast, slow=slow), fees_bps=10), tail.timeframe_ms,
                  periods_per_year=ppy)
    for m in ("total_return", "sharpe", "max_drawdown", "n_trades"):
        assert out["best"]["out_of_sample"][m] == ref[m], m
    assert all(row["out_of_sample"] is not None for row in out["top"])
    # Tune keeps only its JSON logger (its result reader needs it): no TensorBoard files (that logger
    # imports torch in the driver, seconds per job) and no CSV copy of every reported row
    run = Path(out["run_dir"])
    assert len(list(run.glob("tune/*/result.json"))) == 2
    assert not list(run.rglob("events.out.tfevents*")) and not list(run.rglob("progress.csv"))


def test_random_search_samples_the_space(commands, ray_session, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sweep", "--sample", "ALT-BTC-1m", "-g", "fast=5:200:5", "-g", "slow=5:200:5", "--search",
                     "random", "--samples", "9", "--seed", "1", "--trials", "2", "--trial-cpus", "0.5",
                     "--metric", "total_return", "--out", str(tmp_path), "--json"]) == 0
    out = _json(capsys)
    frame = pd.read_parquet(out["results_path"])
    assert out["n_configs"] == len(frame) == 9 and out["n_trials"] == 2
    assert (frame["fast"] < frame["slow"]).all() and frame["fast"].isin(range(5, 201, 5)).all()
    assert out["best"]["total_return"] == frame["total_return"].max()


@pytest.mark.parametrize("argv, reason", [
    (["--strategy", "nope"], "unknown strategy"),
    (["--holdout", "0.9"], "--holdout"),
    (["-g", "fast=5", "-g", "slow=150:200:50", "--holdout", "0.02"], "held-out part is too short"),
    (["-g", "fast=5:x"], "fast"),
    (["-g", "fast=50:60", "-g", "slow=20:40"], "fast < slow"),
    (["-g", "fast=5", "-g", "slow=900:1000:100", "--sample", "BTC-USD-1d", "--data", "x"], "not allowed"),
    (["-g", "speed=1:3"], "speed"),
])
def test_sweep_bad_input_exits_2_with_one_line(commands, argv: list[str], reason: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = cli.main(["sweep", *argv])
    except SystemExit as exc:  # argparse errors exit 2 from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


def test_too_few_bars_exits_2_before_ray(commands, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = load_sample("ETH-BTC-5m")
    path = tmp_path / "short.csv"
    bars.take(slice(0, 150)).to_frame().to_csv(path, index=False)
    assert cli.main(["sweep", "--data", str(path), "--symbol", "ETH/BTC", "--timeframe", "5m", "-g", "fast=5:50:5",
                     "-g", "slow=100:200:50"]) == 2
    assert "needs at least 201 bars" in capsys.readouterr().err


def test_walkforward_and_montecarlo_commands(commands, ray_session, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["walkforward", "--sample", "ETH-BTC-5m", "-g", "fast=5:30:5", "-g", "slow=40:120:20",
                     "--folds", "3", "--train-bars", "2400", "--json"]) == 0
    wf = _json(capsys)
    assert wf["n_folds"] == len(wf["folds"]) == 3 and wf["n_configs"] == 30
    assert [f["test_start"] for f in wf["folds"]] == [2400, 3520, 4640]
    growth = np.prod([1 + f["out_of_sample"]["total_return"] for f in wf["folds"]])
    assert wf["oos_total_return"] == pytest.approx(growth - 1, rel=1e-12)

    base = ["montecarlo", "--sample", "ETH-BTC-5m", "-p", "fast=10", "-p", "slow=30", "--paths", "400",
            "--tasks", "3", "--seed", "7", "--json"]
    assert cli.main([*base, "--method", "bootstrap"]) == 0
    boot = _json(capsys)
    assert boot["n_paths"] == 400 and boot["tasks"] == 3 and boot["block_bars"] == 288
    assert boot["backtest"]["total_return"] == pytest.approx(-0.2510, abs=5e-5)
    lo, hi = boot["total_return"]["ci"]
    assert lo < boot["total_return"]["p50"] < hi and 0.0 <= boot["prob_ruin"] <= 1.0
    assert cli.main([*base, "--method", "bootstrap"]) == 0
    assert _json(capsys)["total_return"] == boot["total_return"]  # same seed and tasks: same numbers
    assert cli.main([*base, "--method", "trades"]) == 0
    shuffled = _json(capsys)
    assert shuffled["total_return"]["p5"] == pytest.approx(shuffled["backtest"]["total_return"], rel=1e-9)

    assert cli.main(["montecarlo", "-p", "fast=10", "-p", "slow=30", "--paths", "0"]) == 2
    assert "--paths" in capsys.readouterr().err


def test_job_module_bad_input_exits_2_without_ray() -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "jobs.sweep", "--sample", "ETH-BTC-5m", "-g", "fast=50:60",
                           "-g", "slow=20:40"], capture_output=True, text=True, timeout=120, cwd=repo)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "fast < slow" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_choices_match_the_pure_cores() -> None:
    import argparse

    from backtest.montecarlo import METHODS
    from backtest.sweep import METRICS
    from backtest.walkforward import SPLIT_MODES
    from jobs.montecarlo import add_montecarlo_arguments
    from backtest.metrics import RANKING_METRICS
    from jobs.sweep import KERNEL_METRICS, METRIC_CHOICES
    from jobs.walkforward import add_walkforward_arguments

    assert KERNEL_METRICS == METRICS and METRIC_CHOICES == RANKING_METRICS
    wf, mc = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_walkforward_arguments(wf)
    add_montecarlo_arguments(mc)
    assert tuple(next(a for a in wf._actions if a.dest == "mode").choices) == SPLIT_MODES
    assert tuple(next(a for a in mc._actions if a.dest == "method").choices) == METHODS
