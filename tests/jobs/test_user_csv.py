"""A user's own CSV files, as Yahoo Finance and pandas write them, through every command that takes --data.

The done-criterion of issue 11: a user's CSV from Yahoo Finance goes through
backtest, sweep, walk-forward, Monte Carlo and a Ray job without editing. The
files are built from the bundled real data (``tests/market/user_files.py``);
every run is compared with the same run on the bars the file was written from.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import ccxt
import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.metrics import summary
from cluster import cli
from cluster.jobs import submit_and_wait
from jobs.backtest import BacktestRequest, run_backtest_request
from market.emulator.client import ccxt_config, point_at
from market.io import read_bars
from market.samples import load_sample
from strategies.sma_cross import sma_cross
from tests.conftest import REPO
from tests.market.user_files import btc_daily, epoch_csv, yahoo_csv, yfinance_csv

RAYTRADER = str(Path(sys.executable).with_name("raytrader"))


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 1, out[-2000:]
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def yahoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``BTC-USD.csv`` exactly as ``yf.download("BTC-USD").to_csv()`` writes it (three-row header)."""
    return yfinance_csv(tmp_path_factory.mktemp("yahoo") / "BTC-USD.csv", btc_daily("2018-01-01", "2022-01-01"))


def _reference(fast: int, slow: int) -> dict:
    bars = btc_daily("2018-01-01", "2022-01-01")
    return summary(run_backtest(bars, sma_cross(bars, fast=fast, slow=slow), fees_bps=10), bars.timeframe_ms)


def test_yahoo_csv_backtests_without_editing(yahoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", "--data", str(yahoo), "-p", "fast=10", "-p", "slow=30", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "timeframe 1d inferred from the timestamps" in captured.err  # said, and --timeframe overrides
    assert (out["symbol"], out["timeframe"], out["bars"]) == ("BTC-USD", "1d", 1461)
    ref = _reference(10, 30)
    for key in ("total_return", "max_drawdown", "n_trades"):
        assert out[key] == ref[key], key
    assert cli.main(["backtest", "--data", str(yahoo), "--timeframe", "1w", "--json"]) == 2
    assert "spacing" in capsys.readouterr().err


def test_yahoo_csv_sweeps_walks_forward_and_runs_monte_carlo(yahoo: Path, ray_session, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sweep", "--data", str(yahoo), "-g", "fast=5:20:5", "-g", "slow=30:60:10", "--trials", "1",
                     "--trial-cpus", "0.5", "--holdout", "0", "--out", str(tmp_path / "sweep"), "--json"]) == 0
    sweep = _json(capsys)
    assert (sweep["symbol"], sweep["timeframe"], sweep["bars"], sweep["n_configs"]) == ("BTC-USD", "1d", 1461, 16)
    import pandas as pd

    frame = pd.read_parquet(sweep["results_path"])
    row = frame[(frame["fast"] == 10) & (frame["slow"] == 30)].iloc[0]
    assert row["total_return"] == _reference(10, 30)["total_return"]  # the trial saw the file's bars

    assert cli.main(["walkforward", "--data", str(yahoo), "-g", "fast=5:20:5", "-g", "slow=30:60:10", "--folds", "3",
                     "--train-bars", "600", "--json"]) == 0
    wf = _json(capsys)
    assert wf["n_folds"] == 3 and wf["symbol"] == "BTC-USD" and wf["timeframe"] == "1d"

    assert cli.main(["montecarlo", "--data", str(yahoo), "-p", "fast=10", "-p", "slow=30", "--paths", "200",
                     "--tasks", "2", "--seed", "3", "--json"]) == 0
    mc = _json(capsys)
    assert mc["backtest"]["total_return"] == _reference(10, 30)["total_return"] and mc["n_paths"] == 200


def test_yahoo_csv_as_a_plain_ray_job(yahoo: Path, cluster) -> None:
    entry = f"python -m jobs.backtest --data {yahoo} -p fast=10 -p slow=30 --json"
    outcome = submit_and_wait(cluster.ray.dashboard_url, entry, name="yahoo-backtest", timeout_s=240,
                              show_progress=False)
    assert outcome.status == "SUCCEEDED"
    assert (outcome.result["symbol"], outcome.result["timeframe"], outcome.result["bars"]) == ("BTC-USD", "1d", 1461)
    assert outcome.result["total_return"] == _reference(10, 30)["total_return"]


