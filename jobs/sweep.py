"""A parameter sweep of one strategy on one bar series, through Ray Tune.

Runs the same code three ways:

* ``raytrader sweep --sample ETH-BTC-5m --strategy sma_cross -g fast=5:200:5 -g slow=5:200:5 --fees-bps 10 --json``
  (this process is the Ray driver, attached to the cluster ``raytrader up`` started);
* ``python -m jobs.sweep ...`` (same flags), e.g. as a Ray job:
  ``ray job submit --address http://127.0.0.1:8265 -- python -m jobs.sweep --sample ETH-BTC-5m -g fast=5:50:5 -g slow=10:100:10 --json``;
* :func:`run_sweep` from Python, with Ray already initialised.

How it uses Tune (STACK-NOTES: about 1.9 s of overhead per Tune trial, so
one trial per configuration would drown the work): the bars go into the
object store **once** (``tune.with_parameters``); the configurations are
dealt round-robin into a few batches (by default one trial per CPU) and each
trial evaluates its whole batch with the batched kernel
(:func:`backtest.sweep.evaluate_configs`) and reports every row in one
``tune.report``. ``--search random --samples N`` draws N configurations
(seeded, uniform, without replacement) from the constrained grid first.

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
from typing import Any, Sequence

import numpy as np

from jobs._entry import run_job_main
from jobs._inputs import DEFAULT_SAMPLE, add_data_arguments, load_bars
from market.errors import InputError

__all__ = ["SweepRequest", "SweepPlan", "SweepRequestError", "SEARCH_MODES", "METRIC_CHOICES", "add_sweep_arguments",
           "request_from_args", "plan_sweep", "run_sweep", "default_run_dir", "main"]


#: ``--search`` choices: every grid point, or N seeded uniform draws from it
SEARCH_MODES: tuple[str, ...] = ("grid", "random")

#: ``--metric`` choices; equal to ``backtest.sweep.METRICS`` (spelled out so ``--help`` need not import numba)
METRIC_CHOICES: tuple[str, ...] = ("total_return", "sharpe", "max_drawdown", "n_trades", "final_equity")


class SweepRequestError(InputError):
    """A sweep option is out of range (the message names the flag)."""


@dataclass(frozen=True, kw_only=True)
class SweepRequest:
    """What to sweep. Exactly one of ``data`` (a file) and ``sample`` (a bundled sample) is set.

    Attributes:
        grid: ``-g`` texts, e.g. ``("fast=5:200:5", "slow=5:200:5")``.
        fees_bps: fee per side, basis points of notional.
        fill: ``"open"`` (next bar's open) or ``"close"``.
        cash: starting cash, quote currency.
        search: ``"grid"`` or ``"random"``.
        samples: configurations drawn when ``search == "random"``.
        seed: seed of the random draw.
        metric: the metric that picks ``best`` (``max_drawdown``: lowest).
        trials: Tune trials (batches); 0 = one per ``trial_cpus`` of the cluster's CPUs.
        trial_cpus: CPUs each trial asks for (fractions allowed).
        out: run folder; empty = ``<home>/results/sweep-<time>-<id>``.
        holdout: fraction of the bars, at the end, kept out of the search; the best and
            top configurations are then measured on it from flat (out-of-sample). 0 = none,
            and the output says every number is in-sample.
    """

    strategy: str = "sma_cross"
    grid: tuple[str, ...] = ()
    data: str = ""
    sample: str = ""
    symbol: str | None = None
    timeframe: str | None = None
    fees_bps: float = 10.0
    fill: str = "open"
    cash: float = 10_000.0
    search: str = "grid"
    samples: int = 100
    seed: int = 0
    metric: str = "sharpe"
    trials: int = 0
    trial_cpus: float = 1.0
    out: str = ""
    holdout: float = 0.3


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep flags, shared by ``raytrader sweep`` and ``python -m jobs.sweep``."""
    add_data_arguments(parser)
    parser.add_argument("--strategy", default="sma_cross", help="registered strategy (default sma_cross)")
    parser.add_argument("-g", "--grid", dest="grid", action="append", default=[], metavar="NAME=SPEC",
                        help="grid axis, repeatable: name=start:stop:step (stop inclusive), name=v1,v2 or name=v; "
                             "parameters without an axis keep their default")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps of notional, each side (default 10)")
    parser.add_argument("--fill", choices=("open", "close"), default="open",
                        help="open: signal on bar t's close fills at bar t+1's open (default); close: at t's close")
    parser.add_argument("--cash", type=float, default=10_000.0, help="starting cash (default 10000)")
    parser.add_argument("--search", choices=SEARCH_MODES, default="grid",
                        help="grid: every allowed grid point (default); random: --samples seeded draws from it")
    parser.add_argument("--samples", type=int, default=100, help="configurations for --search random (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --search random (default 0)")
    parser.add_argument("--metric", choices=METRIC_CHOICES, default="sharpe",
                        help="metric that picks the best configuration (default sharpe; max_drawdown: lowest)")
    parser.add_argument("--trials", type=int, default=0,
                        help="Tune trials (batches of configurations); default one per CPU of the cluster")
    parser.add_argument("--trial-cpus", type=float, default=1.0, help="CPUs per trial (default 1; fractions allowed)")
    parser.add_argument("--holdout", type=float, default=0.3, metavar="FRACTION",
                        help="last fraction of the bars kept out of the search; best and top are also reported "
                             "on it, out-of-sample (default 0.3; 0 = none: every number is then in-sample)")
    parser.add_argument("--out", default="", metavar="DIR",
                        help="run folder for results.parquet and summary.json (default <home>/results/sweep-...)")


def request_from_args(args: argparse.Namespace) -> SweepRequest:
    return SweepRequest(strategy=args.strategy, grid=tuple(args.grid), data=args.data or "",
                        sample=args.sample or ("" if args.data else DEFAULT_SAMPLE), symbol=args.symbol,
                        timeframe=args.timeframe, fees_bps=args.fees_bps, fill=args.fill, cash=args.cash,
                        search=args.search, samples=args.samples, seed=args.seed, metric=args.metric,
                        trials=args.trials, trial_cpus=args.trial_cpus, out=args.out or "", holdout=args.holdout)


@dataclass(frozen=True, kw_only=True)
class SweepPlan:
    """A validated sweep, ready to run: the bars, the strategy and the configurations (rows of ``params``)."""

    request: SweepRequest
    bars: Any  # the in-sample bars the search runs on
    strategy: Any
    param_names: tuple[str, ...]
    params: np.ndarray
    holdout_bars: Any = None  # the held-out tail (None when --holdout 0)


def plan_sweep(request: SweepRequest) -> SweepPlan:
    """Validate everything that can be validated before Ray: strategy, grid, options, bar count.

    Raises:
        UnknownStrategyError, GridSpecError, EmptySweepError, InsufficientDataError,
        SweepRequestError, FeeError, CashError and data errors (all InputError).
    """
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.sweep import METRICS, expand_grid, parse_grid, require_bars, sample_configs  # noqa: PLC0415
    from strategies.registry import get_strategy  # noqa: PLC0415

    strategy = get_strategy(request.strategy)
    if request.search not in SEARCH_MODES:
        raise SweepRequestError(f"--search: expected one of {', '.join(SEARCH_MODES)}, got {request.search!r}")
    if request.metric not in METRICS:
        raise SweepRequestError(f"--metric: expected one of {', '.join(METRICS)}, got {request.metric!r}")
    if request.trials < 0:
        raise SweepRequestError(f"--trials: must be >= 0 (0 = one per CPU), got {request.trials}")
    if not (request.trial_cpus > 0) or request.trial_cpus > 64:
        raise SweepRequestError(f"--trial-cpus: must be in (0, 64], got {request.trial_cpus}")
    if not (request.fees_bps >= 0) or not np.isfinite(request.fees_bps):
        raise SweepRequestError(f"--fees-bps: must be a finite number >= 0, got {request.fees_bps}")
    if not (request.cash > 0) or not np.isfinite(request.cash):
        raise SweepRequestError(f"--cash: must be a finite amount > 0, got {request.cash}")
    axes = parse_grid(request.grid)
    if request.search == "random":
        names, params = sample_configs(strategy, axes, request.samples, seed=request.seed)
    else:
        names, params = expand_grid(strategy, axes)
    if not (0.0 <= request.holdout <= 0.8):
        raise SweepRequestError(f"--holdout: must be a fraction in [0, 0.8], got {request.holdout}")
    bars = load_bars(request.data, request.sample, request.symbol, request.timeframe)
    holdout_bars = None
    if request.holdout > 0:
        cut = len(bars) - int(round(len(bars) * request.holdout))
        bars, holdout_bars = bars.take(slice(0, cut)), bars.take(slice(cut, None))
        try:
            require_bars(holdout_bars, strategy, names, params)
        except InputError as exc:
            raise SweepRequestError(f"--holdout {request.holdout}: the held-out part is too short: {exc}") from None
    require_bars(bars, strategy, names, params)
    return SweepPlan(request=request, bars=bars, strategy=strategy, param_names=names, params=params,
                     holdout_bars=holdout_bars)


def _span(bars: Any) -> dict[str, Any]:
    from backtest.trades import ms_to_iso  # noqa: PLC0415

    return {"bars": len(bars), "start": ms_to_iso(int(bars.timestamp[0])), "end": ms_to_iso(int(bars.timestamp[-1]))}


def _out_of_sample(plan: SweepPlan, rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Metrics of each row's parameters on the held-out bars, from flat (indicators warm up inside them)."""
    from backtest.sweep import METRICS, evaluate_configs  # noqa: PLC0415

    if plan.holdout_bars is None:
        return [None] * len(rows)
    params = np.array([[row[n] for n in plan.param_names] for row in rows], dtype=plan.params.dtype)
    request = plan.request
    res = evaluate_configs(plan.holdout_bars, plan.strategy, plan.param_names, params,
                           timeframe_ms=plan.holdout_bars.timeframe_ms, fees_bps=request.fees_bps,
                           fill=request.fill, cash=request.cash)
    return [{m: getattr(res, m)[i].item() for m in METRICS} for i in range(len(rows))]


def default_run_dir(home: Path, kind: str) -> Path:
    """``<home>/results/<kind>-<UTC time>-<6 hex>``: a fresh folder name per run."""
    return Path(home).expanduser() / "results" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def _trial(config: dict[str, Any], bars: Any = None, batches: Any = None, options: Any = None) -> None:
    """One Tune trial: evaluate batch ``config["batch"]`` and report all of its rows at once."""
    import strategies  # noqa: F401, PLC0415
    from backtest.sweep import METRICS, evaluate_configs  # noqa: PLC0415
    from ray import tune  # noqa: PLC0415
    from strategies.registry import get_strategy  # noqa: PLC0415

    started = time.perf_counter()
    index = int(config["batch"])
    rows, params = batches[index]
    result = evaluate_configs(bars, get_strategy(options["strategy"]), options["param_names"], params,
                              timeframe_ms=bars.timeframe_ms, fees_bps=options["fees_bps"], fill=options["fill"],
                              cash=options["cash"])
    best = result.best(options["metric"])
    tune.report({
        "batch": index,
        "n_configs": len(result),
        "eval_seconds": time.perf_counter() - started,
        f"best_{options['metric']}": float(getattr(result, options["metric"])[best]),
        "rows": rows.tolist(),
        "params": result.params.tolist(),
        **{m: getattr(result, m).tolist() for m in METRICS},
    })


def _batches(params: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deal rows round-robin into ``n`` batches (costs vary along a grid); keeps each row's index."""
    idx = np.arange(params.shape[0])
    return [(idx[k::n], params[k::n]) for k in range(n) if idx[k::n].size]


def run_sweep(request: SweepRequest, *, home: Path | None = None, plan: SweepPlan | None = None) -> dict[str, Any]:
    """Run the sweep through Ray Tune (Ray must be initialised) and write the run folder.

    Returns the JSON-able summary (also written to ``summary.json``).

    Raises:
        InputError: see :func:`plan_sweep`.
        RuntimeError: a Tune trial failed (its error is in the message).
    """
    import pandas as pd  # noqa: PLC0415
    import ray  # noqa: PLC0415
    from ray import tune  # noqa: PLC0415

    from backtest.sweep import METRICS, SweepResult  # noqa: PLC0415

    started = time.perf_counter()
    plan = plan or plan_sweep(request)
    if request.out:
        run_dir = Path(request.out).expanduser().absolute()
    else:
        if home is None:
            from cluster.config import load_config  # noqa: PLC0415

            home = load_config().cluster.home
        run_dir = default_run_dir(home, "sweep")
    run_dir.mkdir(parents=True, exist_ok=True)

    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    n_trials = request.trials or max(1, int(cpus // request.trial_cpus))
    batches = _batches(plan.params, min(n_trials, plan.params.shape[0]))
    options = {"strategy": plan.strategy.name, "param_names": plan.param_names, "fees_bps": request.fees_bps,
               "fill": request.fill, "cash": request.cash, "metric": request.metric}
    trainable = tune.with_resources(tune.with_parameters(_trial, bars=plan.bars, batches=batches, options=options),
                                    {"cpu": request.trial_cpus})
    tuner = tune.Tuner(
        trainable,
        param_space={"batch": tune.grid_search(list(range(len(batches))))},
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(name="tune", storage_path=str(run_dir), verbose=0, log_to_file=True),
    )
    tune_started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # Tune's own reports must not reach stdout (--json)
        grid = tuner.fit()
    tune_seconds = time.perf_counter() - tune_started
    errors = [str(r.error) for r in grid if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} sweep trial(s) failed; first: {errors[0][-2000:]}")

    n = plan.params.shape[0]
    cols = {m: np.empty(n, dtype=np.int64 if m == "n_trades" else np.float64) for m in METRICS}
    params = np.empty_like(plan.params)
    for r in grid:
        rows = np.asarray(r.metrics["rows"], dtype=np.int64)
        params[rows] = np.asarray(r.metrics["params"], dtype=plan.params.dtype).reshape(len(rows), -1)
        for m in METRICS:
            cols[m][rows] = r.metrics[m]
    result = SweepResult(strategy=plan.strategy.name, param_names=plan.param_names, params=params, **cols)
    frame = pd.DataFrame(result.columns())
    results_path = run_dir / "results.parquet"
    frame.to_parquet(results_path, index=False)

    best = result.best(request.metric)
    ranked = _ranked(result, request.metric)
    rows = [result.row(best)] + [result.row(i) for i in ranked[:5]]
    for row, oos in zip(rows, _out_of_sample(plan, rows)):
        row["out_of_sample"] = oos
    bars = plan.bars
    seconds = time.perf_counter() - started
    summary = {
        "job": "sweep",
        "strategy": plan.strategy.name,
        "symbol": bars.symbol,
        "timeframe": bars.timeframe,
        "source": request.data or f"sample:{request.sample}",
        "bars": len(bars) + (len(plan.holdout_bars) if plan.holdout_bars is not None else 0),
        "in_sample": _span(bars),
        "out_of_sample": _span(plan.holdout_bars) if plan.holdout_bars is not None else None,
        "fees_bps": request.fees_bps,
        "fill": request.fill,
        "search": request.search,
        "grid": list(request.grid),
        "n_configs": n,
        "metric": request.metric,
        "best": rows[0],
        "top": rows[1:],
        "n_trials": len(batches),
        "trial_cpus": request.trial_cpus,
        "cluster_cpus": cpus,
        "tune_seconds": round(tune_seconds, 3),
        "trial_eval_seconds": [round(float(r.metrics["eval_seconds"]), 4) for r in grid],
        "seconds": round(seconds, 3),
        "configs_per_second": round(n / tune_seconds, 1) if tune_seconds > 0 else None,
        "run_dir": str(run_dir),
        "results_path": str(results_path),
        "summary_path": str(run_dir / "summary.json"),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


def _ranked(result: Any, metric: str) -> np.ndarray:
    values = getattr(result, metric)
    keys = values if metric == "max_drawdown" else -values
    return np.argsort(keys, kind="stable")


def _prepare(args: argparse.Namespace) -> SweepPlan:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    return plan_sweep(request_from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.sweep``: print one JSON object; exit 2 on bad input (before Ray starts)."""
    return run_job_main("sweep", __doc__, add_sweep_arguments, _prepare,
                        lambda plan: run_sweep(plan.request, plan=plan), argv)

if __name__ == "__main__":
    sys.exit(main())
