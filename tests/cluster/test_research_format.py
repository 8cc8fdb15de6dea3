"""How walk-forward and Monte Carlo results read for people (pure formatting, no Ray)."""

from __future__ import annotations

import pytest

from cluster.commands.sweep import fmt_return, format_montecarlo, format_walkforward, montecarlo_method
from cluster.progress import progress_enabled

DAY = 86_400_000


@pytest.mark.parametrize(("value", "text"), [(0.1234, "+12.3%"), (-0.05, "-5.0%"), (9.5, "+950.0%"),
                                             (11.3, "x12.3"), (522989.369, "x523k"), (2.2e6, "x2.2M"),
                                             (None, "n/a"), (float("nan"), "n/a")])
def test_returns_read_as_percent_or_equity_multiple(value, text) -> None:
    assert fmt_return(value) == text
    assert len(fmt_return(value)) <= 9


def _mc(total_return: dict, method: str = "bootstrap") -> dict:
    dist = {"mean": 0.0, "std": 0.0}
    return {"backtest": {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}, "symbol": "BTC/USD",
                         "timeframe": "1d", "bars": 5152, "total_return": 23944.48, "sharpe": 1.49,
                         "max_drawdown": 0.7027, "n_trades": 94},
            "method": method, "replace": False, "block_bars": 1, "seed": 0, "tasks": 4, "n_paths": 10000,
            "confidence": 0.95, "ruin_level": 0.5, "prob_ruin": 0.0685, "seconds": 16.0,
            "total_return": {**dist, **total_return},
            "sharpe": {**dist, "p5": 1.06, "p25": 1.31, "p50": 1.5, "p75": 1.68, "p95": 1.94, "ci": [0.98, 2.03]},
            "max_drawdown": {**dist, "p5": 0.496, "p25": 0.584, "p50": 0.653, "p75": 0.727, "p95": 0.833,
                             "ci": [0.47, 0.863]}}


def test_monte_carlo_columns_line_up_even_for_huge_returns() -> None:
    text = format_montecarlo(_mc({"p5": 600.0, "p25": 5170.0, "p50": 522989.369, "p75": 114000.0, "p95": 986000.0,
                                  "ci": [290.0, 2.19e6]}))
    assert not [c for c in text.splitlines()[4].split()[2:] if "%" in c]  # no +52298936.90% in the table
    assert "x523k" in text and "equity multiples" in text
    rows = text.splitlines()[3:7]  # header, total return, sharpe, max drawdown
    # every percentile column ends at the same place in every row
    ends = [[i + 1 for i, c in enumerate(row[:64]) if c != " " and (i + 1 == len(row) or row[i + 1] == " ")]
            for row in rows]
    assert ends[0][-5:] == ends[1][-5:] == ends[2][-5:] == ends[3][-5:]
    assert "+2394448" not in text  # the backtest's own return is readable too
    assert text.splitlines()[1].startswith("method: block bootstrap") and "\n" not in montecarlo_method(_mc({}))


def test_small_returns_stay_percentages_and_the_trades_method_is_explained() -> None:
    r = _mc({"p5": -0.12, "p25": 0.01, "p50": 0.05, "p75": 0.09, "p95": 0.2, "ci": [-0.15, 0.25]}, method="trades")
    text = format_montecarlo(r)
    assert "-12.0%" in text and "+20.0%" in text and "equity multiples" not in text
    assert "94 trade returns shuffled" in text


def _fold(i: int, start_ms: int, train: int, test: int, step_ms: int) -> dict:
    t0 = start_ms + i * test * step_ms
    return {"fold": i, "train_start": i * test, "train_end": i * test + train, "test_start": i * test + train,
            "test_end": i * test + train + test,
            "train_time": [t0, t0 + (train - 1) * step_ms],
            "test_time": [t0 + train * step_ms, t0 + (train + test - 1) * step_ms],
            "params": {"fast": 12, "slow": 40}, "in_sample": {"sharpe": 1.2},
            "out_of_sample": {"total_return": -0.039, "sharpe": -4.67, "n_trades": 14}}


def _wf(folds: list[dict], timeframe: str) -> dict:
    return {"strategy": "sma_cross", "mode": "rolling", "n_folds": len(folds), "n_configs": 93, "metric": "sharpe",
            "symbol": "ETH/BTC", "timeframe": timeframe, "bars": 5760, "fees_bps": 10.0, "folds": folds,
            "stability": {"modal_params": {"fast": 12, "slow": 40}, "modal_share": 1.0},
            "oos_total_return": -0.151, "efficiency": -1.5, "seconds": 3.0}


def test_walkforward_folds_are_shown_with_dates() -> None:
    start = 1_515_560_100_000  # 2018-01-10 04:55 UTC
    text = format_walkforward(_wf([_fold(i, start, 2000, 720, 300_000) for i in range(2)], "5m"))
    assert "2018-01-10 04:55 .. 2018-01-17 03:30" in text  # 2000 five-minute bars of training
    assert "2018-01-17 03:35 .. 2018-01-19 15:30" in text  # then 720 bars of test
    daily = format_walkforward(_wf([_fold(0, 1_514_764_800_000, 250, 60, DAY)], "1d"))
    assert "2018-01-01 .. 2018-09-07" in daily and ":" not in daily.splitlines()[3].split("fast")[0]


def test_progress_shows_for_people_and_for_json_only_on_a_terminal() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert progress_enabled(False, Pipe()) and progress_enabled(True, Tty())
    assert not progress_enabled(True, Pipe())
