"""Issue 11 A3: CAGR over calendar time; bars per year measured from the timestamps, overridable, printed.

Daily stock data (the bundled S&P 500 panel: AAPL) trades about 252 days a year, daily
crypto every day; the metrics must follow each data set's own calendar and agree with
empyrical when empyrical is told the same convention.
"""

from __future__ import annotations

import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from backtest.engine import run_backtest
from backtest.metrics import equity_summary, measured_periods_per_year, summary, years_spanned
from backtest.grid import expand_grid, parse_grid
from backtest.sweep import evaluate_configs
from market.bars import Bars
from market.samples import load_sample, load_sample_frame
from strategies.registry import get_strategy

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def aapl() -> Bars:
    """AAPL adjusted daily closes 2018-01-02..2022-12-28 from the bundled panel (open = close: close-only data)."""
    frame = load_sample_frame("sp500-close-1d")
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    part = frame[(ts >= "2018-01-02") & (ts <= "2022-12-28")]
    close = part["AAPL"].to_numpy(np.float64)
    stamp = pd.to_datetime(part["timestamp"], utc=True).dt.as_unit("ms").astype("int64").to_numpy()
    return Bars(timestamp=stamp, open=close, high=close, low=close, close=close, volume=np.ones_like(close),
                symbol="AAPL", timeframe="1d", venue="us-equities")


def test_bars_per_year_follow_each_data_sets_calendar(aapl: Bars) -> None:
    stocks = measured_periods_per_year(aapl.timestamp, DAY_MS)
    assert 250.0 <= stocks <= 254.0  # weekends and holidays are absent
    btc = load_sample("BTC-USD-1d")
    days = (int(btc.timestamp[-1]) - int(btc.timestamp[0])) / DAY_MS
    assert measured_periods_per_year(btc.timestamp, DAY_MS) == pytest.approx((len(btc) - 1) / (days / 365.25))
    assert measured_periods_per_year(btc.timestamp, DAY_MS) == pytest.approx(365.25, rel=1e-3)  # crypto never closes
    eth = load_sample("ETH-BTC-5m")
    assert measured_periods_per_year(eth.timestamp, 300_000) == pytest.approx(365.25 * 288, rel=1e-3)
    # one bar has no span: the nominal value of the timeframe
    assert measured_periods_per_year(aapl.timestamp[:1], DAY_MS) == 365.25


def test_cagr_follows_calendar_time_on_aapl(aapl: Bars) -> None:
    res = run_backtest(aapl, np.ones(len(aapl)), fill="close")  # buy and hold, no fee
    out = summary(res, DAY_MS)
    years = (pd.Timestamp("2022-12-28") - pd.Timestamp("2018-01-02")).days / 365.25
    assert out["years"] == pytest.approx(years, rel=1e-12) and years_spanned(aapl.timestamp) == out["years"]
    growth = aapl.close[-1] / aapl.close[0]
    assert out["cagr"] == pytest.approx(growth ** (1 / years) - 1, rel=1e-9)
    assert out["cagr"] < growth ** (365 / len(aapl)) - 1  # the old bars/365 reading overstated it
    curve = np.concatenate(([res.initial_cash], res.equity))
    rets = curve[1:] / curve[:-1] - 1.0
    ppy = out["periods_per_year"]
    assert out["cagr"] == pytest.approx(empyrical.cagr(rets, annualization=len(rets) / years), rel=1e-9)
    assert out["sharpe"] == pytest.approx(empyrical.sharpe_ratio(rets, annualization=ppy), rel=1e-9)
    assert out["sortino"] == pytest.approx(empyrical.sortino_ratio(rets, annualization=ppy), rel=1e-9)
    assert out["annual_volatility"] == pytest.approx(empyrical.annual_volatility(rets, annualization=ppy), rel=1e-9)


def test_the_issues_aapl_numbers(aapl: Bars) -> None:
    """A curve over AAPL's 2018-01-02..2022-12-28 dates that the old rule annualised to 0.189 is ~0.127 per calendar year."""
    n = len(aapl)
    growth = 1.189 ** (n / 365)  # what "CAGR 0.189" meant: bars / 365 years
    curve = np.concatenate(([10_000.0], 10_000.0 * np.geomspace(growth ** (1 / n), growth, n)))
    out = equity_summary(curve, aapl.timestamp, DAY_MS)
    assert out["cagr"] == pytest.approx(0.127, abs=0.001)


def test_periods_per_year_can_be_given_and_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    from cluster import cli

    argv = ["backtest", "--sample", "BTC-USD-1d", "-p", "fast=20", "-p", "slow=100"]
    assert cli.main([*argv, "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert cli.main([*argv, "--json", "--periods-per-year", "252"]) == 0
    given = json.loads(capsys.readouterr().out)
    assert measured["periods_per_year_source"] == "measured" and given["periods_per_year_source"] == "given"
    assert given["periods_per_year"] == 252.0
    ratio = math.sqrt(252.0 / measured["periods_per_year"])
    assert given["sharpe"] == pytest.approx(measured["sharpe"] * ratio, rel=1e-12)
    assert given["cagr"] == measured["cagr"] and given["total_return"] == measured["total_return"]  # calendar only
    assert cli.main([*argv, "--periods-per-year", "252"]) == 0
    assert "periods/year 252.00 (given)" in capsys.readouterr().out
    assert cli.main(argv) == 0
    assert f"periods/year {measured['periods_per_year']:,.2f} (measured)" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0", "-5", "nan", "inf"])
def test_a_bad_periods_per_year_exits_2_naming_it(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cluster import cli

    assert cli.main(["backtest", "--sample", "BTC-USD-1d", f"--periods-per-year={bad}"]) == 2
    err = capsys.readouterr().err
    assert "periods_per_year" in err and len(err.strip().splitlines()) == 1


def test_sweeps_measure_and_accept_periods_per_year(aapl: Bars) -> None:
    sma = get_strategy("sma_cross")
    names, params = expand_grid(sma, parse_grid(["fast=5,10", "slow=30,50"]))
    measured = evaluate_configs(aapl, sma, names, params, timeframe_ms=DAY_MS, fees_bps=10)
    given = evaluate_configs(aapl, sma, names, params, timeframe_ms=DAY_MS, fees_bps=10, periods_per_year=252.0)
    ppy = measured_periods_per_year(aapl.timestamp, DAY_MS)
    for i, (fast, slow) in enumerate(params.tolist()):
        one = summary(run_backtest(aapl, sma.run(aapl, {"fast": fast, "slow": slow}), fees_bps=10), DAY_MS)
        assert measured.sharpe[i] == one["sharpe"] and one["periods_per_year"] == ppy
    np.testing.assert_allclose(given.sharpe, measured.sharpe * math.sqrt(252.0 / ppy), rtol=1e-12)
    assert measured.periods_per_year == ppy and given.periods_per_year == 252.0  # for the job to print
