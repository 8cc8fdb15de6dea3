"""Monte Carlo robustness of one backtest, with the simulated paths split across Ray tasks.

* ``raytrader montecarlo --sample ETH-BTC-5m -p fast=10 -p slow=30 --method bootstrap --paths 10000 --json``
* ``python -m jobs.montecarlo ...`` (same flags), e.g. as a Ray job;
* :func:`run_montecarlo` from Python (Ray initialised).

The backtest runs once in the driver (``backtest.engine``); its per-trade
equity multipliers (``--method trades``: order shuffled, or resampled with
``--replace``) or its per-bar returns (``--method bootstrap``: circular
blocks of ``--block-bars``) go to ``--tasks`` Ray tasks, each simulating
its share of the paths with its own seed from
``numpy.random.SeedSequence(seed).spawn``. The same ``--seed`` and
``--tasks`` give the same numbers. Prints one JSON object: the backtest's
own metrics and, for total return, Sharpe and max drawdown, the mean,
percentiles and the ``--confidence`` interval, plus the probability of ruin
(equity at or below ``--ruin-level`` of the start at any point).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from jobs.inputs import SeriesRequest, add_data_arguments, add_strategy_arguments, data_fields, describe_source, load_request_bars, parse_seed
from jobs._entry import run_job_main
from jobs.resources import gather, plan_tasks

__all__ = ["MonteCarloRequest", "MonteCarloPlan", "MonteCarloReport", "add_montecarlo_arguments", "request_from_args",
           "plan_montecarlo", "run_montecarlo", "main", "TASK_CPUS"]

#: CPUs each simulation task asks for
TASK_CPUS = 0.5


@dataclass(frozen=True, kw_only=True)
class MonteCarloRequest(SeriesRequest):
    """What to simulate: the backtest (strategy, params, bars, costs) and the resampling."""

    params: tuple[tuple[str, str], ...] = ()
    method: str = "bootstrap"
    paths: int = 10_000
    block_bars: int = 0
    replace: bool = False
    seed: int = 0
    tasks: int = 4
    ruin_level: float = 0.5
    confidence: float = 0.95


def add_montecarlo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``raytrader montecarlo`` and ``python -m jobs.montecarlo``."""
    add_data_arguments(parser)
    add_strategy_arguments(parser, axes="param")
    parser.add_argument("--method", choices=("trades", "bootstrap"), default="bootstrap",
                        help="trades: reshuffle the trade sequence; bootstrap: circular block bootstrap of bar returns")
    parser.add_argument("--paths", type=int, default=10_000, help="simulated paths (default 10000)")
    parser.add_argument("--block-bars", type=int, default=0,
                        help="bootstrap block length in bars (default: one day of bars, at most a tenth of the series)")
    parser.add_argument("--replace", action="store_true", help="trades: resample with replacement instead of shuffling")
    parser.add_argument("--seed", type=parse_seed, default=0, help="random seed (default 0)")
    parser.add_argument("--tasks", type=int, default=4, help="Ray tasks the paths are split across (default 4)")
    parser.add_argument("--ruin-level", type=float, default=0.5,
                        help="ruin when equity falls to this fraction of the start (default 0.5)")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence interval level (default 0.95)")


def request_from_args(args: argparse.Namespace) -> MonteCarloRequest:
    return MonteCarloRequest(strategy=args.strategy, params=tuple(args.params), **data_fields(args),
                             fees_bps=args.fees_bps, fill=args.fill, cash=args.cash,
                             method=args.method, paths=args.paths, block_bars=args.block_bars, replace=args.replace,
                             seed=args.seed, tasks=args.tasks, ruin_level=args.ruin_level, confidence=args.confidence)


@dataclass(frozen=True, kw_only=True)
class MonteCarloPlan:
    """A validated Monte Carlo run, ready for Ray: the backtest behind it (its JSON object, run once in the
    driver) and the series the tasks resample (per-trade equity multipliers or per-bar returns)."""

    request: MonteCarloRequest
    backtest: dict[str, Any]
    series: np.ndarray
    periods_per_year: float
    block_bars: int  # bootstrap block length in bars (0 for --method trades)


