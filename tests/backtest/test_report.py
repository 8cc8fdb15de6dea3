"""backtest.report*: the numbers the reports draw (checked by hand), the page (offline), bad input (named errors).

The reports' rendering in a real browser is checked in tests/cluster/test_report_browser.py.
"""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.report import (EquityInput, ReportInputError, ReportPathError, VarBacktestSeries, backtest_report,
                             check_report_path, frontier_report, montecarlo_report, var_backtest_report,
                             walkforward_report, write_report)
from backtest.report_equity import drawdown, monthly_returns, rolling_sharpe
from backtest.report_page import CHART_CLASS, Section, decimate, render_page
from backtest.report_research import sweep_grid
from backtest.report_risk import exception_mask
from raytrader.errors import InputError

DAY = 86_400_000


def _ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


def test_drawdown_is_below_the_running_peak_including_the_starting_cash() -> None:
    dd = drawdown(np.array([90.0, 120.0, 90.0, 130.0, 65.0]), 100.0)
    # peaks: 100 (cash), 120, 120, 130, 130
    assert dd == pytest.approx([-0.10, 0.0, -0.25, 0.0, -0.5])


def test_monthly_returns_chain_month_ends_from_the_starting_cash() -> None:
    ts = np.array([_ms("2024-01-05"), _ms("2024-01-31T23:59"), _ms("2024-02-10"), _ms("2024-03-01"),
                   _ms("2025-01-02")])
    eq = np.array([105.0, 110.0, 99.0, 108.9, 54.45])
    table = monthly_returns(ts, eq, 100.0)
    assert list(table.index) == [2024, 2025] and list(table.columns) == list(range(1, 13))
    assert table.loc[2024, 1] == pytest.approx(0.10)  # 110 / 100
    assert table.loc[2024, 2] == pytest.approx(-0.10)  # 99 / 110
    assert table.loc[2024, 3] == pytest.approx(0.10)  # 108.9 / 99
    assert table.loc[2025, 1] == pytest.approx(-0.50)  # 54.45 / 108.9
    assert math.isnan(table.loc[2024, 4]) and math.isnan(table.loc[2025, 2])


def test_rolling_sharpe_matches_mean_over_sample_std_of_the_window() -> None:
    eq = np.array([101.0, 100.0, 103.0, 102.0, 104.0, 103.5])
    ppy = 365.0
    out = rolling_sharpe(eq, 100.0, 3, ppy)
    curve = [100.0, *eq]
    rets = [curve[i + 1] / curve[i] - 1 for i in range(len(eq))]
    assert np.isnan(out[:2]).all()
    for t in range(2, len(eq)):
        window = rets[t - 2:t + 1]
        assert out[t] == pytest.approx(statistics.mean(window) / statistics.stdev(window) * math.sqrt(ppy))
    flat = rolling_sharpe(np.full(5, 100.0), 100.0, 3, ppy)
    assert np.isnan(flat).all()  # no variation: undefined, not infinite
    with pytest.raises(ReportInputError, match="window"):
        rolling_sharpe(eq, 100.0, 1, ppy)


def test_decimate_keeps_the_deepest_point_of_each_bucket() -> None:
    x = np.arange(10_000)
    y = np.zeros(10_000)
    y[4321] = -0.9
    xs, ys = decimate(x, y, 100, how="min")
    assert len(ys) <= 100 and ys.min() == -0.9
    xs, ys = decimate(x, y, 100)
    assert len(ys) <= 100 and xs[-1] == 9_999
    assert decimate(x[:50], y[:50], 100)[1].shape == (50,)


def test_sweep_grid_takes_the_best_over_other_parameters_in_the_metric_s_direction() -> None:
    table = pd.DataFrame({"fast": [5, 5, 5, 10], "slow": [20, 20, 30, 30], "stop": [0.01, 0.02, 0.01, 0.01],
                          "sharpe": [1.0, 2.0, -1.0, 0.5], "max_drawdown": [0.3, 0.1, 0.2, 0.4]})
    grid = sweep_grid(table, "fast", "slow", "sharpe")
    assert grid.loc[20, 5] == 2.0 and grid.loc[30, 5] == -1.0 and grid.loc[30, 10] == 0.5
    assert math.isnan(grid.loc[20, 10])
    assert sweep_grid(table, "fast", "slow", "max_drawdown").loc[20, 5] == 0.1  # lower is better
    with pytest.raises(ReportInputError, match="'calmar'"):
        sweep_grid(table, "fast", "slow", "calmar")


def test_exception_mask_is_a_return_below_minus_var_and_never_before_a_forecast() -> None:
    r = np.array([-0.05, -0.02, -0.03, 0.01, -0.021])
    v = np.array([np.nan, 0.02, 0.02, 0.02, 0.02])
    assert exception_mask(r, v).tolist() == [False, False, True, False, True]


