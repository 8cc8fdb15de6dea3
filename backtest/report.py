"""Self-contained HTML reports of runs: one file per run, plotly.js inlined, opens offline.

One builder per kind of run, each a pure function from the run's numbers to
the HTML text (:func:`write_report` puts it in a file):

======================  ==========================================================================
``backtest_report``     equity and drawdown, monthly returns heatmap, trade distribution, rolling
                        Sharpe, exposure, the metrics table (:mod:`backtest.report_equity`)
``sweep_report``        the metric over two parameters (heatmap) and the out-of-sample check
``walkforward_report``  in- vs out-of-sample Sharpe and return by fold
``montecarlo_report``   percentiles of return, Sharpe and drawdown over the resampled paths
``var_backtest_report`` returns, each method's -VaR and its exceptions; Kupiec/Christoffersen
``var_report``          VaR and ES by method over the returns' histogram
``frontier_report``     the efficient frontier with the selections marked (portfolio selection)
``paper_report``        a paper session: with the copy of its journal a run record keeps
                        (:mod:`jobs.paper_record`), equity and drawdown, monthly returns, trade
                        distribution, rolling Sharpe, exposure and metrics as for a backtest, and its
                        execution quality; always its PnL by venue, orders, positions and checks
``execution_report_html`` execution quality per venue, order type, algorithm, strategy and parent
                        order, shortfall by venue and fills over time (:mod:`backtest.report_execution`)
======================  ==========================================================================

No Ray, no clock, no network; the only file written is the one given to
:func:`write_report`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from backtest.errors import BacktestInputError
from backtest.report_equity import EquityInput, ReportInputError, equity_sections
from backtest.report_execution import execution_charts, execution_sections
from backtest.report_page import CHART_CLASS, Section, render_page
from backtest.report_portfolio import frontier_sections, paper_sections
from backtest.report_research import montecarlo_sections, sweep_sections, walkforward_sections
from backtest.report_risk import VarBacktestSeries, var_backtest_sections, var_sections

__all__ = ["EquityInput", "VarBacktestSeries", "ReportInputError", "ReportPathError", "REPORT_KINDS", "CHART_CLASS",
           "backtest_report", "sweep_report", "walkforward_report", "montecarlo_report", "var_backtest_report",
           "var_report", "frontier_report", "paper_report", "paper_charts", "execution_report_html", "write_report",
           "check_report_path"]

#: the kinds of report, as ``raytrader report`` names them
REPORT_KINDS = ("backtest", "sweep", "walkforward", "montecarlo", "risk-backtest", "risk-var", "optimize", "paper",
                "execution")


class ReportPathError(BacktestInputError):
    """``--report FILE``: the file cannot be written (names the path and why)."""


def _params(params: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in (params or {}).items())


def backtest_report(inp: EquityInput) -> str:
    m = inp.metrics
    subtitle = (f"{m.get('strategy', '')} {_params(m.get('params'))} on {m.get('symbol', '')} "
                f"{m.get('timeframe', '')}, {len(inp.equity)} bars; total return "
                f"{m.get('total_return', float('nan')):+.2%}, sharpe {m.get('sharpe', float('nan')):.2f}")
    return render_page(f"Backtest: {inp.title}", subtitle, equity_sections(inp))


def sweep_report(result: dict[str, Any], table: pd.DataFrame | None) -> str:
    subtitle = (f"{result.get('strategy')} {result.get('search', '')} sweep on {result.get('symbol')} "
                f"{result.get('timeframe')}: {result.get('n_configs')} configs, ranked by {result.get('metric')}")
    return render_page(f"Sweep: {result.get('strategy')} on {result.get('symbol')}", subtitle,
                       sweep_sections(result, table))


def walkforward_report(result: dict[str, Any]) -> str:
    subtitle = (f"{result.get('strategy')} walk-forward ({result.get('mode')}, {result.get('n_folds')} folds) on "
                f"{result.get('symbol')} {result.get('timeframe')}, best by {result.get('metric')}")
    return render_page(f"Walk-forward: {result.get('strategy')} on {result.get('symbol')}", subtitle,
                       walkforward_sections(result))


def montecarlo_report(result: dict[str, Any]) -> str:
    b = result.get("backtest") or {}
    subtitle = f"{b.get('strategy')} {_params(b.get('params'))} on {b.get('symbol')} {b.get('timeframe')}"
    return render_page(f"Monte Carlo: {b.get('strategy')} on {b.get('symbol')}", subtitle,
                       montecarlo_sections(result))


def var_backtest_report(series: VarBacktestSeries, subtitle: str = "") -> str:
    return render_page("Risk: rolling VaR backtest", subtitle or f"{len(series.returns)} returns",
                       var_backtest_sections(series))


def var_report(report: dict[str, Any], returns: np.ndarray | None = None) -> str:
    assets = ", ".join(f"{a} {w:.0%}" for a, w in zip(report.get("assets", []), report.get("weights", [])))
    subtitle = (f"portfolio {assets} on {report.get('source', '')} ({report.get('start')}..{report.get('end')}, "
                f"{report.get('n_returns')} returns)")
    return render_page("Risk: VaR and expected shortfall", subtitle, var_sections(report, returns))


def frontier_report(result: dict[str, Any], frontier: Sequence[dict[str, Any]],
                    marks: Sequence[tuple[str, float, float]] = ()) -> str:
    subtitle = (f"select {result.get('budget')} of {', '.join(result.get('assets', []))} with "
                f"{result.get('solver')}: {', '.join(result.get('selected') or []) or '(none)'}")
    return render_page("Portfolio selection", subtitle, frontier_sections(result, frontier, marks))


def _paper_equity(equity: dict[str, Any], result: dict[str, Any]) -> EquityInput:
    return EquityInput(timestamp=np.asarray(equity["timestamp"], dtype=np.int64),
                       equity=np.asarray(equity["equity"], dtype=np.float64), initial_cash=float(equity["initial_cash"]),
                       exposure=np.asarray(equity["exposure"], dtype=np.float64),
                       trade_returns=np.asarray(equity["trade_returns"], dtype=np.float64),
                       periods_per_year=float(equity["periods_per_year"]), metrics=equity.get("metrics") or {},
                       title=f"paper {result.get('strategy')} on {result.get('symbol')}")


def paper_charts(result: dict[str, Any], journal: dict[str, Any] | None = None) -> int:
    """How many charts :func:`paper_report` draws for these inputs."""
    n = bool(result.get("pnl_by_venue")) + bool(result.get("orders_by_state"))
    if journal:
        n += 5 * bool(journal.get("equity")) + execution_charts(journal.get("execution") or {})
    return n


def paper_report(result: dict[str, Any], journal: dict[str, Any] | None = None) -> str:
    """A paper session's page from its summary (``result``) and, when given, the copy of its journal a run record
    keeps (:func:`jobs.paper_record.journal_copy`): equity sections as a backtest's, then the session's own, then
    its execution quality."""
    subtitle = (f"paper {result.get('strategy')} {_params(result.get('params'))} on {result.get('symbol')} "
                f"({result.get('sample')}), venues {', '.join(result.get('venues', []))}, state "
                f"{result.get('trading_state')}")
    sections: list[Section] = []
    if journal and journal.get("equity"):
        eq = journal["equity"]
        step = eq.get("every_nth_bar", 1)
        sections += [Section("Account", f"marked to market at each bar close of the replayed sample"
                                        f"{f' (every {step}th bar)' if step > 1 else ''}, from the session's journal "
                                        f"{journal.get('stream')} ({journal.get('fills')} fills): starting capital + "
                                        "realised and unrealised PnL - fees")]
        sections += equity_sections(_paper_equity(eq, result))
    elif journal is None:
        sections.append(Section("Account", "drawn from the session's summary only: no copy of its journal was given, "
                                           "so no equity curve and no execution quality"))
    sections += paper_sections(result)
    if journal and journal.get("execution"):
        sections += execution_sections(journal["execution"])
    return render_page("Paper session", subtitle, sections)


def execution_report_html(data: dict[str, Any]) -> str:
    """The page of ``raytrader execution report --json``'s object (:mod:`backtest.report_execution`)."""
    chain = "chain verified" if data.get("chain_ok") else "chain NOT verified"
    subtitle = f"journal {data.get('stream')}: {data.get('orders', 0)} orders sent ({chain})"
    return render_page("Execution quality", subtitle, execution_sections(data))


def check_report_path(path: str | os.PathLike[str]) -> Path:
    """The absolute path of a report to write, checked before any work runs.

    Raises:
        ReportPathError: it is a folder, or its folder does not exist or is not writable.
    """
    p = Path(path).expanduser().absolute()
    if not str(path).strip():
        raise ReportPathError("--report: give a file name (e.g. report.html)")
    if p.is_dir():
        raise ReportPathError(f"--report {path}: is a folder; name a file (e.g. {p / 'report.html'})")
    if not p.parent.is_dir():
        raise ReportPathError(f"--report {path}: folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ReportPathError(f"--report {path}: cannot write there (permission denied)")
    return p


def write_report(html_text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``html_text`` to ``path`` atomically (write, then rename); returns the absolute path."""
    p = check_report_path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(html_text, encoding="utf-8")
    os.replace(tmp, p)
    return p
