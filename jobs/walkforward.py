"""Walk-forward optimisation with the folds as parallel Ray tasks.

* ``raytrader walkforward --sample ETH-BTC-5m -g fast=4:40:4 -g slow=20:200:20 --folds 4 --train-bars 2000 --json``
* ``python -m jobs.walkforward ...`` (same flags), e.g. as a Ray job;
* :func:`run_walkforward` from Python (Ray initialised); :func:`run_folds` runs
  the folds of several planned studies as one set of Ray tasks (the demo's
  walk-forward over every bundled pair, :mod:`jobs.demo_parts`).

The bars go into the object store once; each fold is one Ray task that
sweeps the grid on its training window with the batched kernel, keeps the
best configuration by ``--metric`` and backtests it on its test window
(see :mod:`backtest.walkforward` for the split and warm-up conventions).
Prints one JSON object: the folds (chosen parameters, in-sample and
out-of-sample metrics), the out-of-sample return compounded over the folds,
the walk-forward efficiency and the parameter stability.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from jobs.inputs import SeriesRequest, add_data_arguments, add_strategy_arguments, data_fields, describe_source, load_request_bars
from jobs.sweep import KERNEL_METRICS
from jobs._entry import run_job_main
from jobs.resources import gather, plan_tasks

__all__ = ["WalkForwardRequest", "WalkForwardPlan", "WalkForwardReport", "add_walkforward_arguments",
           "request_from_args", "plan_walkforward", "run_walkforward", "run_folds", "main", "TASK_CPUS"]

#: CPUs each fold task asks for
TASK_CPUS = 0.5


@dataclass(frozen=True, kw_only=True)
class WalkForwardRequest(SeriesRequest):
    """What to walk forward. ``train_bars`` 0 means half the series; ``test_bars`` 0 tiles the rest."""

    grid: tuple[str, ...] = ()
    folds: int = 4
    train_bars: int = 0
    test_bars: int = 0
    mode: str = "rolling"
    metric: str = "sharpe"


def add_walkforward_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``raytrader walkforward`` and ``python -m jobs.walkforward``."""
    add_data_arguments(parser)
    add_strategy_arguments(parser, axes="grid", cash_help="starting cash per window (default 10000)")
    parser.add_argument("--folds", type=int, default=4, help="number of folds (default 4)")
    parser.add_argument("--train-bars", type=int, default=0, help="bars per training window (default: half the series)")
    parser.add_argument("--test-bars", type=int, default=0, help="bars per test window (default: the rest, tiled)")
    parser.add_argument("--mode", choices=("rolling", "anchored"), default="rolling",
                        help="rolling: fixed-length training window; anchored: training from the first bar")
    parser.add_argument("--metric", choices=KERNEL_METRICS, default="sharpe",
                        help="in-sample selection metric (default sharpe, or [research] metric when it is one of these)")


def request_from_args(args: argparse.Namespace) -> WalkForwardRequest:
    return WalkForwardRequest(strategy=args.strategy, grid=tuple(args.grid), **data_fields(args),
                              folds=args.folds, train_bars=args.train_bars,
                              test_bars=args.test_bars, mode=args.mode, metric=args.metric, fees_bps=args.fees_bps,
                              fill=args.fill, cash=args.cash)


@dataclass(frozen=True, kw_only=True)
class WalkForwardPlan:
    """A validated walk-forward, ready for Ray: the bars, the strategy, the grid (rows of ``params``) and the folds."""

    request: WalkForwardRequest
    bars: Any
    strategy: Any
    param_names: tuple[str, ...]
    params: Any  # np.ndarray, one configuration per row
    folds: tuple[Any, ...]  # backtest.walkforward.Fold


def plan_walkforward(request: WalkForwardRequest, bars: Any = None) -> WalkForwardPlan:
    """Validate everything before Ray (strategy, grid, fold sizes against the bars; ``bars`` given: not loaded).

    Raises:
        InputError: a bad strategy, grid, data or fold setting (the error names the flag).
    """
    import strategies  # noqa: F401, PLC0415
    from backtest.grid import expand_grid, parse_grid  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.walkforward import check_fold_bars, make_splits  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    strategy = get_strategy(request.strategy)
    names, params = expand_grid(strategy, parse_grid(request.grid))
    if bars is None:
        bars = load_request_bars(request)
    train = request.train_bars or len(bars) // 2
    folds = make_splits(len(bars), n_folds=request.folds, train_bars=train, test_bars=request.test_bars or None,
                        mode=request.mode)
    check_fold_bars(bars, strategy, names, params, folds)
    return WalkForwardPlan(request=request, bars=bars, strategy=strategy, param_names=names, params=params,
                           folds=tuple(folds))


