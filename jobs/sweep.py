"""A parameter sweep of one strategy on one bar series, through Ray Tune.

Runs the same code three ways:

* ``raytrader sweep --sample ETH-BTC-5m --strategy sma_cross -g fast=5:200:5 -g slow=5:200:5 --fees-bps 10 --json``
  (this process is the Ray driver, attached to the cluster ``raytrader up`` started);
* ``python -m jobs.sweep ...`` (same flags), e.g. as a Ray job:
  ``ray job submit --address http://127.0.0.1:8265 -- python -m jobs.sweep --sample ETH-BTC-5m -g fast=5:50:5 -g slow=10:100:10 --json``;
* :func:`run_sweep` from Python, with Ray already initialised.

How it uses Tune (measured on 2 cores: 200 one-configuration trials took 371 s,
about 1.9 s of overhead per trial, so one trial per configuration would drown the work): the bars go into the
object store **once** (``tune.with_parameters``) and every trial evaluates
a *batch* of configurations with the batched kernel
(:func:`backtest.sweep.evaluate_configs`) and reports all its rows in one
``tune.report``, as numpy arrays; on the driver a callback takes them out of
the result before Tune's JSON logger and experiment state see it (encoding
every row as JSON there cost 46 us per row, measured).

* ``--search grid`` (default) / ``random --samples N`` (seeded uniform draw
  from the constrained grid): the configurations are dealt round-robin into
  the trials (neighbouring grid rows cost alike). By default
  (``--trial-cpus 0``) there is one trial per node holding that node's
  *free* CPUs (what a Serve replica or another job does not hold; fractions
  are fine), and the kernel runs on that many numba threads, rounded: one
  trial actor to start, the SMA windows computed once, no duplicated
  imports. ``--trial-cpus 1`` gives one single-threaded trial per CPU
  instead. When no CPU is free, or ``--trial-cpus`` is more than a node has
  free, the sweep waits a few seconds and then exits 2 naming what holds
  the CPUs (:mod:`jobs.resources`); it never waits silently.
* ``--search optuna --samples N``: Optuna's TPE sampler (seeded with
  ``--seed``) driven by ask/tell from a Tune ``Searcher`` on the driver:
  each trial asks Optuna for a batch of ``--batch K`` configurations,
  evaluates them at once, and their values are told back. Parameter
  constraints (``fast < slow``) are honoured: an infeasible suggestion is
  **never evaluated**; it is told to Optuna as PRUNED with no value (TPE
  ranks such trials with the worst, so it learns to avoid the region) and
  another is asked; a suggestion already evaluated is told its known value
  and not evaluated again; so exactly ``min(N, size of the constrained
  grid)`` distinct feasible configurations are evaluated (if Optuna keeps
  repeating itself, seeded uniform draws of unseen grid points fill the
  batch; the summary counts them). Batch ``b`` is asked only after batches
  ``0 .. b - P`` (``P`` concurrent trials) have been told, in order, so a
  fixed ``--seed`` gives the same configurations and results every run.
  (Ray's own ``ray.tune.search.optuna.OptunaSearch`` works with optuna 5.0
  here, but it makes one Tune trial per configuration: about 4 s each.)
* ``--scheduler asha --folds F``: the in-sample bars are cut into ``F``
  equal sequential folds; a trial reports after each fold the metrics of its
  configurations on the bars *up to* the end of that fold (cumulative: the
  numbers after fold ``F`` are exactly the full in-sample numbers) and
  Tune's ``ASHAScheduler`` (grace 1 fold, reduction factor 2) stops trials
  whose best score trails. A stopped trial's rows keep the metrics of the
  folds it finished (column ``folds``); ``best`` and ``top`` are chosen
  only among rows that finished all folds. Cost: a trial that runs all
  ``F`` folds evaluates ``(F + 1) / 2`` times the bars of one pass. ASHA's
  decisions depend on which trial reports first, so with more than one
  concurrent trial an ASHA run is not bit-reproducible.

The held-out tail (``--holdout``, default 0.3) is never searched: the best
and top configurations are measured on it from flat (out-of-sample).

Output: one row per configuration in ``results.parquet`` and the JSON
summary in ``summary.json``, both in the run folder (``--out DIR``, default
``<cluster.home>/results/sweep-<time>-<id>``), and one JSON object on
stdout: ``n_configs``, ``seconds``, ``best`` (params and metrics by
``--metric``), ``top``, ``results_path``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from jobs._entry import run_job_main
from jobs._optuna import OptunaBatches, tune_searcher
from jobs.resources import plan_trials, tune_watchdog
from jobs.sweep_callbacks import progress_callback, row_keeper
from jobs.sweep_report import AshaSummary, OptunaSummary, SweepReport
from jobs.inputs import SeriesRequest, add_data_arguments, add_strategy_arguments, data_fields, load_request_bars, parse_seed
from raytrader.errors import InputError

__all__ = ["SweepRequest", "SweepPlan", "SweepReport", "AshaSummary", "OptunaSummary", "SweepRequestError",
           "SEARCH_MODES", "SCHEDULERS", "METRIC_CHOICES",
           "add_sweep_arguments", "request_from_args", "plan_sweep", "fold_ends", "run_sweep",
           "default_run_dir", "main"]


#: ``--search`` choices: every grid point, N seeded uniform draws from it, or N Optuna (TPE) suggestions
SEARCH_MODES: tuple[str, ...] = ("grid", "random", "optuna")

#: ``--scheduler`` choices: run every trial to the end, or ASHA early stopping over sequential folds
SCHEDULERS: tuple[str, ...] = ("none", "asha")

#: configurations ``--search random`` draws when ``--samples`` is not given
DEFAULT_RANDOM_SAMPLES = 100

#: times Tune reruns a trial that failed (its node or worker died) before the sweep fails (README "Scaling out")
TRIAL_RETRIES = 3

#: ASHA folds when ``--scheduler asha`` is given without ``--folds``
DEFAULT_ASHA_FOLDS = 4

#: metrics the batched kernel computes for every configuration; equal to ``backtest.sweep.METRICS``
#: (spelled out so ``--help`` need not import numba); walk-forward ranks by these
KERNEL_METRICS: tuple[str, ...] = ("total_return", "sharpe", "max_drawdown", "n_trades", "final_equity")

#: ``--metric`` choices of the sweep: every ranking metric of ``backtest.metrics.RANKING_METRICS`` (its
#: ``LOWER_IS_BETTER`` decides the direction). Those outside :data:`KERNEL_METRICS` (sortino, calmar,
#: profit_factor, ...) are computed per configuration by the engine inside the trials: slower.
METRIC_CHOICES: tuple[str, ...] = (
    "sharpe", "sortino", "calmar", "cagr", "total_return", "final_equity", "profit_factor", "win_rate",
    "expectancy", "n_trades", "exposure", "max_drawdown", "annual_volatility", "max_drawdown_duration_bars",
    "turnover", "fees_paid")


#: ``progress(done, total, info)``: work done of ``total`` so far, and a few words on what runs now
Progress = Callable[[int, int, str], None]


class SweepRequestError(InputError):
    """A sweep option is out of range (the message names the flag)."""


@dataclass(frozen=True, kw_only=True)
class SweepRequest(SeriesRequest):
    """What to sweep. Exactly one of ``data`` (a file) and ``sample`` (a bundled sample) is set.

    Attributes:
        grid: ``-g`` texts, e.g. ``("fast=5:200:5", "slow=5:200:5")``.
        fees_bps: fee per side, basis points of notional.
        fill: ``"open"`` (next bar's open) or ``"close"``.
        cash: starting cash, quote currency.
        search: ``"grid"``, ``"random"`` or ``"optuna"``.
        samples: configurations to evaluate for ``random`` (None: 100) and ``optuna`` (required).
        seed: seed of the random draw / of Optuna's sampler.
        metric: the metric that ranks the configurations, picks ``best`` and that Optuna and ASHA
            optimise; its direction is ``backtest.metrics.ranking_mode`` (``max_drawdown``: lowest).
        trials: Tune trials (batches); 0 = automatic (see the module docstring).
        trial_cpus: CPUs each trial asks for (fractions allowed); 0 = automatic: a node's free CPUs
            for grid/random without ASHA (numba threads inside), else up to 1 (the free CPUs split
            evenly). A trial runs its CPUs rounded half up (at least 1) kernel threads
            (:func:`jobs.resources.kernel_threads`).
        batch: configurations per trial for ``optuna``; 0 = automatic (about 4 batches per concurrent trial).
        scheduler: ``"none"`` or ``"asha"``.
        folds: sequential in-sample folds a trial reports after (ASHA); 0 = 4 with ASHA, else 1.
        out: run folder; empty = ``<home>/results/sweep-<time>-<id>``.
        holdout: fraction of the bars, at the end, kept out of the search; the best and
            top configurations are then measured on it from flat (out-of-sample). 0 = none,
            and the output says every number is in-sample.
    """

    grid: tuple[str, ...] = ()
    search: str = "grid"
    samples: int | None = None
    seed: int = 0
    metric: str = "sharpe"
    trials: int = 0
    trial_cpus: float = 0.0
    batch: int = 0
    scheduler: str = "none"
    folds: int = 0
    out: str = ""
    holdout: float = 0.3
    periods_per_year: float | None = None  # bars per year for Sharpe/Sortino/volatility; None: measured on the data
    sizing: str = ""  # --sizing spec (backtest.sizing); set: every configuration runs through the engine, sized


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep flags, shared by ``raytrader sweep`` and ``python -m jobs.sweep``."""
    add_data_arguments(parser)
    add_strategy_arguments(parser, axes="grid")
    parser.add_argument("--search", choices=SEARCH_MODES, default="grid",
                        help="grid: every allowed grid point (default); random: --samples seeded draws from it; "
                             "optuna: --samples configurations suggested by Optuna's TPE, in batches")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"configurations to evaluate: --search random (default {DEFAULT_RANDOM_SAMPLES}) "
                             "or optuna (required)")
    parser.add_argument("--seed", type=parse_seed, default=0, help="seed for --search random and optuna (default 0)")
    parser.add_argument("--metric", choices=METRIC_CHOICES, default="sharpe",
                        help="metric that ranks the configurations (default sharpe, or [research] metric); "
                             "drawdown, volatility, turnover and fees: lowest first; metrics beyond "
                             f"{', '.join(KERNEL_METRICS)} are computed by the engine per configuration (slower)")
    parser.add_argument("--trials", type=int, default=0,
                        help="Tune trials (batches of configurations); default: one per concurrent slot "
                             "(grid/random), 4 per slot (optuna, asha)")
    parser.add_argument("--trial-cpus", type=float, default=0.0,
                        help="CPUs per trial (fractions allowed); a trial runs its CPUs rounded (at least 1) kernel "
                             "threads; default: a node's free CPUs for grid/random, up to 1 for optuna or asha")
    parser.add_argument("--batch", type=int, default=0, metavar="K",
                        help="configurations per trial for --search optuna (default: about 4 batches per slot)")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="none",
                        help="asha: Tune's ASHA stops trials early, judged after each of --folds sequential "
                             "in-sample folds (default none)")
    parser.add_argument("--folds", type=int, default=0,
                        help=f"sequential in-sample folds for --scheduler asha (>= 2; default {DEFAULT_ASHA_FOLDS})")
    parser.add_argument("--holdout", type=float, default=0.3, metavar="FRACTION",
                        help="last fraction of the bars kept out of the search; best and top are also reported "
                             "on it, out-of-sample (default 0.3; 0 = none: every number is then in-sample)")
    parser.add_argument("--out", default="", metavar="DIR",
                        help="run folder for results.parquet and summary.json (default <home>/results/sweep-...)")
    parser.add_argument("--sizing", default="", metavar="SPEC",
                        help="size every configuration's targets (see raytrader backtest --sizing); the sized "
                             "configurations run one engine backtest each (no batched kernel)")


