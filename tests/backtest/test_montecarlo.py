"""Monte Carlo resampling: invariants that hold exactly, and a real backtest's trades and returns."""

from __future__ import annotations

import math

import numpy as np
import pytest

import strategies  # noqa: F401
from backtest.engine import run_backtest
from backtest.montecarlo import (
    MonteCarloError,
    MonteCarloPaths,
    bar_returns,
    simulate_block_bootstrap,
    simulate_trades,
    summarize_paths,
    trade_multipliers,
)
from raytrader.errors import InputError
from market.samples import load_sample
from strategies.sma_cross import sma_cross


@pytest.fixture(scope="module")
def backtest():
    bars = load_sample("ETH-BTC-5m")
    res = run_backtest(bars, sma_cross(bars, fast=10, slow=30), fees_bps=10)
    return bars, res


def _multipliers(res):
    entry = np.searchsorted(res.timestamp, [t.entry_time for t in res.trades])
    exit_ = np.asarray([-1 if t.exit_time is None else np.searchsorted(res.timestamp, t.exit_time)
                        for t in res.trades])
    return trade_multipliers(res.equity, entry, exit_, res.initial_cash)


def test_trade_multipliers_compound_to_the_backtests_return(backtest) -> None:
    _, res = backtest
    g = _multipliers(res)
    assert g.shape == (res.n_trades,) and res.n_trades > 50
    assert math.prod(g) == pytest.approx(res.final_equity / res.initial_cash, rel=1e-12)
    # each multiplier matches the trade's pnl over the equity it started with
    first = res.trades[0]
    assert g[0] == pytest.approx(1.0 + first.pnl / res.initial_cash, rel=1e-12)


def test_shuffling_trades_keeps_the_return_and_moves_the_drawdown(backtest) -> None:
    _, res = backtest
    g = _multipliers(res)
    paths = simulate_trades(g, n_paths=500, seed=1)
    assert np.allclose(paths.total_return, math.prod(g) - 1.0, rtol=1e-12, atol=1e-15)
    assert np.ptp(paths.max_drawdown) > 0.01  # order matters for the path
    assert np.all(paths.max_drawdown >= -(math.prod(g) - 1.0) - 1e-12)  # a loss is at least its own drawdown
    again = simulate_trades(g, n_paths=500, seed=1)
    assert np.array_equal(paths.max_drawdown, again.max_drawdown)  # seeded
    boot = simulate_trades(g, n_paths=500, seed=1, replace=True)
    assert np.ptp(boot.total_return) > 0.05


def test_ruin_is_flagged_when_equity_touches_the_level() -> None:
    paths = simulate_trades(np.array([0.4, 1.1, 1.1]), n_paths=50, seed=0, ruin_level=0.5)
    assert paths.ruined.all()  # a 60 % loss in any order crosses 50 %
    safe = simulate_trades(np.array([0.9, 1.1, 1.05]), n_paths=50, seed=0, ruin_level=0.5)
    assert not safe.ruined.any()
    assert summarize_paths(paths)["prob_ruin"] == 1.0 and summarize_paths(safe)["prob_ruin"] == 0.0


def test_a_single_full_length_block_is_a_rotation_of_the_series(backtest) -> None:
    _, res = backtest
    r = bar_returns(res.equity, res.initial_cash)
    paths = simulate_block_bootstrap(r, n_paths=20, block_bars=len(r), seed=2, periods_per_year=105_120)
    # a rotation keeps the product (total return) and the Sharpe of the same multiset of returns
    assert np.allclose(paths.total_return, res.final_equity / res.initial_cash - 1.0, rtol=1e-9)
    expected_sharpe = r.mean() / r.std(ddof=1) * math.sqrt(105_120)
    assert np.allclose(paths.sharpe, expected_sharpe, rtol=1e-9)


def test_block_bootstrap_distribution_and_summary(backtest) -> None:
    _, res = backtest
    r = bar_returns(res.equity, res.initial_cash)
    paths = simulate_block_bootstrap(r, n_paths=2000, block_bars=288, seed=0, periods_per_year=105_120)
    s = summarize_paths(paths, confidence=0.9)
    tr = s["total_return"]
    assert tr["ci"][0] < tr["p50"] < tr["ci"][1] and tr["p5"] == pytest.approx(tr["ci"][0])
    assert tr["p50"] == pytest.approx(float(np.median(paths.total_return)))
    assert s["max_drawdown"]["p5"] >= 0.0 and s["n_paths"] == 2000
    # the original -25 % lies well inside the bootstrap's 90 % interval
    assert tr["ci"][0] < res.final_equity / res.initial_cash - 1.0 < tr["ci"][1]
    halves = MonteCarloPaths.concat([paths, paths])
    assert len(halves) == 4000


@pytest.mark.parametrize("call, field", [
    (lambda: simulate_trades(np.array([1.1]), n_paths=5), "trades"),
    (lambda: simulate_trades(np.array([1.1, -0.5]), n_paths=5), "trades"),
    (lambda: simulate_trades(np.array([1.1, 0.9]), n_paths=0), "n_paths"),
    (lambda: simulate_trades(np.array([1.1, 0.9]), n_paths=5, ruin_level=1.0), "ruin_level"),
    (lambda: simulate_block_bootstrap(np.array([0.1, -0.1]), n_paths=5, block_bars=3), "block_bars"),
    (lambda: simulate_block_bootstrap(np.array([0.1, -1.5]), n_paths=5, block_bars=1), "returns"),
])
def test_bad_settings_are_named_errors(call, field: str) -> None:
    with pytest.raises(MonteCarloError, match=field) as err:
        call()
    assert isinstance(err.value, InputError)
