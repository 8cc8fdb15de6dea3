"""``raytrader sweep | walkforward | montecarlo``: research commands that fan out over the Ray cluster.

Each validates its input first (bad input exits 2 even without a cluster),
then attaches this process as a Ray driver to the cluster that
``raytrader up`` started and runs the job in ``jobs.sweep``,
``jobs.walkforward`` or ``jobs.montecarlo`` (the same code that
``python -m jobs.<name>`` runs as a Ray job): request, plan (validated before
Ray), report. The ``format_*`` functions render the report's ``to_json()``,
the same object a run folder stores, so ``raytrader runs show`` prints a
stored run exactly as the command printed it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from raytrader.cli import Output, add_command
from raytrader.config import Config
from cluster.commands.report import add_report_flag
from cluster.driver import ray_driver
from raytrader.errors import InputError
from raytrader.runs import fmt_return

__all__ = ["register", "format_sweep", "format_walkforward", "format_montecarlo", "fmt_return", "fmt_number",
           "montecarlo_method"]


#: flags whose default comes from the config's ``[research]`` section when not given
_RESEARCH_FLAGS = ("strategy", "fees_bps", "cash", "fill", "metric")


def apply_research_defaults(args: argparse.Namespace, config: Config) -> argparse.Namespace:
    """Fill the flags the user did not give from ``[research]`` (strategy, -p/-g, fees, cash, fill, metric).

    The parsers of these commands default those flags to None (or an empty list for ``-p``/``-g``),
    so a flag given on the command line always wins, even when it equals the built-in default.
    """
    from jobs.inputs import parse_param  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.sweep import KERNEL_METRICS  # noqa: PLC0415 - late: keeps the CLI and --help fast

    research = config.research
    values = vars(args)
    from jobs.sweep import METRIC_CHOICES  # noqa: PLC0415 - late: keeps the CLI and --help fast

    for name in _RESEARCH_FLAGS:
        if name in values and values[name] is None:
            values[name] = getattr(research, name)
            if name == "metric" and values[name] not in METRIC_CHOICES:
                raise InputError(f"config field 'research.metric': expected one of {', '.join(METRIC_CHOICES)}, "
                                 f"got {values[name]!r}")
    if "grid" in values and not values["grid"] and research.grid:
        values["grid"] = [g.strip() for g in research.grid.split(";") if g.strip()]
    if "params" in values and not values["params"] and research.params:
        try:
            values["params"] = [parse_param(p.strip()) for p in research.params.split(",") if p.strip()]
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"config field 'research.params': {exc}") from None
    if values.get("handler") is _walkforward and values.get("metric") not in KERNEL_METRICS:
        sys.stderr.write(f"walkforward: [research] metric {values['metric']!r} is not one walk-forward ranks by "
                         f"({', '.join(KERNEL_METRICS)}); using sharpe (pass --metric to choose)\n")
        values["metric"] = "sharpe"
    return args


def save_run_folder(kind: str, result: dict[str, Any], home: Path) -> dict[str, Any]:
    """Write ``result`` as ``summary.json`` in a fresh run folder ``<home>/results/<kind>-...``; adds
    ``run_dir`` and ``summary_path`` to it (``raytrader runs`` shows where a run's files are)."""
    import json  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from jobs.sweep import default_run_dir  # noqa: PLC0415 - late: keeps the CLI and --help fast

    run_dir = default_run_dir(home, kind)
    run_dir.mkdir(parents=True, exist_ok=True)
    result.update(run_dir=str(run_dir), summary_path=str(run_dir / "summary.json"))
    (run_dir / "summary.json").write_text(json.dumps(result, indent=2, allow_nan=False, default=str) + "\n")
    return result


def _params_text(row: dict[str, Any], names: list[str]) -> str:
    return " ".join(f"{n}={row[n]}" for n in names)


def _metrics_text(row: dict[str, Any]) -> str:
    return (f"return {fmt_return(row['total_return']):>8s}  sharpe {fmt_number(row['sharpe']):>6s}  "
            f"max DD {row['max_drawdown']:6.2%}  trades {row['n_trades']:5d}")


def format_sweep(r: dict[str, Any]) -> str:
    """Human summary of a ``jobs.sweep`` result."""
    names = r.get("param_names") or [k for k in r["best"] if k not in (
        "total_return", "sharpe", "max_drawdown", "n_trades", "final_equity", "out_of_sample", "ruined_at", r["metric"])]
    extra = r["metric"] if r["metric"] not in ("total_return", "sharpe", "max_drawdown", "n_trades") else ""

    def metrics(row: dict[str, Any]) -> str:
        value = row.get(extra) if extra else None
        shown = "inf" if extra and value is None else (fmt_number(value) if value is not None else "")
        return _metrics_text(row) + (f"  {extra} {shown}" if extra else "")
    ins, oos = r["in_sample"], r["out_of_sample"]
    lines = [f"{r['strategy']} {r['search']} sweep on {r['symbol']} {r['timeframe']} ({r['bars']} bars, {r['source']}), "
             f"fees {r['fees_bps']:g} bps"
             + (f", {r['periods_per_year']:,.2f} bars/year ({r['periods_per_year_source']})" if "periods_per_year" in r else ""),
             f"  {r['n_configs']} configs in {r['seconds']:.1f} s: {r['n_trials']} Ray Tune trial(s) x "
             f"{r['trial_cpus']:g} CPU ({r.get('threads_per_trial', 1)} thread(s)), "
             f"Tune {r['tune_seconds']:.1f} s ({r['configs_per_second']} configs/s)",
             f"  searched on {ins['bars']} bars {ins['start']} .. {ins['end']} (in-sample)"]
    if r.get("sizing"):
        lines.insert(1, f"  sizing {r['sizing']} (each configuration's targets sized; one engine backtest each)")
    opt = r.get("optuna")
    if opt:
        lines.insert(2, f"  optuna TPE seed {opt['seed']}, batches of {opt['batch']}: {opt['suggestions']} suggestions, "
                        f"{opt['infeasible_pruned']} infeasible (pruned, not run), {opt['repeats']} repeats, "
                        f"{opt['random_fill']} random fills")
    asha = r.get("asha")
    if asha:
        lines.insert(2, f"  ASHA over {asha['folds']} folds: {asha['stopped_trials']} of {r['n_trials']} trials stopped "
                        f"early (folds run {asha['trial_folds']}); {asha['configs_all_folds']} configs saw every fold")
    if oos:
        lines.append(f"  held out   {oos['bars']} bars {oos['start']} .. {oos['end']} (out-of-sample, from flat)")
    else:
        lines.append("  WARNING: --holdout 0: every number below is in-sample, chosen and measured on the same bars")

    def show(row: dict[str, Any]) -> list[str]:
        out = [f"  {_params_text(row, names):24s} in-sample      {metrics(row)}"]
        if row.get("out_of_sample"):
            out.append(f"  {'':24s} out-of-sample  {metrics(row['out_of_sample'])}")
        return out

    from backtest.metrics import ranking_mode  # noqa: PLC0415 - the one place that says which way a metric ranks

    order = "lowest" if ranking_mode(r["metric"]) == "min" else "highest"
    lines += [f"best by in-sample {r['metric']} ({order} first):", *show(r["best"]), "top 5:"]
    for row in r["top"]:
        lines += show(row)
    lines.append(f"results: {r['results_path']}")
    return "\n".join(lines)


def check_out_dir(out: str) -> None:
    """``--out DIR`` must be a folder or creatable as one (checked before any Ray work starts).

    Raises:
        InputError: it names an existing file, or the nearest existing parent is a file or not writable.
    """
    if not out:
        return
    path = Path(out).expanduser().absolute()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder (name a new or existing folder)")
        return
    parent = next(p for p in path.parents if p.exists())
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is a file, so the folder cannot be created")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot create it: {parent} is not writable")


