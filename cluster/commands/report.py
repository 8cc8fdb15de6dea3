"""``raytrader report RUN [--open]``, and ``--report FILE`` on every command that computes.

``raytrader report RUN`` writes the HTML report of a recorded run (see
``raytrader runs``) to ``<cluster.home>/reports/<id>.html`` (or ``--out
FILE``) and prints its path; ``--open`` also opens it in the default
browser. A recorded backtest is run again from its recorded command (same
data, same flags: the result is deterministic; a different final equity
means the data changed and is refused); a sweep's report reads its
``results.parquet``; a paper session's record keeps a copy of what its
report needs from the session's journal (:func:`paper_journal`, taken when
the run is recorded: equity per bar, execution quality), so it draws after
the journal stream is gone; a record without that copy reads the stream
again, and names it when it is gone. The others need only the recorded
result.

``add_report_flag(parser, kind)`` gives a command ``--report FILE``: the
path is checked before the command runs (exit 2), the report is written
after it succeeds, ``report_path`` joins the JSON and ``report: PATH`` the
text. The numbers the report draws beyond the command's JSON (an equity
curve, VaR forecasts, the frontier) are computed here with the same
functions the command used.

The HTML itself is built by :mod:`backtest.report` (pure, no Ray).
"""

from __future__ import annotations

import argparse
import functools
import shlex
from dataclasses import replace
import webbrowser
from pathlib import Path
from typing import Any, Callable

from raytrader.cli import Output, add_command
from raytrader.config import Config
from raytrader.errors import InputError

__all__ = ["register", "add_report_flag", "build_report", "report_for_record", "reports_dir", "paper_journal",
           "RECORD_KINDS", "ReportDataError"]

#: the recorded kinds of run ``raytrader report`` can draw (risk: ``--report FILE`` on the command)
RECORD_KINDS = ("backtest", "sweep", "walkforward", "montecarlo", "optimize", "paper")


class ReportDataError(InputError):
    """The run's data cannot be drawn again (names what changed or is missing)."""


def reports_dir(home: Path) -> Path:
    """``<cluster.home>/reports``: where ``raytrader report`` writes and the Serve API reads reports."""
    return Path(home).expanduser() / "reports"


# ---------------------------------------------------------------- the numbers each kind draws
def _backtest_html(args: argparse.Namespace, result: dict[str, Any]) -> str:
    """Run the backtest of ``args`` again (in this process, :mod:`jobs.backtest`) for its per-bar arrays."""
    import numpy as np  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from backtest.report import backtest_report  # noqa: PLC0415 - plotly loads when a report is drawn
    from jobs.backtest import plan_backtest, request_from_args, run_backtest  # noqa: PLC0415 - late: keeps the CLI fast

    again = run_backtest(plan_backtest(request_from_args(args)))
    res = again.result
    final = result.get("final_equity")
    if isinstance(final, (int, float)) and not np.isclose(float(res.equity[-1]), final, rtol=1e-9, atol=1e-6):
        raise ReportDataError(f"report: running the backtest again ends at equity {float(res.equity[-1]):.6f}, the "
                              f"recorded run at {final:.6f}: its data changed since")
    return backtest_report(again.equity_input(result))


def _sweep_html(result: dict[str, Any]) -> str:
    import pandas as pd  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from backtest.report import sweep_report  # noqa: PLC0415 - plotly loads when a report is drawn

    path = result.get("results_path")
    table = None
    if path:
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ReportDataError(f"report: cannot read the sweep's results {path}: {exc}") from exc
    return sweep_report(result, table)


def _risk_backtest_html(args: argparse.Namespace, result: dict[str, Any]) -> str:
    import pandas as pd  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from backtest.report import VarBacktestSeries, var_backtest_report  # noqa: PLC0415 - plotly loads when drawn
    from jobs.risk_report import load_returns, one_bar_estimator, request_from_args  # noqa: PLC0415 - late
    from risk.var_backtest import rolling_forecasts  # noqa: PLC0415 - late: keeps the CLI and --help fast

    req = request_from_args(args, vol=args.vol)
    p = load_returns(req)
    rp = p.returns @ p.weights
    forecasts = {m: rolling_forecasts(rp, one_bar_estimator(m, req), req.window) for m in req.methods if m != "mc"}
    ts = pd.to_datetime(list(p.timestamps[1:]), utc=True).as_unit("ms").asi8  # returns[i] is into timestamps[i + 1]
    series = VarBacktestSeries(timestamp=ts, returns=rp, forecasts=forecasts, window=req.window,
                               confidence=req.confidence, results=result.get("results", []))
    weights = ", ".join(f"{a} {w:.0%}" for a, w in zip(p.assets, p.weights))
    return var_backtest_report(series, f"portfolio {weights} on {p.source} ({p.timestamps[0][:10]}.."
                                       f"{p.timestamps[-1][:10]}, {rp.size} returns)")


