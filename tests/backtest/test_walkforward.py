"""Walk-forward splits and folds on real bundled data."""

from __future__ import annotations

import numpy as np
import pytest

import strategies  # noqa: F401
from backtest.engine import run_backtest
from backtest.metrics import measured_periods_per_year, summary
from backtest.grid import expand_grid, parse_grid
from backtest.walkforward import (
    Fold,
    FoldResult,
    WalkForwardError,
    check_fold_bars,
    make_splits,
    param_stability,
    run_fold,
    summarize,
)
from raytrader.errors import InputError
from market.samples import load_sample
from strategies.errors import InsufficientDataError
from strategies.registry import get_strategy
from strategies.sma_cross import sma_cross

SMA = get_strategy("sma_cross")


def test_rolling_splits_tile_the_test_windows_after_a_fixed_training_window() -> None:
    folds = make_splits(1000, n_folds=4, train_bars=200, mode="rolling")
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (0, 200, 200, 400), (200, 400, 400, 600), (400, 600, 600, 800), (600, 800, 800, 1000)]
    for a, b in zip(folds, folds[1:]):
        assert a.test_end == b.test_start  # back to back, no overlap
    assert all(f.train_end <= f.test_start for f in folds)  # no lookahead


def test_anchored_splits_train_from_the_first_bar() -> None:
    folds = make_splits(1000, n_folds=3, train_bars=400, test_bars=150, mode="anchored")
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (0, 400, 400, 550), (0, 550, 550, 700), (0, 700, 700, 850)]


@pytest.mark.parametrize("kwargs, field", [
    ({"n_folds": 0, "train_bars": 10}, "n_folds"), ({"n_folds": 2, "train_bars": 0}, "train_bars"),
    ({"n_folds": 2, "train_bars": 10, "mode": "expanding"}, "mode"),
    ({"n_folds": 5, "train_bars": 97}, "test_bars"), ({"n_folds": 5, "train_bars": 50, "test_bars": 20}, "n_folds"),
])
def test_impossible_splits_are_named_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(WalkForwardError, match=field) as err:
        make_splits(100, **kwargs)
    assert isinstance(err.value, InputError)


def test_a_fold_picks_the_in_sample_best_and_reports_it_out_of_sample() -> None:
    bars = load_sample("ETH-BTC-5m")
    names, params = expand_grid(SMA, parse_grid(["fast=5:30:5", "slow=40:120:20"]))
    fold = make_splits(len(bars), n_folds=3, train_bars=2400, mode="rolling")[1]
    res = run_fold(bars, SMA, names, params, fold, metric="sharpe", fees_bps=10)

    train = bars.take(slice(fold.train_start, fold.train_end))
    test = bars.take(slice(fold.test_start, fold.test_end))

    whole_ppy = measured_periods_per_year(bars.timestamp, bars.timeframe_ms)  # measured once, on the whole series

    def stats(b, fast, slow):
        return summary(run_backtest(b, sma_cross(b, fast=fast, slow=slow), fees_bps=10), b.timeframe_ms,
                       periods_per_year=whole_ppy)

    sharpes = [stats(train, f, s)["sharpe"] for f, s in params.tolist()]
    best = int(np.argmax(sharpes))
    assert res.params == {"fast": int(params[best, 0]), "slow": int(params[best, 1])}
    assert res.in_sample["sharpe"] == max(sharpes)
    oos = stats(test, res.params["fast"], res.params["slow"])
    assert res.out_of_sample == {k: oos[k] for k in res.out_of_sample}
    assert res.n_configs == len(params) and res.test_time[0] == int(bars.timestamp[fold.test_start])
    assert res.train_time[1] < res.test_time[0]


def test_windows_too_short_for_the_grid_fail_before_any_work() -> None:
    bars = load_sample("ETH-BTC-5m")
    names, params = expand_grid(SMA, parse_grid(["fast=5", "slow=400"]))
    folds = make_splits(len(bars), n_folds=20, train_bars=2000)  # 188-bar test windows
    with pytest.raises(InsufficientDataError, match="401"):
        check_fold_bars(bars, SMA, names, params, folds)


def _fr(k: int, fast: int, slow: int, is_sharpe: float, oos_ret: float, oos_sharpe: float) -> FoldResult:
    metrics = {"total_return": 0.0, "max_drawdown": 0.1, "n_trades": 3, "final_equity": 1.0}
    return FoldResult(fold=Fold(index=k, train_start=0, train_end=10, test_start=10, test_end=20),
                      params={"fast": fast, "slow": slow}, in_sample={**metrics, "sharpe": is_sharpe},
                      out_of_sample={**metrics, "total_return": oos_ret, "sharpe": oos_sharpe}, n_configs=4,
                      train_time=(0, 1), test_time=(2, 3))


def test_summary_compounds_out_of_sample_and_measures_stability() -> None:
    folds = [_fr(2, 10, 40, 2.0, -0.05, 0.5), _fr(0, 10, 40, 1.0, 0.10, 1.0), _fr(1, 20, 40, 3.0, 0.20, 1.5)]
    s = summarize(folds, "sharpe")
    assert [f.fold.index for f in s.folds] == [0, 1, 2]
    assert s.oos_total_return == pytest.approx(1.10 * 1.20 * 0.95 - 1.0, rel=1e-15)
    assert s.efficiency == pytest.approx(1.0 / 2.0)
    st = s.stability
    assert st["modal_params"] == {"fast": 10, "slow": 40} and st["modal_share"] == pytest.approx(2 / 3)
    assert st["params"]["slow"]["std"] == 0.0 and st["params"]["slow"]["distinct"] == 1
    assert st["params"]["fast"]["mean_abs_step"] == pytest.approx(10.0)  # 10 -> 20 -> 10
    with pytest.raises(WalkForwardError):
        param_stability([])
