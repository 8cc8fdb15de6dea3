"""Ranking a sweep by any metric the engine computes, and [research] defaults from the config file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from backtest.engine import run_backtest
from backtest.metrics import summary
from cluster import cli
from market.samples import load_sample
from strategies.sma_cross import sma_cross

GRID = ["-g", "fast=5:30:5", "-g", "slow=20:60:20"]


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1
    return json.loads(lines[0])


def _engine(bars, fast: int, slow: int, fees_bps: float = 10.0) -> dict:
    return summary(run_backtest(bars, sma_cross(bars, fast=fast, slow=slow), fees_bps=fees_bps), bars.timeframe_ms)


def test_a_sweep_ranked_by_sortino_matches_the_engine(ray_session, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sweep", "--sample", "ETH-BTC-5m", *GRID, "--metric", "sortino", "--out", str(tmp_path / "s"),
                     "--json"]) == 0
    out = _json(capsys)
    frame = pd.read_parquet(out["results_path"])
    bars = load_sample("ETH-BTC-5m").take(slice(0, out["in_sample"]["bars"]))
    # the sortino column is the engine's own number, configuration by configuration
    expected = np.array([_engine(bars, int(f), int(s))["sortino"] for f, s in frame[["fast", "slow"]].to_numpy()])
    assert np.allclose(frame["sortino"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert out["best"]["sortino"] == pytest.approx(expected.max())
    assert (out["best"]["fast"], out["best"]["slow"]) == tuple(frame[["fast", "slow"]].to_numpy()[expected.argmax()])
    tops = [row["sortino"] for row in out["top"]]
    assert tops == sorted(tops, reverse=True)
    assert out["best"]["out_of_sample"]["sortino"] is not None


def test_drawdown_ranks_lowest_first(ray_session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sweep", "--sample", "ETH-BTC-5m", *GRID, "--metric", "max_drawdown", "--out",
                     str(tmp_path / "s"), "--json"]) == 0
    out = _json(capsys)
    frame = pd.read_parquet(out["results_path"])
    assert out["best"]["max_drawdown"] == frame["max_drawdown"].min()
    tops = [row["max_drawdown"] for row in out["top"]]
    assert tops == sorted(tops)


def test_research_defaults_come_from_the_config_file(ray_session, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "raytrader.toml"
    config.write_text('[research]\nfees_bps = 3\nmetric = "calmar"\ngrid = "fast=5:30:5;slow=20:60:20"\n'
                      'params = "fast=12,slow=40"\n')
    assert cli.main(["--config", str(config), "sweep", "--sample", "ETH-BTC-5m", "--out", str(tmp_path / "s"),
                     "--json"]) == 0
    out = _json(capsys)
    assert out["fees_bps"] == 3.0 and out["metric"] == "calmar" and out["grid"] == ["fast=5:30:5", "slow=20:60:20"]
    # a flag given on the command line wins, even when it equals the built-in default
    assert cli.main(["--config", str(config), "sweep", "--sample", "ETH-BTC-5m", "--fees-bps", "10", "--metric",
                     "sharpe", "--out", str(tmp_path / "s2"), "--json"]) == 0
    out = _json(capsys)
    assert out["fees_bps"] == 10.0 and out["metric"] == "sharpe"
    # Monte Carlo takes the strategy parameters from [research] params (one task: one worker to start, not four;
    # the split does not change the numbers)
    assert cli.main(["--config", str(config), "montecarlo", "--sample", "ETH-BTC-5m", "--paths", "50", "--tasks", "1",
                     "--json"]) == 0
    mc = _json(capsys)
    assert mc["backtest"]["params"] == {"fast": 12, "slow": 40} and mc["backtest"]["fees_bps"] == 3.0
    assert json.loads(Path(mc["summary_path"]).read_text())["n_paths"] == 50  # its run folder
    bars = load_sample("ETH-BTC-5m")
    assert mc["backtest"]["total_return"] == _engine(bars, 12, 40, fees_bps=3.0)["total_return"]


def test_a_bad_research_metric_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "raytrader.toml"
    config.write_text('[research]\nmetric = "luck"\n')
    assert cli.main(["--config", str(config), "sweep", "--sample", "ETH-BTC-5m"]) == 2
    assert "config field 'research.metric': expected one of" in capsys.readouterr().err
    config.write_text('[research]\nfill = "mid"\n')
    assert cli.main(["--config", str(config), "sweep", "--sample", "ETH-BTC-5m"]) == 2
    assert "research.fill" in capsys.readouterr().err
