import math
import statistics

import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.errors import EquityError, TimeframeError
from backtest.metrics import max_drawdown, periods_per_year, sharpe, summary, total_return
from tests._bars import bars_from_close


def test_total_return_is_a_fraction():
    assert total_return(np.array([100.0, 110.0, 121.0])) == pytest.approx(0.21, rel=1e-14)
    assert total_return([50.0]) == 0.0


def test_max_drawdown_is_the_worst_peak_to_trough_fall():
    # falls: 120 -> 90 (25 %), 150 -> 105 (30 %)
    assert max_drawdown([100.0, 120.0, 90.0, 150.0, 105.0]) == pytest.approx(0.30, rel=1e-14)
    assert max_drawdown([1.0, 2.0, 3.0]) == 0.0


def test_sharpe_is_mean_over_sample_std_annualised():
    equity = [100.0, 110.0, 99.0, 108.9, 108.9]
    rets = [0.1, -0.1, 0.1, 0.0]
    expected = statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(365)
    assert sharpe(equity, 365) == pytest.approx(expected, rel=1e-12)
    assert sharpe([100.0, 100.0, 100.0], 365) == 0.0
    assert sharpe([100.0, 101.0], 365) == 0.0  # a single return has no sample std


def test_periods_per_year_uses_a_365_25_day_year():
    assert periods_per_year(300_000) == 365.25 * 288
    assert periods_per_year(86_400_000) == 365.25
    for bad in (0, -5, 1.5, True):
        with pytest.raises(TimeframeError, match="^timeframe_ms"):
            periods_per_year(bad)


@pytest.mark.parametrize("bad", [[], [100.0, -1.0], [0.0, 100.0], [100.0, 0.0, 5.0], [100.0, float("nan")],
                                 [[1.0, 2.0]]])
def test_bad_equity_is_rejected(bad):
    with pytest.raises(EquityError, match="^equity"):
        max_drawdown(bad)


def test_summary_counts_from_initial_cash():
    bars = bars_from_close([100.0, 105.0, 115.0, 125.0, 130.0], [100.0, 100.0, 110.0, 120.0, 125.0])
    res = run_backtest(bars, [1, 1, 0, 0, 0], fees_bps=10, fill="close")
    out = summary(res, 300_000)
    assert {"total_return", "sharpe", "max_drawdown", "n_trades", "final_equity"} <= set(out)
    assert set(out) == {
        "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
        "max_drawdown_duration_bars", "max_drawdown_duration_ms", "n_trades", "win_rate", "profit_factor",
        "expectancy", "exposure", "turnover", "fees_paid", "final_equity", "periods_per_year",
        "periods_per_year_source", "years", "ruined_at", "ruined_at_ms",
    }
    assert out["ruined_at"] is None and out["ruined_at_ms"] is None
    # five gap-free 5-minute bars: the measured bars per year is the nominal one
    assert out["periods_per_year"] == pytest.approx(365.25 * 288, rel=1e-12)
    assert out["periods_per_year_source"] == "measured"
    assert out["n_trades"] == 1
    assert out["final_equity"] == pytest.approx(11477.022977022976, rel=1e-13)
    assert out["total_return"] == pytest.approx(0.1477022977022976, rel=1e-12)
    # the bar-0 entry fee is a drawdown from the 10000 starting cash
    assert out["max_drawdown"] == pytest.approx(1 - 1 / 1.001, rel=1e-12)
    curve = np.concatenate(([10_000.0], res.equity))
    assert out["sharpe"] == pytest.approx(sharpe(curve, 365.25 * 288), rel=1e-12)


# ---------------------------------------------------------------- hand-computed examples of the newer metrics
from backtest.metrics import (  # noqa: E402
    annual_volatility,
    cagr,
    calmar,
    expectancy,
    exposure,
    max_drawdown_duration,
    profit_factor,
    sortino,
    turnover,
    win_rate,
)
from backtest.errors import TradesError  # noqa: E402
from backtest.trades import Trade  # noqa: E402

T0 = 1_515_542_400_000


def _t(pnl, *, open_=False):
    return Trade(entry_time=T0, exit_time=None if open_ else T0 + 1, entry_price=1.0,
                 exit_price=None if open_ else 1.0, side="long", units=1.0, pnl=pnl, return_pct=pnl)


