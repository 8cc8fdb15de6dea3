"""Walk-forward analysis: choose parameters in-sample, judge them out-of-sample, fold after fold.

Splits (:func:`make_splits`) are half-open bar-index ranges over one series:

* ``rolling``: every fold trains on the ``train_bars`` bars just before its
  test window;
* ``anchored``: every fold trains on all bars from 0 to its test window.

Test windows tile the series after the first training window, back to back
and non-overlapping: fold ``k`` tests ``[train_bars + k * test_bars,
train_bars + (k + 1) * test_bars)``. A test window never overlaps its own
training window (no lookahead).

:func:`run_fold` sweeps the configurations on the training bars with the
batched kernel (:func:`backtest.sweep.evaluate_configs`), keeps the best by
``metric`` and backtests that one configuration on the test bars. Each test
window is backtested on its own: flat with the starting cash at its first
bar, indicators warming up inside it (so ``test_bars`` must exceed the
largest window the grid uses). The Sharpe ratio's bars per year are
measured once on the whole series (:func:`backtest.metrics.measured_periods_per_year`),
not per window, unless ``periods_per_year`` is given. A configuration
whose account is liquidated (see "Ruin" in :mod:`backtest.engine`) is a
result, not an error: its metrics row has ``ruined_at`` (the bar index
inside that window; ``None`` when it survived) and ``total_return`` -1,
and the walk-forward goes on. :func:`summarize` combines folds: the
out-of-sample return compounded over the folds, the walk-forward efficiency
(mean out-of-sample over mean in-sample metric) and the stability of the
chosen parameters across folds. Pure: no ``import ray``; ``jobs.walkforward``
runs the folds as Ray tasks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from backtest.errors import BacktestInputError
from backtest.metrics import resolve_periods_per_year
from backtest.sweep import METRICS, evaluate_configs, require_bars

__all__ = ["WalkForwardError", "Fold", "FoldResult", "WalkForwardSummary", "SPLIT_MODES", "make_splits",
           "run_fold", "summarize", "param_stability", "check_fold_bars"]

SplitMode = Literal["rolling", "anchored"]

#: supported split modes; see the module docstring
SPLIT_MODES: tuple[str, ...] = ("rolling", "anchored")


class WalkForwardError(BacktestInputError):
    """A walk-forward setting is impossible for the series (the message names the setting)."""


@dataclass(frozen=True, kw_only=True)
class Fold:
    """One fold: bar-index ranges, half-open, ``train_end <= test_start``.

    Attributes:
        index: 0-based fold number.
        train_start, train_end: in-sample bars ``[train_start, train_end)``.
        test_start, test_end: out-of-sample bars ``[test_start, test_end)``.
    """

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    def to_dict(self) -> dict[str, int]:
        return {"fold": self.index, "train_start": self.train_start, "train_end": self.train_end,
                "test_start": self.test_start, "test_end": self.test_end}


def make_splits(n_bars: int, *, n_folds: int, train_bars: int, test_bars: int | None = None,
                mode: str = "rolling") -> tuple[Fold, ...]:
    """Folds over ``n_bars`` bars; see the module docstring.

    ``test_bars`` defaults to ``(n_bars - train_bars) // n_folds`` (the
    whole remainder after the first training window, tiled).

    Raises:
        WalkForwardError: a count < 1, an unknown ``mode``, or folds that do not fit in ``n_bars``.
    """
    for name, value in (("n_bars", n_bars), ("n_folds", n_folds), ("train_bars", train_bars)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise WalkForwardError(f"{name}: expected an integer >= 1, got {value!r}")
    if mode not in SPLIT_MODES:
        raise WalkForwardError(f"mode: expected one of {', '.join(SPLIT_MODES)}, got {mode!r}")
    if test_bars is None:
        test_bars = (int(n_bars) - int(train_bars)) // int(n_folds)
    if isinstance(test_bars, bool) or not isinstance(test_bars, (int, np.integer)) or test_bars < 1:
        raise WalkForwardError(f"test_bars: {test_bars!r} bars per test window; need >= 1 "
                               f"({n_bars} bars, train_bars={train_bars}, n_folds={n_folds})")
    need = int(train_bars) + int(n_folds) * int(test_bars)
    if need > n_bars:
        raise WalkForwardError(f"n_folds: {n_folds} folds of {test_bars} test bars after {train_bars} training bars "
                               f"need {need} bars; the series has {n_bars}")
    folds = []
    for k in range(int(n_folds)):
        test_start = int(train_bars) + k * int(test_bars)
        train_start = 0 if mode == "anchored" else test_start - int(train_bars)
        folds.append(Fold(index=k, train_start=train_start, train_end=test_start, test_start=test_start,
                          test_end=test_start + int(test_bars)))
    return tuple(folds)


@dataclass(frozen=True, kw_only=True)
class FoldResult:
    """What one fold chose and how it did.

    Attributes:
        fold: the split.
        params: the chosen configuration (best in-sample by ``metric``).
        in_sample: that configuration's metrics on the training bars
            (:data:`backtest.sweep.METRICS`, plus ``ruined_at``: bar index in
            the window, or ``None``).
        out_of_sample: the same on the test bars (see the module docstring).
        n_configs: configurations compared in-sample.
        train_time, test_time: ``(first, last)`` bar open times, ms UTC.
    """

    fold: Fold
    params: dict[str, int | float]
    in_sample: dict[str, float | int | None]
    out_of_sample: dict[str, float | int | None]
    n_configs: int
    train_time: tuple[int, int]
    test_time: tuple[int, int]

    def to_dict(self) -> dict[str, object]:
        return {**self.fold.to_dict(), "params": dict(self.params), "in_sample": dict(self.in_sample),
                "out_of_sample": dict(self.out_of_sample), "n_configs": self.n_configs,
                "train_time": list(self.train_time), "test_time": list(self.test_time)}


def _metrics_row(result: object, i: int) -> dict[str, float | int | None]:
    row: dict[str, float | int | None] = {m: getattr(result, m)[i].item() for m in METRICS}
    ruined = getattr(result, "ruined_at", None)
    if ruined is not None:
        row["ruined_at"] = None if ruined[i] < 0 else int(ruined[i])
    return row


def run_fold(bars: object, strategy: object, param_names: Sequence[str], params: np.ndarray, fold: Fold, *,
             metric: str = "sharpe", fees_bps: float = 0.0, fill: str = "open",
             cash: float = 10_000.0, periods_per_year: float | None = None) -> FoldResult:
    """Sweep ``params`` on the fold's training bars, keep the best by ``metric``, test it out-of-sample.

    ``bars`` is :class:`market.bars.Bars` (sliced with ``take``), the whole
    series: ``periods_per_year`` defaults to the bars per year measured on it.

    Raises:
        InsufficientDataError: a window has fewer bars than the largest configuration needs.
        GridSpecError: unknown ``metric``.
    """
    if metric not in METRICS:
        raise WalkForwardError(f"metric: expected one of {', '.join(METRICS)}, got {metric!r}")
    train = bars.take(slice(fold.train_start, fold.train_end))  # type: ignore[attr-defined]
    test = bars.take(slice(fold.test_start, fold.test_end))  # type: ignore[attr-defined]
    tf = bars.timeframe_ms  # type: ignore[attr-defined]
    ppy = resolve_periods_per_year(bars.timestamp, tf, periods_per_year)  # type: ignore[attr-defined]
    insample = evaluate_configs(train, strategy, param_names, params, timeframe_ms=tf, fees_bps=fees_bps,
                                fill=fill, cash=cash, periods_per_year=ppy)
    best = insample.best(metric)
    chosen = insample.params[best: best + 1]
    oos = evaluate_configs(test, strategy, param_names, chosen, timeframe_ms=tf, fees_bps=fees_bps, fill=fill,
                           cash=cash, periods_per_year=ppy)
    return FoldResult(fold=fold, params=insample.config(best), in_sample=_metrics_row(insample, best),
                      out_of_sample=_metrics_row(oos, 0), n_configs=len(insample),
                      train_time=(int(train.timestamp[0]), int(train.timestamp[-1])),
                      test_time=(int(test.timestamp[0]), int(test.timestamp[-1])))


def param_stability(chosen: Sequence[dict[str, int | float]]) -> dict[str, object]:
    """How much the chosen parameters move across folds.

    Per parameter: ``mean``, ``std`` (population), ``min``, ``max``,
    ``cv`` (std / |mean|, 0 when the mean is 0), ``distinct`` (count) and
    ``mean_abs_step`` (mean absolute change between consecutive folds).
    Overall: ``modal_params`` (the most frequent configuration, first seen
    on ties) and ``modal_share`` (fraction of folds that chose it).
    """
    if not chosen:
        raise WalkForwardError("folds: no fold results to summarize")
    names = list(chosen[0])
    per: dict[str, dict[str, float | int]] = {}
    for name in names:
        v = np.asarray([c[name] for c in chosen], dtype=np.float64)
        mean = float(v.mean())
        std = float(v.std())
        per[name] = {"mean": mean, "std": std, "min": float(v.min()), "max": float(v.max()),
                     "cv": std / abs(mean) if mean != 0 else 0.0, "distinct": int(np.unique(v).size),
                     "mean_abs_step": float(np.abs(np.diff(v)).mean()) if v.size > 1 else 0.0}
    keys = [tuple(c[n] for n in names) for c in chosen]
    counts = Counter(keys)
    modal = max(keys, key=lambda k: (counts[k], -keys.index(k)))
    return {"params": per, "modal_params": dict(zip(names, modal)), "modal_share": counts[modal] / len(keys)}


@dataclass(frozen=True, kw_only=True)
class WalkForwardSummary:
    """All folds of a walk-forward run, combined.

    Attributes:
        folds: per-fold results, in fold order.
        oos_total_return: out-of-sample returns compounded over the folds, a fraction.
        oos_mean: mean out-of-sample value of each metric over the folds.
        is_mean: mean in-sample value of each metric over the folds.
        efficiency: ``oos_mean[metric] / is_mean[metric]`` (0.0 when the in-sample mean is 0).
        stability: :func:`param_stability` of the chosen parameters.
        metric: the selection metric.
    """

    folds: tuple[FoldResult, ...]
    oos_total_return: float
    oos_mean: dict[str, float]
    is_mean: dict[str, float]
    efficiency: float
    stability: dict[str, object]
    metric: str

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "oos_total_return": self.oos_total_return, "oos_mean": self.oos_mean,
                "is_mean": self.is_mean, "efficiency": self.efficiency, "stability": self.stability,
                "folds": [f.to_dict() for f in self.folds]}


def summarize(folds: Sequence[FoldResult], metric: str = "sharpe") -> WalkForwardSummary:
    """Combine fold results (any order; sorted by fold index)."""
    if not folds:
        raise WalkForwardError("folds: no fold results to summarize")
    ordered = tuple(sorted(folds, key=lambda f: f.fold.index))
    growth = math.prod(1.0 + f.out_of_sample["total_return"] for f in ordered)
    oos_mean = {m: float(np.mean([f.out_of_sample[m] for f in ordered])) for m in METRICS}
    is_mean = {m: float(np.mean([f.in_sample[m] for f in ordered])) for m in METRICS}
    eff = oos_mean[metric] / is_mean[metric] if is_mean[metric] != 0 else 0.0
    return WalkForwardSummary(folds=ordered, oos_total_return=growth - 1.0, oos_mean=oos_mean, is_mean=is_mean,
                              efficiency=float(eff), stability=param_stability([f.params for f in ordered]),
                              metric=metric)


def check_fold_bars(bars: object, strategy: object, param_names: Sequence[str], params: np.ndarray,
                    folds: Sequence[Fold]) -> None:
    """Raise before any work when the shortest train or test window is too short for the grid."""
    shortest = min(min(f.train_end - f.train_start, f.test_end - f.test_start) for f in folds)
    probe = bars.take(slice(0, shortest))  # type: ignore[attr-defined]
    require_bars(probe, strategy, param_names, params)