def request_from_args(args: argparse.Namespace) -> SweepRequest:
    return SweepRequest(strategy=args.strategy, grid=tuple(args.grid), **data_fields(args),
                        fees_bps=args.fees_bps, fill=args.fill, cash=args.cash,
                        search=args.search, samples=args.samples, seed=args.seed, metric=args.metric,
                        trials=args.trials, trial_cpus=args.trial_cpus, out=args.out or "", holdout=args.holdout,
                        batch=args.batch, scheduler=args.scheduler, folds=args.folds,
                        periods_per_year=getattr(args, "periods_per_year", None),
                        sizing=getattr(args, "sizing", "") or "")


@dataclass(frozen=True, kw_only=True)
class SweepPlan:
    """A validated sweep, ready to run: the bars, the strategy and the configurations (rows of ``params``)."""

    request: SweepRequest
    bars: Any  # the in-sample bars the search runs on
    strategy: Any
    param_names: tuple[str, ...]
    params: np.ndarray  # grid/random: the configurations to run; optuna: the whole constrained grid
    holdout_bars: Any = None  # the held-out tail (None when --holdout 0)
    n_configs: int = 0  # configurations that will be evaluated (0: params.shape[0])
    folds: int = 1  # sequential folds a trial reports after (> 1 only with ASHA)
    axes: Any = None  # typed values per parameter (optuna's space)
    periods_per_year: float = 0.0  # one value for every fold and the holdout: the flag, else measured on all bars


