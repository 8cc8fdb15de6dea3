"""``--sizing`` through `raytrader backtest` and `raytrader sweep` (Ray Tune on the test cluster): the engine's numbers
on the sized targets, exit 2 with one line for a bad spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from backtest.engine import run_backtest
from backtest.metrics import measured_periods_per_year, summary
from backtest.sizing import parse_sizing, size_targets
from cluster.cli import main
from market.samples import load_sample
from strategies.sma_cross import sma_cross


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1, lines[-5:]
    return json.loads(lines[0])


def test_backtest_with_sizing_equals_the_engine_on_sized_targets(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--sample", "BTC-USD-1d", "--strategy", "sma_cross", "-p", "fast=10", "-p", "slow=50",
            "--fees-bps", "10", "--json"]
    assert main([*argv, "--sizing", "vol-target:0.2"]) == 0
    sized = _json(capsys)
    assert main(argv) == 0
    plain = _json(capsys)
    bars = load_sample("BTC-USD-1d")
    target = size_targets(bars, sma_cross(bars, fast=10, slow=50), parse_sizing("vol-target:0.2"))
    ref = summary(run_backtest(bars, target, fees_bps=10), bars.timeframe_ms)
    assert sized["sizing"] == "vol-target:0.2" and plain["sizing"] is None and sized["strategy"] == "sma_cross"
    for m in ("total_return", "sharpe", "max_drawdown", "n_trades"):
        assert sized[m] == ref[m], m
    assert sized["total_return"] != plain["total_return"]


@pytest.mark.parametrize(("spec", "reason"), [("vol-target", "needs a value"), ("kelly:3", "kelly must be"),
                                              ("risk-parity", "single-asset strategy"), ("magic:1", "unknown method")])
def test_bad_sizing_exits_2_with_one_line(spec: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--sample", "BTC-USD-1d", "--strategy", "sma_cross", "--sizing", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and reason in err and "--sizing" in err


def test_sweep_bad_sizing_exits_2_before_ray(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--sample", "ETH-BTC-5m", "-g", "fast=5:10:5", "-g", "slow=20:30:10",
                 "--sizing", "vol-target:-1"]) == 2
    assert "--sizing" in capsys.readouterr().err


def test_sweep_with_sizing_equals_the_engine(ray_session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "vol-target:0.3,max=2"
    assert main(["sweep", "--sample", "ETH-BTC-5m", "-g", "fast=5:10:5", "-g", "slow=20:30:10", "--fees-bps", "10",
                 "--trials", "1", "--trial-cpus", "0.5", "--sizing", spec, "--out", str(tmp_path / "run"),
                 "--json"]) == 0
    out = _json(capsys)
    assert out["sizing"] == spec and out["n_configs"] == 4
    frame = pd.read_parquet(out["results_path"])
    full = load_sample("ETH-BTC-5m")
    bars = full.take(slice(0, out["in_sample"]["bars"]))
    ppy = measured_periods_per_year(full.timestamp, full.timeframe_ms)
    for i in range(4):
        fast, slow = int(frame["fast"].iloc[i]), int(frame["slow"].iloc[i])
        target = size_targets(bars, sma_cross(bars, fast=fast, slow=slow), parse_sizing(spec))
        assert np.any((target != 0) & (target != 1))  # really sized, not the 0/1 signal
        ref = summary(run_backtest(bars, target, fees_bps=10), bars.timeframe_ms, periods_per_year=ppy)
        for m in ("total_return", "sharpe", "max_drawdown", "n_trades"):
            assert frame[m].iloc[i] == ref[m], (i, m)