def _sweep(args: argparse.Namespace, config: Config) -> Output:
    from cluster.progress import progress_bar, progress_enabled  # noqa: PLC0415 - rich only when it runs
    from jobs.sweep import plan_sweep, request_from_args, run_sweep  # noqa: PLC0415 - late: keeps the CLI and --help fast

    check_out_dir(args.out)
    plan = plan_sweep(request_from_args(apply_research_defaults(args, config)))  # bad input exits 2 before Ray
    with ray_driver(config, args.verbose), \
            progress_bar("sweep", plan.n_configs, enabled=progress_enabled(args.json), unit="configs") as update:
        result = run_sweep(plan, home=config.cluster.home, progress=update).to_json()
    return Output(data=result, text=format_sweep(result))


def _when(ms: int, intraday: bool) -> str:
    """A bar time (ms UTC) for people: the date, and the time of day for intraday bars."""
    return time.strftime("%Y-%m-%d %H:%M" if intraday else "%Y-%m-%d", time.gmtime(ms / 1000))


def format_walkforward(r: dict[str, Any]) -> str:
    """Human summary of a ``jobs.walkforward`` result: one row per fold with its training and test dates."""
    folds = r["folds"]
    intraday = any(int(t) % 86_400_000 for f in folds for t in (*f.get("train_time", ()), *f.get("test_time", ())))
    w = 16 if intraday else 10

    def span(times: list[int]) -> str:
        return f"{_when(times[0], intraday):>{w}s} .. {_when(times[1], intraday):<{w}s}"

    lines = [f"{r['strategy']} walk-forward ({r['mode']}, {r['n_folds']} folds, {r['n_configs']} configs, "
             f"best by {r['metric']}) on {r['symbol']} {r['timeframe']} ({r['bars']} bars), fees {r['fees_bps']:g} bps",
             "each fold: the best parameters on its training window, then traded from flat on the test window after it",
             f"{'fold':>4s}  {'train (UTC)':^{2 * w + 4}s}  {'test (UTC, out-of-sample)':^{2 * w + 4}s}  {'params':18s} "
             f"{'IS sharpe':>9s} {'OOS return':>10s} {'OOS sharpe':>10s} {'trades':>6s}"]
    for f in folds:
        params = " ".join(f"{k}={v}" for k, v in f["params"].items())
        lines.append(f"{f['fold']:4d}  {span(f['train_time'])}  {span(f['test_time'])}  {params:18s} "
                     f"{f['in_sample']['sharpe']:9.2f} {fmt_return(f['out_of_sample']['total_return']):>10s} "
                     f"{f['out_of_sample']['sharpe']:10.2f} {f['out_of_sample']['n_trades']:6d}")
    st = r["stability"]
    modal = " ".join(f"{k}={v}" for k, v in st["modal_params"].items())
    lines.append(f"out-of-sample return compounded {fmt_return(r['oos_total_return'])}; efficiency "
                 f"{r['efficiency']:.2f} (out-of-sample / in-sample return rate); modal params {modal} in "
                 f"{st['modal_share']:.0%} of folds; {r['seconds']:.1f} s")
    if r.get("summary_path"):
        lines.append(f"summary: {r['summary_path']}")
    return "\n".join(lines)


