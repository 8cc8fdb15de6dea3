"""Batched parameter sweeps: many strategy configurations on one bar series in one call.

The point is throughput without changing a single number:
:func:`evaluate_configs` returns, for every configuration, exactly the
``total_return``, ``sharpe``, ``max_drawdown``, ``n_trades`` and
``final_equity`` that ``strategy.run`` + :func:`backtest.engine.run_backtest`
+ :func:`backtest.metrics.summary` give when run configuration by
configuration (tested bit for bit on the bundled data).

Which evaluator runs is decided by the strategy's registry record, not its
name: a record that declares a batched capability (``Strategy.batched``,
:mod:`strategies.capabilities`) runs in that capability's kernel
(:mod:`backtest.crossover_sweep` for a moving-average crossover such as
``sma_cross``); any other strategy takes the reference path
(:func:`reference_evaluate`, one backtest per configuration): correct,
only slower. The grid mini-language that produces the configurations is
:mod:`backtest.grid`; the result type :class:`SweepResult` lives in
:mod:`backtest.sweep_result`.

Conventions are the engine's: a signal on bar ``t``'s close fills at bar
``t + 1``'s open (``fill="open"``) or at bar ``t``'s close; fees in basis
points of notional on each side; long-only, all-in; start with ``cash``.
Inputs are refused with the engine's own validators
(:func:`check_engine_inputs`). The Sharpe ratio's bars per year are
measured from the bars' timestamps
(:func:`backtest.metrics.measured_periods_per_year`) unless
``periods_per_year`` is given, exactly as :func:`backtest.metrics.summary`
does.

Ruin: a configuration whose account the engine liquidates (equity 0; see
"Ruin" in :mod:`backtest.engine`) is a result like any other: its row has
``total_return`` -1, ``final_equity`` 0 and ``ruined_at`` the bar index
(-1 for the configurations that survive). Pure: no ``import ray``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backtest.costs import fee_fraction
from backtest.crossover_sweep import sweep_crossover
from backtest.engine import run_backtest
from backtest.errors import GridSpecError
from backtest.inputs import bar_arrays, check_fill, start_cash
from backtest.metrics import resolve_periods_per_year, summary
from backtest.sweep_result import METRICS, SweepResult
from strategies import bar_field
from strategies.capabilities import MovingAverageCross
from strategies.errors import InsufficientDataError

__all__ = [
    "SweepResult",
    "METRICS",
    "evaluate_configs",
    "reference_evaluate",
    "require_bars",
    "check_engine_inputs",
]


def evaluate_configs(bars: object, strategy: object, param_names: Sequence[str], params: np.ndarray, *,
                     timeframe_ms: int, fees_bps: float = 0.0, fill: str = "open",
                     cash: float = 10_000.0, threads: int = 1,
                     periods_per_year: float | None = None) -> SweepResult:
    """Metrics of every configuration (rows of ``params``) of ``strategy`` on ``bars``.

    A strategy whose record declares a batched capability
    (``strategy.batched``, a :class:`strategies.capabilities.MovingAverageCross`
    such as ``sma_cross``'s) runs in the batched kernel
    (:func:`backtest.crossover_sweep.sweep_crossover`); any other takes the
    reference path (:func:`reference_evaluate`). Both give the same numbers
    as one ``run_backtest`` + ``summary`` per configuration, and both refuse
    what the engine refuses (its own validators run first).
    ``timeframe_ms`` is the bar length; ``periods_per_year`` the Sharpe
    annualisation (default: measured from ``bars.timestamp``, as
    :func:`backtest.metrics.summary` does); ``threads`` the numba threads
    of the batched kernel (the reference path is single-threaded).
    Ruined configurations are rows like the others (``ruined_at`` >= 0).

    Raises:
        InsufficientDataError: fewer bars than the largest configuration needs.
        GridSpecError: ``params`` does not match ``param_names``.
        plus the engine's input errors (fill, fees, cash, bars and prices), as the engine raises them.
    """
    names = tuple(param_names)
    arr = np.asarray(params)
    if arr.ndim != 2 or arr.shape[1] != len(names) or arr.shape[0] == 0:
        raise GridSpecError("params", f"params: expected shape (n_configs >= 1, {len(names)}), got {arr.shape}")
    declared = tuple(spec.name for spec in strategy.params)  # type: ignore[attr-defined]
    if names != declared:
        raise GridSpecError("params", f"params: columns {names} differ from the strategy's parameters {declared}")
    check_engine_inputs(bars, fees_bps=fees_bps, fill=fill, cash=cash)
    require_bars(bars, strategy, names, arr)
    cross = strategy.batched  # type: ignore[attr-defined]
    if isinstance(cross, MovingAverageCross):
        return sweep_crossover(strategy, bars, arr[:, names.index(cross.fast)], arr[:, names.index(cross.slow)],
                               timeframe_ms=timeframe_ms, fees_bps=fees_bps, fill=fill, cash=cash,
                               threads=threads, periods_per_year=periods_per_year)
    return reference_evaluate(bars, strategy, names, arr, timeframe_ms=timeframe_ms, fees_bps=fees_bps,
                              fill=fill, cash=cash, periods_per_year=periods_per_year)


def require_bars(bars: object, strategy: object, names: Sequence[str], params: np.ndarray) -> None:
    """Raise :class:`InsufficientDataError` when ``bars`` is shorter than the most demanding row of ``params`` needs."""
    got = bar_field(bars, "close").shape[0]
    worst, worst_row = 0, 0
    for i in range(params.shape[0]):
        need = int(strategy.min_bars({n: params[i, j].item() for j, n in enumerate(names)}))  # type: ignore[attr-defined]
        if need > worst:
            worst, worst_row = need, i
    if got < worst:
        shown = ", ".join(f"{n}={params[worst_row, j].item()}" for j, n in enumerate(names))
        raise InsufficientDataError(strategy.name, worst, got, why=f"for the configuration {shown}")  # type: ignore[attr-defined]


def reference_evaluate(bars: object, strategy: object, param_names: Sequence[str], params: np.ndarray, *,
                       timeframe_ms: int, fees_bps: float = 0.0, fill: str = "open",
                       cash: float = 10_000.0, periods_per_year: float | None = None) -> SweepResult:
    """The slow reference: ``strategy.run`` + ``run_backtest`` + ``summary`` per configuration (ruin included)."""
    names = tuple(param_names)
    timestamp = bar_arrays(bars)[0]
    ppy = resolve_periods_per_year(timestamp, timeframe_ms, periods_per_year)
    rows = {m: [] for m in METRICS}
    ruined = []
    for i in range(params.shape[0]):
        values = {n: params[i, j].item() for j, n in enumerate(names)}
        target = strategy.run(bars, values)  # type: ignore[attr-defined]
        stats = summary(run_backtest(bars, target, fees_bps=fees_bps, fill=fill, cash=cash), timeframe_ms,
                        periods_per_year=ppy)
        for m in METRICS:
            rows[m].append(stats[m])
        ruined.append(-1 if stats["ruined_at"] is None else stats["ruined_at"])
    return SweepResult(strategy=strategy.name, param_names=names, params=np.asarray(params),  # type: ignore[attr-defined]
                       total_return=np.asarray(rows["total_return"], dtype=np.float64),
                       sharpe=np.asarray(rows["sharpe"], dtype=np.float64),
                       max_drawdown=np.asarray(rows["max_drawdown"], dtype=np.float64),
                       n_trades=np.asarray(rows["n_trades"], dtype=np.int64),
                       final_equity=np.asarray(rows["final_equity"], dtype=np.float64),
                       ruined_at=np.asarray(ruined, dtype=np.int64), periods_per_year=ppy)


def check_engine_inputs(bars: object, *, fees_bps: object, fill: object, cash: object) -> None:
    """Refuse what :func:`backtest.engine.run_backtest` refuses, with its errors and in its order.

    Raises:
        UnknownFillError, FeeError, CashError, BarsShapeError, PriceError.
    """
    check_fill(fill)
    fee_fraction(fees_bps)
    start_cash(cash)
    bar_arrays(bars)