def plan_sweep(request: SweepRequest) -> SweepPlan:
    """Validate everything that can be validated before Ray: strategy, grid, options, bar count.

    Raises:
        UnknownStrategyError, GridSpecError, EmptySweepError, InsufficientDataError,
        SweepRequestError, FeeError, CashError and data errors (all InputError).
    """
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.metrics import RANKING_METRICS  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.grid import expand_grid, grid_axes, parse_grid, sample_configs  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.sweep import require_bars  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    strategy = get_strategy(request.strategy)
    if request.sizing:
        from backtest.sizing import parse_sizing, sized_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast

        strategy = sized_strategy(strategy, parse_sizing(request.sizing))
    if request.search not in SEARCH_MODES:
        raise SweepRequestError(f"--search: expected one of {', '.join(SEARCH_MODES)}, got {request.search!r}")
    if request.metric not in RANKING_METRICS:
        raise SweepRequestError(f"--metric: expected one of {', '.join(RANKING_METRICS)}, got {request.metric!r}")
    if request.trials < 0:
        raise SweepRequestError(f"--trials: must be >= 0 (0 = automatic), got {request.trials}")
    if not (request.trial_cpus >= 0) or request.trial_cpus > 64:
        raise SweepRequestError(f"--trial-cpus: must be in [0, 64] (0 = automatic), got {request.trial_cpus}")
    if request.scheduler not in SCHEDULERS:
        raise SweepRequestError(f"--scheduler: expected one of {', '.join(SCHEDULERS)}, got {request.scheduler!r}")
    if request.batch < 0:
        raise SweepRequestError(f"--batch: must be >= 0 (0 = automatic), got {request.batch}")
    if request.batch and request.search != "optuna":
        raise SweepRequestError("--batch: only used with --search optuna (grid and random deal their "
                                "configurations into --trials batches)")
    if request.samples is not None and request.search == "grid":
        raise SweepRequestError("--samples: --search grid evaluates every grid point; use --search random or optuna")
    if request.search == "optuna" and request.samples is None:
        raise SweepRequestError("--samples: --search optuna needs --samples N (how many configurations to evaluate)")
    if request.samples is not None and request.samples < 1:
        raise SweepRequestError(f"--samples: must be >= 1, got {request.samples}")
    if request.folds < 0:
        raise SweepRequestError(f"--folds: must be >= 2 with --scheduler asha, got {request.folds}")
    if request.scheduler == "asha":
        folds = request.folds or DEFAULT_ASHA_FOLDS
        if folds < 2:
            raise SweepRequestError(f"--folds: --scheduler asha needs at least 2 folds to stop trials early, "
                                    f"got {request.folds}")
    else:
        if request.folds > 1:
            raise SweepRequestError("--folds: only used with --scheduler asha")
        folds = 1
    from backtest.costs import fee_fraction  # noqa: PLC0415 - numba-compiled module, loaded only to plan
    from backtest.errors import BacktestInputError  # noqa: PLC0415 - loaded with the line above
    from backtest.inputs import start_cash  # noqa: PLC0415 - loaded with the line above

    try:  # the engine's own checks, so the sweep refuses exactly what a backtest refuses, before Ray starts
        fee_fraction(request.fees_bps, name="--fees-bps")
        start_cash(request.cash)
    except BacktestInputError as exc:
        raise SweepRequestError(str(exc).replace("cash:", "--cash:", 1)) from None
    axes = parse_grid(request.grid)
    if request.search == "random":
        names, params = sample_configs(strategy, axes, request.samples or DEFAULT_RANDOM_SAMPLES, seed=request.seed)
        n_configs = params.shape[0]
    else:
        names, params = expand_grid(strategy, axes)
        n_configs = params.shape[0] if request.search == "grid" else min(int(request.samples), params.shape[0])
    if not (0.0 <= request.holdout <= 0.8):
        raise SweepRequestError(f"--holdout: must be a fraction in [0, 0.8], got {request.holdout}")
    bars = load_request_bars(request)
    from backtest.metrics import resolve_periods_per_year  # noqa: PLC0415 - loaded with the lines above

    try:
        ppy = resolve_periods_per_year(bars.timestamp, bars.timeframe_ms, request.periods_per_year)
    except InputError as exc:
        raise SweepRequestError(f"--periods-per-year: {exc}") from None
    holdout_bars = None
    if request.holdout > 0:
        cut = len(bars) - int(round(len(bars) * request.holdout))
        bars, holdout_bars = bars.take(slice(0, cut)), bars.take(slice(cut, None))
        try:
            require_bars(holdout_bars, strategy, names, params)
        except InputError as exc:
            raise SweepRequestError(f"--holdout {request.holdout}: the held-out part is too short: {exc}") from None
    require_bars(bars, strategy, names, params)
    first = fold_ends(len(bars), folds)[0]
    if folds > 1:
        try:
            require_bars(bars.take(slice(0, first)), strategy, names, params)
        except InputError as exc:
            raise SweepRequestError(f"--folds {folds}: the first fold ({first} bars) is too short: {exc}") from None
    return SweepPlan(request=request, bars=bars, strategy=strategy, param_names=names, params=params,
                     holdout_bars=holdout_bars, n_configs=int(n_configs), folds=folds,
                     axes=grid_axes(strategy, axes)[1], periods_per_year=ppy)