def plan_montecarlo(request: MonteCarloRequest) -> MonteCarloPlan:
    """Validate the request and run the backtest once; return what the tasks resample.

    Raises:
        InputError: bad strategy/params/data, or settings out of range (MonteCarloError names the flag).
    """
    import strategies  # noqa: F401, PLC0415
    from backtest.engine import run_backtest  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.metrics import periods_per_year, summary  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.montecarlo import METHODS, MonteCarloError, bar_returns, trade_multipliers  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.params import validate_params  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if request.method not in METHODS:
        raise MonteCarloError(f"--method: expected one of {', '.join(METHODS)}, got {request.method!r}")
    if request.paths < 1 or request.paths > 10_000_000:
        raise MonteCarloError(f"--paths: expected 1..10000000, got {request.paths}")
    if request.tasks < 1 or request.tasks > 1024:
        raise MonteCarloError(f"--tasks: expected 1..1024, got {request.tasks}")
    if not 0.0 <= request.ruin_level < 1.0:
        raise MonteCarloError(f"--ruin-level: expected a fraction in [0, 1), got {request.ruin_level}")
    if not 0.0 < request.confidence < 1.0:
        raise MonteCarloError(f"--confidence: expected a fraction in (0, 1), got {request.confidence}")
    if request.block_bars < 0:
        raise MonteCarloError(f"--block-bars: expected >= 1 (0 = default), got {request.block_bars}")
    strategy = get_strategy(request.strategy)
    params = validate_params(strategy, dict(request.params))
    bars = load_request_bars(request)
    result = run_backtest(bars, strategy.run(bars, params), fees_bps=request.fees_bps, fill=request.fill,
                          cash=request.cash)
    stats = summary(result, bars.timeframe_ms)
    years = len(bars) * bars.timeframe_ms / (365 * 86_400_000)
    backtest = {"strategy": strategy.name, "params": params, "symbol": bars.symbol, "timeframe": bars.timeframe,
                "source": describe_source(request), "bars": len(bars), "fees_bps": request.fees_bps,
                **stats}
    if request.method == "trades":
        entry = np.searchsorted(result.timestamp, [t.entry_time for t in result.trades])
        exit_ = np.asarray([-1 if t.exit_time is None else int(np.searchsorted(result.timestamp, t.exit_time))
                            for t in result.trades], dtype=np.int64)
        series = trade_multipliers(result.equity, entry, exit_, result.initial_cash)
        if series.shape[0] < 2:
            raise MonteCarloError(f"--method trades: the backtest made {series.shape[0]} trade(s); need at least 2 "
                                  f"(try --method bootstrap)")
        return MonteCarloPlan(request=request, backtest=backtest, series=series,
                              periods_per_year=series.shape[0] / years, block_bars=0)
    series = bar_returns(result.equity, result.initial_cash)
    ppy = periods_per_year(bars.timeframe_ms)
    block = request.block_bars or max(1, min(int(86_400_000 // bars.timeframe_ms), len(series) // 10))
    if block > len(series):
        raise MonteCarloError(f"--block-bars: {block} is longer than the series ({len(series)} returns)")
    return MonteCarloPlan(request=request, backtest=backtest, series=series, periods_per_year=ppy, block_bars=block)


def _simulate_task(series: np.ndarray, n_paths: int, seed: Any, options: dict[str, Any]) -> Any:
    """One task's share of the paths, and the Ray node id it ran on."""
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from backtest.montecarlo import simulate_block_bootstrap, simulate_trades  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if options["method"] == "trades":
        paths = simulate_trades(series, n_paths=n_paths, seed=seed, replace=options["replace"],
                                periods_per_year=options["ppy"], ruin_level=options["ruin_level"])
    else:
        paths = simulate_block_bootstrap(series, n_paths=n_paths, block_bars=options["block_bars"], seed=seed,
                                         periods_per_year=options["ppy"], ruin_level=options["ruin_level"])
    return paths, ray.get_runtime_context().get_node_id()


@dataclass(frozen=True, kw_only=True)
class MonteCarloReport:
    """A finished Monte Carlo run: the simulated paths (``backtest.montecarlo.MonteCarloPaths``), how they were
    split (``tasks`` Ray tasks of ``task_cpus`` CPUs; ``task_nodes[i]`` the node task ``i`` ran on) and the wall
    time of the simulation in seconds."""

    plan: MonteCarloPlan
    paths: Any
    tasks: int
    task_cpus: float
    task_nodes: tuple[str, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """The job's JSON object: the backtest, the resampling, and the distribution of the paths'
        total return, Sharpe and max drawdown (:func:`backtest.montecarlo.summarize_paths`)."""
        from backtest.montecarlo import summarize_paths  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        plan, request = self.plan, self.plan.request
        return {
            "job": "montecarlo",
            "backtest": plan.backtest,
            "method": request.method,
            "replace": request.replace if request.method == "trades" else None,
            "block_bars": plan.block_bars if request.method == "bootstrap" else None,
            "seed": request.seed,
            "tasks": self.tasks,
            "task_cpus": self.task_cpus,
            "task_nodes": list(self.task_nodes),  # per task: the Ray node id it ran on
            **summarize_paths(self.paths, confidence=request.confidence),
            "seconds": self.seconds,
        }


def run_montecarlo(plan: MonteCarloPlan, progress: Callable[[int, int, str], None] | None = None) -> MonteCarloReport:
    """Run the planned simulations as Ray tasks (Ray must be initialised).

    ``progress(done, total, info)`` counts paths as tasks finish. Raises ResourcesUnavailableError (an
    InputError) when no CPU is free for a task within a few seconds, naming what holds them.
    """
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from backtest.montecarlo import MonteCarloPaths  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter()
    request = plan.request
    n_tasks = min(request.tasks, request.paths)
    shares = [len(a) for a in np.array_split(np.arange(request.paths), n_tasks)]
    seeds = np.random.SeedSequence(request.seed).spawn(n_tasks)
    options = {"method": request.method, "replace": request.replace, "ppy": plan.periods_per_year,
               "ruin_level": request.ruin_level, "block_bars": plan.block_bars}
    cpus = plan_tasks(TASK_CPUS, what="monte carlo")  # never more than a node has free (jobs.resources)
    task = ray.remote(num_cpus=cpus)(_simulate_task)
    series_ref = ray.put(plan.series)
    refs = [task.remote(series_ref, k, s, options) for k, s in zip(shares, seeds)]
    bounds = np.cumsum([0, *shares])
    show = (lambda done, _total: progress(int(bounds[done]), request.paths, f"{done}/{n_tasks} tasks")) \
        if progress else None
    results = gather(refs, what="monte carlo", task_cpus=cpus, progress=show)
    return MonteCarloReport(plan=plan, paths=MonteCarloPaths.concat([p for p, _ in results]), tasks=n_tasks,
                            task_cpus=cpus, task_nodes=tuple(node for _, node in results),
                            seconds=round(time.perf_counter() - started, 3))


def _prepare(args: argparse.Namespace) -> MonteCarloPlan:
    return plan_montecarlo(request_from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.montecarlo``: print one JSON object; exit 2 on bad input (before Ray starts)."""
    return run_job_main("montecarlo", __doc__, add_montecarlo_arguments, _prepare, run_montecarlo, argv)

if __name__ == "__main__":
    sys.exit(main())