def test_page_is_self_contained_and_escapes_text() -> None:
    import plotly.graph_objects as go

    page = render_page("a <b> & c", "sub", [Section("s", "n", go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))),
                                            Section("t", table=[["k", "v"], ["<x>", "1.5"]], header=True)])
    assert "a &lt;b&gt; &amp; c" in page and "&lt;x&gt;" in page
    assert page.count(f'class="{CHART_CLASS}"') == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page), "something is loaded from elsewhere"
    assert re.search(r"\* plotly\.js v\d+\.\d+\.\d+", page)  # plotly.js itself is inlined


def _equity_input(n: int = 400) -> EquityInput:
    rng = np.random.default_rng(3)
    eq = 1000.0 * np.cumprod(1 + rng.normal(0.0005, 0.01, n))
    ts = _ms("2023-11-01") + DAY * np.arange(n)
    return EquityInput(timestamp=ts, equity=eq, initial_cash=1000.0, exposure=np.where(np.arange(n) % 7 < 3, 1.0, 0.0),
                       trade_returns=rng.normal(0.0, 0.02, 40), periods_per_year=365.0,
                       metrics={"strategy": "s", "symbol": "X/Y", "total_return": eq[-1] / 1000 - 1, "sharpe": 1.2,
                                "n_trades": 40})


def test_each_builder_draws_its_charts() -> None:
    page = backtest_report(_equity_input())
    assert page.count(f'class="{CHART_CLASS}"') == 5  # equity+drawdown, months, trades, rolling Sharpe, exposure
    for title in ("Equity and drawdown", "Monthly returns", "Trade distribution", "Rolling Sharpe", "Exposure",
                  "Metrics"):
        assert f"<h2>{title}</h2>" in page
    folds = [{"fold": i, "params": {"fast": 5 * i}, "in_sample": {"sharpe": 1.0 + i, "total_return": 0.1},
              "out_of_sample": {"sharpe": -0.5, "total_return": -0.02, "n_trades": 3}} for i in range(3)]
    assert walkforward_report({"folds": folds}).count(CHART_CLASS) >= 1
    pct = {"p5": -0.2, "p25": -0.1, "p50": 0.0, "p75": 0.1, "p95": 0.2, "ci": [-0.2, 0.2]}
    assert montecarlo_report({"total_return": pct, "sharpe": pct, "max_drawdown": pct, "backtest": {}}).count(
        f'class="{CHART_CLASS}"') == 1
    frontier = [{"volatility": 0.01 + i * 0.001, "expected_return": 0.0005 + i * 0.0001} for i in range(5)]
    assert f'class="{CHART_CLASS}"' in frontier_report({"assets": ["A", "B"]}, frontier, [("qaoa", 0.012, 0.0007)])
    n = 50
    series = VarBacktestSeries(timestamp=_ms("2024-01-01") + DAY * np.arange(n), returns=np.linspace(-0.05, 0.05, n),
                               forecasts={"historical": np.full(n, 0.03)}, window=10, confidence=0.99)
    assert f'class="{CHART_CLASS}"' in var_backtest_report(series)


def test_bad_input_is_a_named_input_error() -> None:
    good = _equity_input(10)
    with pytest.raises(ReportInputError, match="exposure: expected 10 values") as info:
        EquityInput(timestamp=good.timestamp, equity=good.equity, initial_cash=1.0, exposure=np.zeros(9),
                    trade_returns=np.zeros(0), periods_per_year=365.0)
    assert isinstance(info.value, InputError)
    with pytest.raises(ReportInputError, match="initial_cash"):
        EquityInput(timestamp=good.timestamp, equity=good.equity, initial_cash=0.0, exposure=np.zeros(10),
                    trade_returns=np.zeros(0), periods_per_year=365.0)
    with pytest.raises(ReportInputError, match=r"forecasts\[fhs\]"):
        VarBacktestSeries(timestamp=np.arange(5), returns=np.zeros(5), forecasts={"fhs": np.zeros(4)}, window=2,
                          confidence=0.99)
    with pytest.raises(ReportInputError, match="folds"):
        walkforward_report({"folds": []})
    with pytest.raises(ReportInputError, match="frontier"):
        frontier_report({}, [{"volatility": 0.1, "expected_return": 0.1}])


def test_report_paths_are_checked_and_written_atomically(tmp_path: Path) -> None:
    with pytest.raises(ReportPathError, match="is a folder"):
        check_report_path(tmp_path)
    with pytest.raises(ReportPathError, match="does not exist"):
        check_report_path(tmp_path / "no" / "r.html")
    path = write_report("<html></html>", tmp_path / "r.html")
    assert path.read_text() == "<html></html>" and path.is_absolute()
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left
