"""Optuna search (batched ask/tell inside Tune) and ASHA early stopping over folds, on the shared test cluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strategies  # noqa: F401
from backtest.grid import expand_grid, parse_grid
from backtest.metrics import measured_periods_per_year
from backtest.sweep import METRICS, evaluate_configs
from cluster import cli
from jobs._optuna import OptunaBatches
from jobs.sweep import SweepRequest, fold_ends, plan_sweep
from market.samples import load_sample
from strategies.registry import get_strategy

# the sweep measures bars per year once, on all bars of the sample (in-sample and holdout)
_FULL = load_sample("ETH-BTC-5m")
_PPY = measured_periods_per_year(_FULL.timestamp, _FULL.timeframe_ms)

SMA = get_strategy("sma_cross")
GRID = ["-g", "fast=5:100:5", "-g", "slow=10:100:10"]  # about half of the raw (fast, slow) pairs break fast < slow


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1
    return json.loads(lines[0])


def _in_sample(n: int | None = None):
    bars = load_sample("ETH-BTC-5m").take(slice(0, 4032))  # --holdout 0.3 keeps the last 1728 bars out
    return bars if n is None else bars.take(slice(0, n))


def _sweep(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> tuple[dict, pd.DataFrame]:
    assert cli.main(["sweep", "--sample", "ETH-BTC-5m", *GRID, "--fees-bps", "10", "--out", str(out), "--json",
                     *extra]) == 0
    res = _json(capsys)
    return res, pd.read_parquet(res["results_path"])


@pytest.mark.ray
def test_optuna_search_honours_constraints_counts_and_is_reproducible(ray_session, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # one trial at a time, reusing its actor (fast to start); waiting on earlier batches is tested on the core below
    args = ("--search", "optuna", "--samples", "11", "--seed", "5", "--batch", "4", "--trial-cpus", "2")
    a, fa = _sweep(capsys, tmp_path / "a", *args)
    assert a["search"] == "optuna" and a["n_configs"] == len(fa) == 11 and a["n_trials"] == 3  # 4+4+3
    assert (fa["fast"] < fa["slow"]).all()  # no infeasible configuration was evaluated
    assert len({tuple(r) for r in fa[["fast", "slow"]].to_numpy().tolist()}) == 11  # 11 distinct configurations
    opt = a["optuna"]
    assert opt["infeasible_pruned"] > 0  # TPE did suggest fast >= slow here; those were pruned, not run
    assert opt["suggestions"] - opt["infeasible_pruned"] - opt["repeats"] + opt["random_fill"] == 11
    # every evaluated row is exactly what the kernel gives for that configuration on the in-sample bars
    bars = _in_sample()
    ref = evaluate_configs(bars, SMA, ("fast", "slow"), fa[["fast", "slow"]].to_numpy(), timeframe_ms=bars.timeframe_ms,
                           fees_bps=10, periods_per_year=_PPY)
    for m in METRICS:
        assert np.array_equal(fa[m].to_numpy(), getattr(ref, m)), m
    assert a["best"]["sharpe"] == fa["sharpe"].max() and a["best"]["out_of_sample"] is not None

    b, fb = _sweep(capsys, tmp_path / "b", *args)  # same seed: same suggestions, same numbers
    pd.testing.assert_frame_equal(fa, fb)
    assert b["optuna"] == opt and b["best"] == a["best"]


@pytest.mark.ray
def test_asha_stops_trials_early_and_keeps_out_of_sample(ray_session, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # one trial at a time (--trial-cpus 2 on the 2-CPU test cluster): ASHA's decisions do not depend on timing
    res, frame = _sweep(capsys, tmp_path / "asha", "--scheduler", "asha", "--folds", "4", "--trials", "8",
                        "--trial-cpus", "2")
    asha = res["asha"]
    assert res["scheduler"] == "asha" and res["n_trials"] == 8 and len(asha["trial_folds"]) == 8
    assert asha["fold_ends"] == fold_ends(4032, 4) == [1008, 2016, 3024, 4032]
    assert asha["stopped_trials"] >= 1 and min(asha["trial_folds"]) < 4 and max(asha["trial_folds"]) == 4
    # Tune's own records agree: stopped trials have fewer training iterations
    from ray.tune import ExperimentAnalysis

    iters = sorted(int(df["training_iteration"].max())
                   for df in ExperimentAnalysis(str(Path(res["run_dir"]) / "tune")).trial_dataframes.values())
    assert iters == sorted(asha["trial_folds"])

    _, grid = expand_grid(SMA, parse_grid(["fast=5:100:5", "slow=10:100:10"]))
    assert len(frame) == res["n_configs"] == len(grid)  # a stopped trial still reports its configurations
    assert set(frame["folds"]) <= {1, 2, 3, 4} and (frame["folds"] < 4).any()
    assert asha["configs_all_folds"] == int((frame["folds"] == 4).sum())
    bars = _in_sample()
    for k, end in enumerate(asha["fold_ends"], start=1):  # cumulative metrics: the kernel on the bars up to the fold
        part = frame[frame["folds"] == k]
        if len(part):
            ref = evaluate_configs(bars.take(slice(0, end)), SMA, ("fast", "slow"), part[["fast", "slow"]].to_numpy(),
                                   timeframe_ms=bars.timeframe_ms, fees_bps=10, periods_per_year=_PPY)
            assert np.array_equal(part["sharpe"].to_numpy(), ref.sharpe), k
    full = frame[frame["folds"] == 4]
    assert res["best"]["sharpe"] == full["sharpe"].max()  # best is chosen among configurations that saw every fold
    assert res["best"]["out_of_sample"] is not None and res["out_of_sample"]["bars"] == 1728


@pytest.mark.parametrize("argv, reason", [
    (["--search", "optuna"], "--samples"),
    (["--search", "optuna", "--samples", "0"], "--samples"),
    (["--samples", "5"], "--samples"),
    (["--scheduler", "asha", "--folds", "1"], "--folds"),
    (["--folds", "3"], "--folds"),
    (["--batch", "4"], "--batch"),
    (["--search", "optuna", "--samples", "5", "--batch", "-1"], "--batch"),
    (["--scheduler", "asha", "--folds", "40", "-g", "fast=5", "-g", "slow=150:200:50"], "first fold"),
    (["--scheduler", "fifo"], "--scheduler"),
    (["--trial-cpus", "-1"], "--trial-cpus"),
])
def test_optuna_and_asha_bad_input_exits_2(argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = cli.main(["sweep", "--sample", "ETH-BTC-5m", *argv])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


def _drive(core: OptunaBatches, bars, key_prefix: str = "t") -> list[tuple[int, int]]:
    """Run the searcher core without Ray: suggest, evaluate with the kernel, complete; in batch order."""
    order: list[tuple[int, int]] = []
    k = 0
    while True:
        cfg = core.suggest(f"{key_prefix}{k}")
        if cfg == OptunaBatches.FINISHED:
            break
        assert cfg is not None  # driven sequentially, it never has to wait
        params = np.asarray(cfg["configs"], dtype=np.int64)
        res = evaluate_configs(bars, SMA, ("fast", "slow"), params, timeframe_ms=bars.timeframe_ms, fees_bps=10)
        core.complete(f"{key_prefix}{k}", {"rows": cfg["rows"], "params": params.tolist(), "fold": 1,
                                           **{m: getattr(res, m).tolist() for m in METRICS}})
        order += [tuple(p) for p in params.tolist()]
        k += 1
    core.finish()
    return order


def test_optuna_batches_core_waits_for_earlier_batches_and_exhausts_small_spaces() -> None:
    plan = plan_sweep(SweepRequest(sample="ETH-BTC-5m", grid=("fast=5:25:5", "slow=10:30:10"), search="optuna",
                                   samples=50, seed=1))
    assert plan.n_configs == plan.params.shape[0] == 9  # more samples than the constrained grid: all of it

    def core(parallel: int) -> OptunaBatches:
        return OptunaBatches(strategy=SMA, names=plan.param_names, axes=plan.axes, grid=plan.params,
                             n_configs=plan.n_configs, batch=3, parallel=parallel, metric="sharpe", folds=1, seed=1)

    c = core(parallel=1)
    first = c.suggest("a")
    assert first["batch"] == 0 and first["rows"] == [0, 1, 2]
    assert c.suggest("b") is None  # batch 1 needs batch 0 told first
    c.complete("a", None, error=True)  # a failed trial is told FAIL and does not block the rest
    assert c.suggest("b")["batch"] == 1
    order = _drive(core(parallel=2), plan.bars)
    assert sorted(order) == sorted(tuple(r) for r in plan.params.tolist())  # every feasible point, once
    assert order == _drive(core(parallel=2), plan.bars)  # deterministic for a seed