def _risk_var_html(args: argparse.Namespace, result: dict[str, Any]) -> str:
    from backtest.report import var_report  # noqa: PLC0415 - plotly loads when a report is drawn
    from jobs.risk_report import load_returns, request_from_args  # noqa: PLC0415 - late: keeps the CLI fast

    p = load_returns(request_from_args(args, vol=args.vol, copula=args.copula))
    return var_report(result, p.returns @ p.weights)


def _optimize_html(args: argparse.Namespace, result: dict[str, Any]) -> str:
    from backtest.report import frontier_report  # noqa: PLC0415 - plotly loads when a report is drawn
    from jobs.optimize_portfolio import frontier_points, portfolio_point, request_from_args  # noqa: PLC0415 - late

    request = request_from_args(args)
    marks = []
    same = sorted(result.get("selected") or []) == sorted(result.get("exact_selected") or [])
    for label, key in ((result.get("solver", "solver") + (" = exact optimum" if same else ""), "selected"),
                       (f"exact optimum ({result.get('exact_method')})", "exact_selected")):
        chosen = result.get(key) or []
        if chosen and not (same and key == "exact_selected"):
            vol, ret = portfolio_point(request, {a: 1.0 / len(chosen) for a in chosen})
            marks.append((label, vol, ret))
    return frontier_report(result, frontier_points(request, 20), marks)


def paper_journal(config: Config, data: dict[str, Any], what: str = "report") -> dict[str, Any]:
    """The copy of a paper session's journal its report draws from (:func:`jobs.paper_record.journal_copy`), read
    from the cluster's Redis; ``data`` is ``raytrader paper``'s JSON (the job's summary under ``result``).

    Raises:
        ReportDataError: the summary names no journal stream, or the stream is empty or gone.
        ClusterError: the cluster's Redis does not answer.
    """
    from actors.journal import Journal  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from cluster.commands.tokens import redis_client  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.paper_record import journal_copy  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from market.samples import load_sample  # noqa: PLC0415 - late: keeps the CLI and --help fast

    summary = data.get("result") or data
    stream = summary.get("journal_stream")
    if not stream:
        raise ReportDataError(f"{what}: the paper session's summary names no journal_stream")
    journal = Journal(redis_client(config), str(stream))
    entries = list(journal.entries())
    if not entries:
        raise ReportDataError(f"{what}: the paper session's journal stream {stream} is empty or gone from the "
                              "cluster's Redis (restarted since?), and its record keeps no copy of it")
    bars = load_sample(str(summary.get("sample")))
    return journal_copy(entries, summary, bars.timestamp, bars.close, bars.timeframe_ms,
                        chain_ok=journal.verify().ok)


def build_report(kind: str, args: argparse.Namespace, data: dict[str, Any], config: Config | None = None) -> str:
    """The HTML report of a finished command of ``kind`` from its parsed ``args`` and its JSON ``data``
    (``config``: where a paper session's journal is read when ``data`` keeps no copy of it)."""
    from backtest import report  # noqa: PLC0415 - plotly loads when a report is drawn

    if kind == "backtest":
        return _backtest_html(args, data)
    if kind == "sweep":
        return _sweep_html(data)
    if kind == "walkforward":
        return report.walkforward_report(data)
    if kind == "montecarlo":
        return report.montecarlo_report(data)
    if kind == "risk-backtest":
        return _risk_backtest_html(args, data)
    if kind == "risk-var":
        return _risk_var_html(args, data)
    if kind == "optimize":
        return _optimize_html(args, data)
    if kind == "paper":
        journal = data.get("journal")
        if journal is None and config is not None:
            journal = paper_journal(config, data)
        return report.paper_report(data.get("result") or data, journal)
    if kind == "execution":
        return report.execution_report_html(data)
    raise ReportDataError(f"report: no report for runs of kind {kind!r}")