def _walkforward(args: argparse.Namespace, config: Config) -> Output:
    from cluster.progress import progress_bar, progress_enabled  # noqa: PLC0415 - rich only when it runs
    from jobs.walkforward import plan_walkforward, request_from_args, run_walkforward  # noqa: PLC0415 - late: keeps the CLI and --help fast

    plan = plan_walkforward(request_from_args(apply_research_defaults(args, config)))  # bad input exits 2 before Ray
    with ray_driver(config, args.verbose), \
            progress_bar("walk-forward", None, enabled=progress_enabled(args.json), unit="folds") as update:
        report = run_walkforward(plan, progress=lambda done, total, info: update(done, total))
    result = save_run_folder("walkforward", report.to_json(), config.cluster.home)
    return Output(data=result, text=format_walkforward(result))


def fmt_number(x: float | None) -> str:
    """A ratio (Sharpe) for people, at most 9 characters."""
    if x is None or x != x:
        return "n/a"
    return f"{x:.2f}" if abs(x) < 1e5 else f"{x:.2e}"


def montecarlo_method(r: dict[str, Any]) -> str:
    """The resampling method in one line."""
    if r["method"] == "bootstrap":
        return (f"method: block bootstrap: the backtest's bar returns cut into {r['block_bars']}-bar blocks, "
                f"drawn at random (with replacement) and chained into {r['n_paths']} new paths of the same length")
    how = "drawn with replacement" if r.get("replace") else "shuffled (the same trades in another order)"
    return (f"method: trade resampling: the backtest's {r['backtest'].get('n_trades', '?')} trade returns "
            f"{how}, {r['n_paths']} times; the order decides drawdown and ruin")