# ----------------------------------------------------------------------------- several plain files
def test_multi_asset_strategy_takes_plain_files_named_by_symbol_or_file_name(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    eth, ltc = load_sample("ETH-BTC-5m"), load_sample("LTC-BTC-5m")
    a, b = epoch_csv(tmp_path / "ETH-BTC.csv", eth), epoch_csv(tmp_path / "LTC-BTC.csv", ltc)
    base = ["backtest", "--strategy", "pairs_trading", "--json"]
    assert cli.main([*base, "--sample", "ETH-BTC-5m", "--sample", "LTC-BTC-5m"]) == 0
    from_samples = _json(capsys)
    assert cli.main([*base, "--data", str(a), "--data", str(b), "--symbol", "ETH/BTC", "--symbol", "LTC/BTC"]) == 0
    named = _json(capsys)
    assert named["symbols"] == ["ETH/BTC", "LTC/BTC"]
    for key in ("total_return", "sharpe", "n_trades", "bars"):
        assert named[key] == from_samples[key], key
    assert cli.main([*base, "--data", str(a), "--data", str(b)]) == 0
    assert _json(capsys)["symbols"] == ["ETH-BTC", "LTC-BTC"]  # from the file names
    assert cli.main([*base, "--data", str(a), "--data", str(b), "--symbol", "ETH/BTC"]) == 2
    assert "--symbol: given 1 time(s) for 2 --data file(s)" in capsys.readouterr().err
    # the same file twice is still refused, naming the symbol
    with pytest.raises(Exception, match=r"given twice \(ETH-BTC, ETH-BTC\)"):
        run_backtest_request(BacktestRequest(strategy="pairs_trading", params=(), data=(str(a), str(a))))


# ----------------------------------------------------------------------------- the exchange emulator
def test_exchange_serve_replays_a_plain_csv(tmp_path: Path) -> None:
    path = yahoo_csv(tmp_path / "BTC-USD.csv", btc_daily("2020-01-01", "2021-01-01"))
    want = read_bars(path)[0]
    proc = subprocess.Popen([RAYTRADER, "exchange", "serve", "--data", str(path), "--port", "0", "--json",
                             "--timeframe", "1d", "--warmup-bars", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.poll() is not None else "no output"
        info = json.loads(line)
        assert info["markets"] == ["BTC/USD"]  # the Yahoo ticker BTC-USD as a market
        ex = point_at(ccxt.binance(ccxt_config()), info["url"])
        ex.load_markets()
        candles = ex.fetch_ohlcv("BTC/USD", "1d", since=int(want.timestamp[0]), limit=50)
        assert len(candles) >= 50
        got = np.asarray(candles[:50], dtype=np.float64)
        assert np.array_equal(got[:, 0], want.timestamp[:50].astype(np.float64))
        assert np.allclose(got[:, 4], want.close[:50], rtol=0, atol=1e-9)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


# ----------------------------------------------------------------------------- a close panel for optimize
@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_optimize_reads_a_pandas_close_panel_with_a_date_column(tmp_path: Path, tz: str | None,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from market.samples import load_sample_frame

    assets = "AAPL,MSFT,KO,XOM,JPM,PG"
    panel = load_sample_frame("sp500-close-1d").set_index("timestamp")[assets.split(",")]
    panel.index = panel.index.tz_localize(None)
    if tz:  # yfinance's daily dates: local midnight with its offset
        panel.index = panel.index.tz_localize(tz)
    panel.index.name = "Date"
    panel.to_csv(tmp_path / "panel.csv")
    args = ["optimize", "--assets", assets, "--budget", "2", "--solver", "exact", "--json"]
    assert cli.main(args) == 0
    bundled = _json(capsys)
    assert cli.main([*args, "--data", str(tmp_path / "panel.csv")]) == 0
    mine = _json(capsys)
    assert mine["window"] == bundled["window"] and mine["exact_selected"] == bundled["exact_selected"]
    assert mine["exact_objective"] == pytest.approx(bundled["exact_objective"], rel=1e-12)
