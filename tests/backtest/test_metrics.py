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


def test_periods_per_year_uses_a_365_day_year():
    assert periods_per_year(300_000) == 105_120.0
    assert periods_per_year(86_400_000) == 365.0
    for bad in (0, -5, 1.5, True):
        with pytest.raises(TimeframeError, match="^timeframe_ms"):
            periods_per_year(bad)


@pytest.mark.parametrize("bad", [[], [100.0, 0.0], [100.0, float("nan")], [[1.0, 2.0]]])
def test_bad_equity_is_rejected(bad):
    with pytest.raises(EquityError, match="^equity"):
        max_drawdown(bad)


def test_summary_counts_from_initial_cash():
    bars = bars_from_close([100.0, 105.0, 115.0, 125.0, 130.0], [100.0, 100.0, 110.0, 120.0, 125.0])
    res = run_backtest(bars, [1, 1, 0, 0, 0], fees_bps=10, fill="close")
    out = summary(res, 300_000)
    assert set(out) == {"total_return", "sharpe", "max_drawdown", "n_trades", "final_equity"}
    assert out["n_trades"] == 1
    assert out["final_equity"] == pytest.approx(11477.022977022976, rel=1e-13)
    assert out["total_return"] == pytest.approx(0.1477022977022976, rel=1e-12)
    # the bar-0 entry fee is a drawdown from the 10000 starting cash
    assert out["max_drawdown"] == pytest.approx(1 - 1 / 1.001, rel=1e-12)
    curve = np.concatenate(([10_000.0], res.equity))
    assert out["sharpe"] == pytest.approx(sharpe(curve, 105_120.0), rel=1e-14)
