"""Ranking by any metric: one place (backtest.metrics) decides which way each metric ranks."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.metrics import LOWER_IS_BETTER, RANKING_METRICS, rank_order, ranking_mode


def test_drawdown_like_metrics_rank_lowest_first_others_highest_first() -> None:
    values = np.array([0.30, 0.10, 0.20])
    assert rank_order(values, "max_drawdown").tolist() == [1, 2, 0]
    assert rank_order(values, "sortino").tolist() == [0, 2, 1]
    assert ranking_mode("max_drawdown") == "min" and ranking_mode("calmar") == "max"
    assert LOWER_IS_BETTER <= set(RANKING_METRICS)
    assert {"sortino", "calmar", "profit_factor"} <= set(RANKING_METRICS) - LOWER_IS_BETTER


def test_nan_ranks_last_inf_profit_factor_first_and_ties_keep_their_order() -> None:
    values = np.array([1.5, np.nan, 3.0, np.inf, 3.0])
    assert rank_order(values, "profit_factor").tolist() == [3, 2, 4, 0, 1]
    assert rank_order(np.array([np.nan, 0.2, 0.1]), "max_drawdown").tolist() == [2, 1, 0]


@pytest.mark.parametrize("metric", RANKING_METRICS)
def test_every_ranking_metric_puts_the_best_value_first(metric: str) -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=50)
    best = values[rank_order(values, metric)[0]]
    assert best == (values.min() if metric in LOWER_IS_BETTER else values.max())