def fold_ends(n_bars: int, folds: int) -> list[int]:
    """End (exclusive bar index) of each of ``folds`` equal sequential folds of ``n_bars``; the last is ``n_bars``."""
    return [int(round(n_bars * (k + 1) / folds)) for k in range(folds)]


def _out_of_sample(plan: SweepPlan, rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Metrics of each row's parameters on the held-out bars, from flat (indicators warm up inside them)."""
    from backtest.sweep import METRICS, evaluate_configs  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    if plan.holdout_bars is None:
        return [None] * len(rows)
    params = np.array([[row[n] for n in plan.param_names] for row in rows], dtype=plan.params.dtype)
    request = plan.request
    res = evaluate_configs(plan.holdout_bars, plan.strategy, plan.param_names, params,
                           timeframe_ms=plan.holdout_bars.timeframe_ms, fees_bps=request.fees_bps,
                           fill=request.fill, cash=request.cash, periods_per_year=plan.periods_per_year)
    out = [{m: getattr(res, m)[i].item() for m in METRICS} for i in range(len(rows))]
    if request.metric not in METRICS:
        extra = engine_metric(plan.holdout_bars, plan.strategy, plan.param_names, params, request.metric,
                              fees_bps=request.fees_bps, fill=request.fill, cash=request.cash,
                              periods_per_year=plan.periods_per_year)
        for row, value in zip(out, extra):
            row[request.metric] = _json_number(value)
    return out


def engine_metric(bars: Any, strategy: Any, names: Sequence[str], params: np.ndarray, metric: str, *,
                  fees_bps: float, fill: str, cash: float, periods_per_year: float | None = None) -> np.ndarray:
    """``metric`` of ``backtest.metrics.summary`` for every row of ``params``: one engine backtest each.

    For ranking metrics the batched kernel does not compute (sortino, calmar, profit_factor, ...). A
    value ``summary`` reports as None (infinite: a profit factor with no losing trade) is ``inf``.
    """
    from backtest.engine import run_backtest  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.metrics import summary  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    out = np.empty(params.shape[0], dtype=np.float64)
    for i in range(params.shape[0]):
        values = {n: params[i, j].item() for j, n in enumerate(names)}
        stats = summary(run_backtest(bars, strategy.run(bars, values), fees_bps=fees_bps, fill=fill, cash=cash),
                        bars.timeframe_ms, periods_per_year=periods_per_year)
        value = stats.get(metric)
        out[i] = np.inf if value is None else float(value)
    return out


def _json_number(value: float) -> float | None:
    """A float for JSON: infinite and NaN values become None (as ``backtest.metrics.summary`` does)."""
    return float(value) if np.isfinite(value) else None


def default_run_dir(home: Path, kind: str) -> Path:
    """``<home>/results/<kind>-<UTC time>-<6 hex>``: a fresh folder name per run."""
    return Path(home).expanduser() / "results" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def _trial(config: dict[str, Any], bars: Any = None, batches: Any = None, options: Any = None) -> None:
    """One Tune trial: evaluate one batch of configurations and report all of its rows at once.

    The batch is ``batches[config["batch"]]`` (grid/random) or the rows in
    ``config["configs"]`` (optuna). With ``F`` folds the trial reports ``F``
    times, after the bars up to the end of each fold (cumulative metrics);
    ASHA may stop it between reports. Times in the report are seconds
    (``t_*``: wall-clock epoch seconds, to line the phases up with the driver).
    """
    t_enter = time.time()
    cpu0 = time.process_time()
    import strategies  # noqa: F401, PLC0415
    from backtest.metrics import rank_order  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from backtest.sweep import METRICS, evaluate_configs  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray import tune  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from strategies.registry import get_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    t_imported = time.time()
    index = int(config["batch"])
    if "configs" in config:
        rows = np.asarray(config["rows"], dtype=np.int64)
        params = np.asarray(config["configs"], dtype=options["dtype"]).reshape(len(rows), -1)
    else:
        rows, params = batches[index]
    strategy = get_strategy(options["strategy"])
    if options.get("sizing"):
        from backtest.sizing import parse_sizing, sized_strategy  # noqa: PLC0415 - late, as above

        strategy = sized_strategy(strategy, parse_sizing(options["sizing"]))
    metric = options["metric"]
    eval_s = 0.0
    for fold, end in enumerate(options["fold_ends"], start=1):
        part = bars if end == len(bars) else bars.take(slice(0, end))
        t0 = time.perf_counter()
        result = evaluate_configs(part, strategy, options["param_names"], params, timeframe_ms=bars.timeframe_ms,
                                  fees_bps=options["fees_bps"], fill=options["fill"], cash=options["cash"],
                                  threads=options["threads"], periods_per_year=options["ppy"])
        extra = {}
        if metric in METRICS:
            values = getattr(result, metric)
        else:  # a metric beyond the kernel's: the engine, one backtest per configuration
            values = engine_metric(part, strategy, options["param_names"], params, metric,
                                   fees_bps=options["fees_bps"], fill=options["fill"], cash=options["cash"],
                                   periods_per_year=options["ppy"])
            extra = {metric: values}
        eval_s += time.perf_counter() - t0
        tune.report({
            "batch": index,
            "fold": fold,
            "node_id": ray.get_runtime_context().get_node_id(),  # the Ray node this trial ran on
            "score": float(values[rank_order(values, metric)[0]]),
            "n_configs": len(result),
            "threads": options["threads"],
            "t_enter": t_enter,
            "t_imported": t_imported,
            "t_reported": time.time(),
            "eval_seconds": eval_s,
            "eval_cpu_seconds": time.process_time() - cpu0,
            # the rows as numpy arrays (pickled as buffers, not element by element); on the driver
            # jobs.sweep_callbacks.row_keeper takes them out of the result before Tune's JSON logger
            # and experiment state see it
            "rows": rows,
            "params": result.params,
            **{m: getattr(result, m) for m in METRICS},
            **extra,
        })


def quiet_tune_env() -> None:
    """Set (unless the user did) the Tune switches every sweep wants, before ``Tuner.fit``.

    * ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1``: Tune adds no CSV or
      TensorBoard logger callbacks; :func:`run_sweep` passes the JSON logger
      itself (Tune's result reader needs ``result.json``). The sweep writes
      its own Parquet and summary; Tune's TensorBoard logger imports
      ``tensorboardX`` and with it ``torch`` in the driver, which cost
      1.3-2.4 s on the first ``Tuner.fit`` of every job (measured, 2 cores).
    * ``RAY_AIR_NEW_OUTPUT=0``: the classic, quiet reporter (``verbose=0``).
    """
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


def _batches(params: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deal rows round-robin into ``n`` batches (neighbouring grid rows cost alike); keeps each row's index."""
    idx = np.arange(params.shape[0])
    return [(idx[k::n], params[k::n]) for k in range(n) if idx[k::n].size]


def run_sweep(plan: SweepPlan, *, home: Path | None = None, progress: Progress | None = None) -> SweepReport:
    """Run the planned sweep through Ray Tune (Ray must be initialised) and write the run folder.

    Returns the report (its ``to_json()`` is also written to ``summary.json``). ``progress(done, total, info)``,
    when given, is called from the driver as trials report: configurations done (reported after their
    last fold), of ``total``, and ``info`` (trials running).

    Raises:
        InputError: ResourcesUnavailableError when no CPUs are
            free for a trial within a few seconds, naming what holds them (see :mod:`jobs.resources`).
        RuntimeError: a Tune trial failed (its error is in the message).
    """
    import pandas as pd  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray import tune  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray.tune.logger import JsonLoggerCallback  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    from backtest.sweep import METRICS, SweepResult  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    started = time.perf_counter()
    request = plan.request
    if request.out:
        run_dir = Path(request.out).expanduser().absolute()
    else:
        if home is None:
            from raytrader.config import load_config  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

            home = load_config().cluster.home
        run_dir = default_run_dir(home, "sweep")
    run_dir.mkdir(parents=True, exist_ok=True)

    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    adaptive = request.search == "optuna" or request.scheduler == "asha"
    # sized to the CPUs free now (a Serve replica or another job may hold some); fails naming the holders
    sizing = plan_trials(requested=request.trial_cpus, whole_node=not adaptive)
    trial_cpus, threads, parallel = sizing.trial_cpus, sizing.threads, sizing.concurrent
    n = plan.n_configs or plan.params.shape[0]
    ends = fold_ends(len(plan.bars), plan.folds)
    from backtest.metrics import rank_order, ranking_mode  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    mode = ranking_mode(request.metric)
    options = {"strategy": request.strategy, "sizing": request.sizing, "param_names": plan.param_names, "fees_bps": request.fees_bps,
               "fill": request.fill, "cash": request.cash, "metric": request.metric, "threads": threads,
               "fold_ends": ends, "dtype": plan.params.dtype.str, "ppy": plan.periods_per_year}
    core = None
    if request.search == "optuna":
        n_batches = request.trials or 4 * parallel
        batch = request.batch or max(1, -(-n // n_batches))
        core = OptunaBatches(strategy=plan.strategy, names=plan.param_names, axes=plan.axes, grid=plan.params,
                             n_configs=n, batch=batch, parallel=parallel, metric=request.metric, folds=plan.folds,
                             seed=request.seed)
        batches: list[Any] = []
        n_trials = core.n_batches
        space: dict[str, Any] = {}
        search_alg = tune_searcher(core, mode)
    else:
        n_trials = min(request.trials or (4 * parallel if adaptive else parallel), n)
        batches = _batches(plan.params, n_trials)
        n_trials = len(batches)
        space = {"batch": tune.grid_search(list(range(n_trials)))}
        search_alg = None
    scheduler = None
    if request.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=plan.folds, grace_period=1,
                                  reduction_factor=2)
    table_keys = ["rows", "params", *METRICS, *([] if request.metric in METRICS else [request.metric])]
    keeper = row_keeper(table_keys, strip=core is None)
    trainable = tune.with_resources(tune.with_parameters(_trial, bars=plan.bars, batches=batches, options=options),
                                    {"cpu": trial_cpus})
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(num_samples=1 if core is None else n_trials, search_alg=search_alg,
                                    scheduler=scheduler, metric="score", mode=mode,
                                    max_concurrent_trials=parallel if core is not None else None,
                                    reuse_actors=n_trials > parallel),
        run_config=tune.RunConfig(name="tune", storage_path=str(run_dir), verbose=0, log_to_file=True,
                                  # a trial whose node is lost is run again on another (it is deterministic:
                                  # the same rows, the same numbers); a trial that raises fails at once
                                  failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
                                  callbacks=[keeper,  # first: the rows leave the result before the JSON logger
                                             JsonLoggerCallback(),  # see quiet_tune_env
                                             tune_watchdog(what="sweep", trial_cpus=trial_cpus),
                                             *([progress_callback(progress, n, plan.folds)] if progress else [])]),
    )
    quiet_tune_env()
    tune_started = time.perf_counter()
    fit_wall = time.time()
    with contextlib.redirect_stdout(sys.stderr):  # Tune's own reports must not reach stdout (--json)
        grid = tuner.fit()
    fit_end = time.time()
    tune_seconds = time.perf_counter() - tune_started
    errors = [str(r.error) for r in grid if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} sweep trial(s) failed; first: {errors[0][-2000:]}")
    if core is not None:
        core.finish()

    reports = sorted((r.metrics for r in grid), key=lambda m: int(m["batch"]))
    cols = {m: np.empty(n, dtype=np.int64 if m == "n_trades" else np.float64) for m in METRICS}
    extra = np.full(n, np.nan) if request.metric not in METRICS else None  # the engine-computed ranking metric
    params = np.empty((n, len(plan.param_names)), dtype=plan.params.dtype)
    folds_done = np.zeros(n, dtype=np.int64)
    filled = np.zeros(n, dtype=bool)
    for m_ in reports:
        t_ = keeper.tables[m_["trial_id"]]  # the arrays of this trial's last report (the same report as m_)
        rows = np.asarray(t_["rows"], dtype=np.int64)
        params[rows] = np.asarray(t_["params"], dtype=plan.params.dtype).reshape(len(rows), -1)
        folds_done[rows] = int(m_["fold"])
        filled[rows] = True
        for m in METRICS:
            cols[m][rows] = t_[m]
        if extra is not None:
            extra[rows] = np.asarray(t_[request.metric], dtype=np.float64)
    if not filled.all():
        raise RuntimeError(f"sweep: {int((~filled).sum())} of {n} configurations were never reported by a trial")
    result = SweepResult(strategy=plan.strategy.name, param_names=plan.param_names, params=params, **cols)
    table = result.columns()
    if extra is not None:
        table[request.metric] = extra
    if plan.folds > 1:
        table["folds"] = folds_done
    frame = pd.DataFrame(table)
    results_path = run_dir / "results.parquet"
    frame.to_parquet(results_path, index=False)

    complete = np.flatnonzero(folds_done == folds_done.max())  # ASHA: only rows that saw every fold compete
    ranking = extra if extra is not None else getattr(result, request.metric)
    ranked = complete[rank_order(ranking[complete], request.metric)]
    best = int(ranked[0])
    rows_out = [result.row(best)] + [result.row(int(i)) for i in ranked[:5]]
    if extra is not None:
        for row, i in zip(rows_out, [best, *ranked[:5]]):
            row[request.metric] = _json_number(extra[int(i)])
    for row, oos in zip(rows_out, _out_of_sample(plan, rows_out)):
        row["out_of_sample"] = oos
    enter = [float(m_["t_enter"]) for m_ in reports]
    asha = None
    if plan.folds > 1:
        iterations = [int(m_["fold"]) for m_ in reports]
        asha = AshaSummary(folds=plan.folds, fold_ends=tuple(ends), trial_folds=tuple(iterations),
                           stopped_trials=sum(1 for i in iterations if i < plan.folds),
                           configs_all_folds=int(complete.size))
    optuna = None
    if core is not None:
        optuna = OptunaSummary(seed=request.seed, batch=core.batch, suggestions=core.counts["asked"],
                               infeasible_pruned=core.counts["infeasible"], repeats=core.counts["repeated"],
                               random_fill=core.counts["random_fill"])
    report = SweepReport(
        plan=plan, n_configs=n, best=rows_out[0], top=tuple(rows_out[1:]), n_trials=n_trials,
        trial_cpus=trial_cpus, threads_per_trial=threads, concurrent_trials=parallel, cluster_cpus=cpus,
        tune_seconds=round(tune_seconds, 3),
        configs_per_second=round(n / tune_seconds, 1) if tune_seconds > 0 else None,
        trial_nodes=tuple(str(m_["node_id"]) for m_ in reports),
        trial_eval_seconds=tuple(round(float(m_["eval_seconds"]), 4) for m_ in reports),
        trial_eval_cpu_seconds=tuple(round(float(m_["eval_cpu_seconds"]), 4) for m_ in reports),
        phases={  # seconds, wall clock, from Tuner.fit's start
            "fit_to_first_trial": round(min(enter) - fit_wall, 3),
            "fit_to_last_trial": round(max(enter) - fit_wall, 3),
            "trial_imports_max": round(max(float(m_["t_imported"]) - float(m_["t_enter"]) for m_ in reports), 3),
            "last_report_to_fit_end": round(fit_end - max(float(m_["t_reported"]) for m_ in reports), 3),
        },
        seconds=round(time.perf_counter() - started, 3), run_dir=run_dir, results_path=results_path,
        asha=asha, optuna=optuna)
    (run_dir / "summary.json").write_text(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    return report


def _prepare(args: argparse.Namespace) -> SweepPlan:
    quiet_tune_env()  # before Ray (and Tune) are imported
    return plan_sweep(request_from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.sweep``: print one JSON object; exit 2 on bad input (before Ray starts)."""
    return run_job_main("sweep", __doc__, add_sweep_arguments, _prepare, run_sweep, argv)

if __name__ == "__main__":
    sys.exit(main())
