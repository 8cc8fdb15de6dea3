"""Our metrics against empyrical-reloaded (test-only dependency) on real backtests of the bundled data."""

from __future__ import annotations

import empyrical
import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.metrics import summary
from market.samples import load_sample
from strategies.sma_cross import sma_cross


@pytest.mark.parametrize(("sample", "fast", "slow", "fill", "target_scale"), [
    ("ETH-BTC-5m", 10, 30, "open", 1.0),
    ("BTC-USD-1d", 10, 30, "open", 1.0),
    ("ETH-BTC-5m", 20, 100, "close", -0.5),  # short half: a different curve shape
    ("XRP-ETH-1m", 10, 30, "open", 1.0),
])
def test_risk_metrics_equal_empyrical(sample, fast, slow, fill, target_scale):
    bars = load_sample(sample)
    target = sma_cross(bars, fast=fast, slow=slow) * target_scale
    res = run_backtest(bars, target, fees_bps=10, fill=fill)
    out = summary(res, int(bars.timeframe_ms))
    # our convention, restated: bars per year measured from the timestamps, calendar years of 365.25 days
    years = (int(bars.timestamp[-1]) - int(bars.timestamp[0])) / (365.25 * 86_400_000)
    ppy = (len(bars) - 1) / years
    assert out["periods_per_year"] == pytest.approx(ppy, rel=1e-12) and out["years"] == pytest.approx(years)
    curve = np.concatenate(([res.initial_cash], res.equity))
    rets = curve[1:] / curve[:-1] - 1.0
    per_year_for_cagr = len(rets) / years  # empyrical's annualization that makes its years the calendar's

    assert out["sharpe"] == pytest.approx(empyrical.sharpe_ratio(rets, annualization=ppy), rel=1e-9)
    assert out["sortino"] == pytest.approx(empyrical.sortino_ratio(rets, annualization=ppy), rel=1e-9)
    assert out["annual_volatility"] == pytest.approx(empyrical.annual_volatility(rets, annualization=ppy), rel=1e-9)
    assert out["cagr"] == pytest.approx(empyrical.cagr(rets, annualization=per_year_for_cagr), rel=1e-9)
    assert out["max_drawdown"] == pytest.approx(-empyrical.max_drawdown(rets), rel=1e-9)
    assert out["calmar"] == pytest.approx(empyrical.calmar_ratio(rets, annualization=per_year_for_cagr), rel=1e-9)
    assert out["total_return"] == pytest.approx(empyrical.cum_returns_final(rets), rel=1e-9)
    assert out["max_drawdown"] > 0.05 and out["n_trades"] > 10
