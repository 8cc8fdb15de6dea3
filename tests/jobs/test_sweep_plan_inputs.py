"""The sweep's plan refuses, before Ray starts, the costs and cash the engine refuses (with the engine's own checks)."""

from __future__ import annotations

import pytest

from backtest.costs import MAX_FEES_BPS
from jobs.sweep import SweepRequest, SweepRequestError, plan_sweep


@pytest.mark.parametrize("kwargs, flag", [
    ({"fees_bps": MAX_FEES_BPS}, "--fees-bps"),
    ({"fees_bps": -1.0}, "--fees-bps"),
    ({"fees_bps": float("nan")}, "--fees-bps"),
    ({"cash": 0.0}, "--cash"),
    ({"cash": float("inf")}, "--cash"),
])
def test_plan_refuses_what_the_engine_refuses(kwargs: dict, flag: str) -> None:
    req = SweepRequest(sample="ETH-BTC-5m", grid=("fast=5:20:5", "slow=30:60:10"), **kwargs)
    with pytest.raises(SweepRequestError, match=flag):
        plan_sweep(req)


def test_plan_accepts_the_largest_fee_below_the_bound() -> None:
    req = SweepRequest(sample="ETH-BTC-5m", grid=("fast=5:20:5", "slow=30:60:10"), fees_bps=MAX_FEES_BPS - 1)
    assert plan_sweep(req).n_configs > 0


def test_one_periods_per_year_for_every_part_of_the_sweep() -> None:
    """Measured once on all bars (in-sample + holdout), or the flag; bad values name the flag."""
    from backtest.metrics import measured_periods_per_year
    from market.samples import load_sample

    grid = ("fast=5:20:5", "slow=30:60:10")
    plan = plan_sweep(SweepRequest(sample="ETH-BTC-5m", grid=grid))
    bars = load_sample("ETH-BTC-5m")
    assert plan.periods_per_year == pytest.approx(measured_periods_per_year(bars.timestamp, bars.timeframe_ms))
    assert plan_sweep(SweepRequest(sample="ETH-BTC-5m", grid=grid, periods_per_year=365.0)).periods_per_year == 365.0
    with pytest.raises(SweepRequestError, match="--periods-per-year"):
        plan_sweep(SweepRequest(sample="ETH-BTC-5m", grid=grid, periods_per_year=-1.0))