def format_montecarlo(r: dict[str, Any]) -> str:
    """Human summary of a ``jobs.montecarlo`` result: percentiles in aligned, readable columns."""
    b = r["backtest"]
    params = " ".join(f"{k}={v}" for k, v in b["params"].items())
    lo, hi = (1 - r["confidence"]) / 2 * 100, (1 + r["confidence"]) / 2 * 100
    lines = [f"{b['strategy']} {params} on {b['symbol']} {b['timeframe']} ({b['bars']} bars): backtest "
             f"{_metrics_text(b)}",
             montecarlo_method(r),
             f"{r['n_paths']} paths in {r['tasks']} Ray tasks, seed {r['seed']}, {r['seconds']:.1f} s",
             f"{'':13s} {'p5':>9s} {'p25':>9s} {'median':>9s} {'p75':>9s} {'p95':>9s}  "
             f"{r['confidence']:.0%} interval ({lo:g}th..{hi:g}th percentile)"]
    for name, label, fmt in (("total_return", "total return", fmt_return), ("sharpe", "sharpe", fmt_number),
                             ("max_drawdown", "max drawdown", lambda v: f"{v:.1%}")):
        d = r[name]
        cells = " ".join(f"{fmt(d[k]):>9s}" for k in ("p5", "p25", "p50", "p75", "p95"))
        lines.append(f"{label:13s} {cells}  {fmt(d['ci'][0])} .. {fmt(d['ci'][1])}")
    if any(abs(r["total_return"][k]) >= 10 for k in ("p5", "p95")):
        lines.append("returns of +1000% or more are shown as equity multiples: x12.3 = 12.3 times the starting cash")
    lines.append(f"probability of ruin (equity at or below {r['ruin_level']:.0%} of the start at any point): "
                 f"{r['prob_ruin']:.2%}")
    if r.get("summary_path"):
        lines.append(f"summary: {r['summary_path']}")
    return "\n".join(lines)


def _montecarlo(args: argparse.Namespace, config: Config) -> Output:
    from cluster.progress import progress_bar, progress_enabled  # noqa: PLC0415 - rich only when it runs
    from jobs.montecarlo import plan_montecarlo, request_from_args, run_montecarlo  # noqa: PLC0415 - late: keeps the CLI and --help fast

    plan = plan_montecarlo(request_from_args(apply_research_defaults(args, config)))  # bad input exits 2 before Ray
    with ray_driver(config, args.verbose), \
            progress_bar("monte carlo", plan.request.paths, enabled=progress_enabled(args.json), unit="paths") as update:
        report = run_montecarlo(plan, progress=update)
    result = save_run_folder("montecarlo", report.to_json(), config.cluster.home)
    return Output(data=result, text=format_montecarlo(result))


def register(sub: argparse._SubParsersAction) -> None:
    from jobs.montecarlo import add_montecarlo_arguments  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.sweep import add_sweep_arguments  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.walkforward import add_walkforward_arguments  # noqa: PLC0415 - late: keeps the CLI and --help fast

    p = add_command(sub, "sweep", _sweep, "sweep a strategy's parameter grid on one series through Ray Tune")
    add_sweep_arguments(p)
    p = add_command(sub, "walkforward", _walkforward,
                    "walk-forward optimisation: choose parameters in-sample, test out-of-sample, folds as Ray tasks")
    add_walkforward_arguments(p)
    p = add_command(sub, "montecarlo", _montecarlo,
                    "Monte Carlo of a backtest: trade reshuffling or block bootstrap, paths split across Ray tasks")
    add_montecarlo_arguments(p)
    for name in ("sweep", "walkforward", "montecarlo"):
        parser = sub.choices[name]
        add_report_flag(parser, name)
        parser.add_argument("-v", "--verbose", action="store_true",
                            help="show Ray's INFO and WARNING log lines (hidden by default)")
        # not given -> the config's [research] value (apply_research_defaults), whose defaults are the old ones
        parser.set_defaults(**{f: None for f in _RESEARCH_FLAGS if any(a.dest == f for a in parser._actions)})