def test_cagr_compounds_per_year():
    # doubling over 730 daily returns is sqrt(2) - 1 a year
    eq = np.geomspace(100.0, 200.0, 731)
    assert cagr(eq, 365) == pytest.approx(math.sqrt(2) - 1, rel=1e-12)
    assert cagr([100.0], 365) == 0.0


def test_volatility_sortino_by_hand():
    equity = [100.0, 110.0, 99.0, 108.9, 108.9]  # returns 0.1, -0.1, 0.1, 0.0
    assert annual_volatility(equity, 365) == pytest.approx(statistics.stdev([0.1, -0.1, 0.1, 0.0]) * math.sqrt(365))
    # downside deviation sqrt((0 + 0.01 + 0 + 0) / 4) = 0.05; mean 0.025 -> 0.5 * sqrt(365)
    assert sortino(equity, 365) == pytest.approx(0.5 * math.sqrt(365), rel=1e-12)
    assert sortino([100.0, 101.0, 102.0], 365) == 0.0  # no downside: undefined -> 0


def test_drawdown_duration_counts_bars_from_peak_to_recovery():
    # 120 at bar 1 is regained at bar 4 (3 bars); 130 at bar 5 is not regained by bar 6 (1 bar so far)
    assert max_drawdown_duration([100.0, 120.0, 90.0, 110.0, 120.0, 130.0, 100.0]) == 3
    assert max_drawdown_duration([100.0, 90.0, 80.0, 85.0]) == 3  # never recovered: to the last bar
    assert max_drawdown_duration([1.0, 2.0, 2.0, 3.0]) == 0


def test_drawdown_duration_matches_a_brute_force_scan():
    rng = np.random.default_rng(7)
    eq = 100 * np.cumprod(1 + rng.normal(0, 0.01, 2_000))
    best, peak_i, peak = 0, 0, eq[0]
    for i, v in enumerate(eq):
        if v >= peak:
            best, peak_i, peak = max(best, i - peak_i), i, v
    best = max(best, len(eq) - 1 - peak_i)
    assert max_drawdown_duration(eq) == best


def test_calmar_is_cagr_over_drawdown():
    eq = [100.0, 120.0, 90.0, 150.0]
    assert calmar(eq, 365) == pytest.approx(cagr(eq, 365) / 0.25, rel=1e-14)
    assert calmar([1.0, 2.0], 365) == 0.0


def test_trade_statistics_use_closed_trades():
    trades = [_t(30.0), _t(-10.0), _t(-20.0), _t(50.0), _t(-1_000.0, open_=True)]
    assert win_rate(trades) == 0.5
    assert profit_factor(trades) == pytest.approx(80 / 30, rel=1e-14)
    assert expectancy(trades) == pytest.approx(12.5, rel=1e-14)
    assert win_rate(trades, include_open=True) == pytest.approx(0.4)
    assert expectancy(trades, include_open=True) == pytest.approx(-950 / 5)
    assert profit_factor([_t(5.0)]) == math.inf and profit_factor([]) == 0.0 and win_rate([]) == 0.0
    with pytest.raises(TradesError, match=r"^trades\[0\]"):
        win_rate([{"pnl": 1.0}])


def test_exposure_and_turnover():
    assert exposure([0.0, 1.0, -2.0, 0.0]) == 0.5
    assert exposure(np.array([[0.0, 0.0], [0.0, 3.0]])) == 0.5
    # buy all 100 and sell all 110 against a mean equity of 105 -> 210 / 105 = 2
    assert turnover([0.0, 100.0, 0.0, 110.0], [100.0, 100.0, 110.0, 110.0]) == pytest.approx(2.0, rel=1e-14)


def test_summary_with_no_losing_trade_reports_null_profit_factor():
    bars = bars_from_close([100.0, 105.0, 115.0, 125.0, 130.0], [100.0, 100.0, 110.0, 120.0, 125.0])
    out = summary(run_backtest(bars, [1, 1, 0, 0, 0]), 300_000)
    assert out["profit_factor"] is None and out["win_rate"] == 1.0
    assert out["exposure"] == 0.4 and out["turnover"] > 0