@dataclass(frozen=True, kw_only=True)
class WalkForwardReport:
    """A finished walk-forward on one series: what ran, the combined folds, where each fold ran.

    ``summary`` is :class:`backtest.walkforward.WalkForwardSummary` (folds, out-of-sample return
    compounded, efficiency, stability); ``fold_nodes[i]`` is the Ray node id fold ``i`` ran on;
    ``seconds`` is the wall time of the folds (planning excluded).
    """

    plan: WalkForwardPlan
    summary: Any
    fold_nodes: tuple[str, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """The job's JSON object (printed by ``--json``, stored as the run's ``summary.json``)."""
        plan, request = self.plan, self.plan.request
        return {
            "job": "walkforward",
            "strategy": plan.strategy.name,
            "symbol": plan.bars.symbol,
            "timeframe": plan.bars.timeframe,
            "source": describe_source(request),
            "bars": len(plan.bars),
            "grid": list(request.grid),
            "n_configs": int(plan.params.shape[0]),
            "mode": request.mode,
            "n_folds": len(plan.folds),
            "fees_bps": request.fees_bps,
            "fill": request.fill,
            **self.summary.to_dict(),
            "fold_nodes": list(self.fold_nodes),
            "seconds": self.seconds,
        }


def _fold_task(bars: Any, strategy_name: str, names: tuple[str, ...], params: Any, fold: Any,
               options: dict[str, Any]) -> Any:
    import strategies  # noqa: F401, PLC0415
    from backtest.walkforward import run_fold  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return run_fold(bars, get_strategy(strategy_name), names, params, fold, **options), \
        ray.get_runtime_context().get_node_id()


def run_folds(plans: Sequence[WalkForwardPlan], progress: Callable[[int, int, str], None] | None = None,
              nodes: list[list[str]] | None = None) -> list[list[Any]]:
    """Submit every fold of every plan as a Ray task; results grouped per plan (``nodes``, when given, gets
    the Ray node id each fold ran on, grouped the same way).

    Each task asks for :data:`TASK_CPUS`, or less when fewer are free (never more than a node has
    free: a task that cannot be placed would wait silently); see :mod:`jobs.resources`.
    """
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    cpus = plan_tasks(TASK_CPUS, what="walk-forward")
    task = ray.remote(num_cpus=cpus)(_fold_task)
    refs = []
    for plan in plans:
        r = plan.request
        options = {"metric": r.metric, "fees_bps": r.fees_bps, "fill": r.fill, "cash": r.cash}
        bars_ref = ray.put(plan.bars)  # once per series, shared by its folds
        refs.append([task.remote(bars_ref, plan.strategy.name, plan.param_names, plan.params, f, options)
                     for f in plan.folds])
    show = (lambda done, total: progress(done, total, "folds")) if progress else None
    flat = gather([r for group in refs for r in group], what="walk-forward", task_cpus=cpus, progress=show)
    out, start = [], 0
    for group in refs:
        out.append([result for result, _ in flat[start:start + len(group)]])
        if nodes is not None:
            nodes.append([node for _, node in flat[start:start + len(group)]])
        start += len(group)
    return out


def run_walkforward(plan: WalkForwardPlan,
                    progress: Callable[[int, int, str], None] | None = None) -> WalkForwardReport:
    """Walk forward on one planned series with the folds as Ray tasks (Ray must be initialised).

    ``progress(done, total, info)`` is called as folds finish. Raises ResourcesUnavailableError (an
    InputError) when no CPU is free for a fold within a few seconds, naming what holds them.
    """
    from backtest.walkforward import summarize  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter()
    nodes: list[list[str]] = []
    [results] = run_folds([plan], progress, nodes)
    return WalkForwardReport(plan=plan, summary=summarize(results, plan.request.metric), fold_nodes=tuple(nodes[0]),
                             seconds=round(time.perf_counter() - started, 3))


def _prepare(args: argparse.Namespace) -> WalkForwardPlan:
    return plan_walkforward(request_from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.walkforward``: print one JSON object; exit 2 on bad input (before Ray starts)."""
    return run_job_main("walkforward", __doc__, add_walkforward_arguments, _prepare, run_walkforward, argv)

if __name__ == "__main__":
    sys.exit(main())