# ---------------------------------------------------------------- --report FILE on a command
def add_report_flag(parser: argparse.ArgumentParser, kind: str) -> None:
    """Give ``parser``'s command ``--report FILE``; call after its handler is set (``add_command``)."""
    parser.add_argument("--report", default=None, metavar="FILE.html",
                        help="also write a self-contained HTML report of this run (plotly, opens offline)")
    handler = parser.get_default("handler")
    parser.set_defaults(handler=_with_report(handler, kind))


def _with_report(handler: Callable[[argparse.Namespace, Config], Output], kind: str) -> Callable[..., Output]:
    @functools.wraps(handler)  # keeps __module__/__name__: ``raytrader runs`` records by them
    def run(args: argparse.Namespace, config: Config) -> Output:
        target = getattr(args, "report", None)
        if target is None:
            return handler(args, config)
        from backtest.report import check_report_path, write_report  # noqa: PLC0415 - only with --report

        check_report_path(target)  # exit 2 before any work
        output = handler(args, config)
        if output.exit_code == 0:
            path = write_report(build_report(kind, args, output.data, config), target)
            text = (output.text.rstrip("\n") + "\n" if output.text else "") + f"report: {path}"
            return replace(output, data={**output.data, "report_path": str(path)}, text=text)
        return output

    return run


# ---------------------------------------------------------------- raytrader report RUN
def report_for_record(record: Any, config: Config) -> str:
    """The HTML report of a recorded run (a :class:`raytrader.runs.RunRecord`)."""
    if record.kind not in RECORD_KINDS:
        raise ReportDataError(f"report {record.id}: no report for runs of kind {record.kind!r}")
    if record.status != "ok" or record.result is None:
        why = record.error or ("its result was too large to record" if record.status == "ok" else record.status)
        raise ReportDataError(f"report {record.id}: the run has no result to draw ({why})")
    args = None
    if record.kind in ("backtest", "optimize"):
        args = _recorded_args(record, config)
    try:
        return build_report(record.kind, args or argparse.Namespace(), record.result, config)
    except ReportDataError as exc:
        raise ReportDataError(str(exc).replace("report:", f"report {record.id}:", 1)) from None


def _recorded_args(record: Any, config: Config) -> argparse.Namespace:
    """The parsed flags of the recorded command (``raytrader backtest ...``), the config's defaults applied."""
    from cluster.cli import build_parser  # noqa: PLC0415 - the command registry, only when a run is redrawn

    words = shlex.split(record.command)
    if words[:1] == ["raytrader"]:
        words = words[1:]
    try:
        args = build_parser().parse_args(words)
    except SystemExit as exc:
        raise ReportDataError(f"report {record.id}: its recorded command no longer parses: {record.command}") from exc
    if record.kind == "backtest":
        from cluster.commands.sweep import apply_research_defaults  # noqa: PLC0415 - late: keeps the CLI fast

        args = apply_research_defaults(args, config)
    return args


def _report(args: argparse.Namespace, config: Config) -> Output:
    from backtest.report import write_report  # noqa: PLC0415 - plotly loads when a report is drawn
    from raytrader.runs import RunNotFoundError, load_record  # noqa: PLC0415 - late: keeps the CLI and --help fast

    try:
        record = load_record(config.cluster.home, args.run)
    except RunNotFoundError as exc:
        raise RunNotFoundError(str(exc).replace("runs show ", "report ", 1)) from None
    target = Path(args.out) if args.out else reports_dir(config.cluster.home) / f"{record.id}.html"
    if not args.out:
        target.parent.mkdir(parents=True, exist_ok=True)
    path = write_report(report_for_record(record, config), target)
    if args.open:
        webbrowser.open(path.as_uri())
    return Output(data={"run": record.id, "kind": record.kind, "report_path": str(path),
                        "bytes": path.stat().st_size}, text=str(path))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "report", _report, "write the HTML report of a recorded run (see `raytrader runs`); "
                                             "prints its path")
    p.add_argument("run", metavar="RUN", help="a run id or a unique prefix of one (`raytrader runs` lists them)")
    p.add_argument("--out", default=None, metavar="FILE.html",
                   help="where to write it (default <cluster.home>/reports/<id>.html)")
    p.add_argument("--open", action="store_true", help="open it in the default web browser")
