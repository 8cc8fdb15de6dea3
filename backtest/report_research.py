"""Reports of the research runs that fan out: a sweep, a walk-forward and a Monte Carlo.

Each takes the run's JSON result (as ``raytrader <command> --json`` prints
it); the sweep also takes its full results table (one row per
configuration, the run's ``results.parquet``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from backtest.report_equity import ReportInputError
from backtest.report_page import Section, format_value, table_rows

__all__ = ["sweep_grid", "sweep_sections", "walkforward_sections", "montecarlo_sections"]

_SCALAR_METRICS = ("total_return", "sharpe", "max_drawdown", "n_trades")


def sweep_grid(table: pd.DataFrame, x: str, y: str, metric: str) -> pd.DataFrame:
    """The metric over two parameters: rows ``y`` values, columns ``x`` values (both sorted); where other
    parameters vary too, each cell holds the best value over them (highest, or lowest for a metric ranked
    lowest-first such as ``max_drawdown``)."""
    from backtest.metrics import ranking_mode  # noqa: PLC0415 - the one place that says which way a metric ranks

    for name in (x, y, metric):
        if name not in table.columns:
            raise ReportInputError(f"sweep results: no column {name!r} (have {', '.join(map(str, table.columns))})")
    agg = "min" if ranking_mode(metric) == "min" else "max"
    return table.pivot_table(index=y, columns=x, values=metric, aggfunc=agg).sort_index().sort_index(axis=1)


def sweep_sections(result: dict[str, Any], table: pd.DataFrame | None) -> list[Section]:
    """Heatmap of the metric over the first two parameters, the out-of-sample check of the top configs,
    and the run's numbers."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn

    metric = result.get("metric", "sharpe")
    names = list(result.get("param_names") or [])
    sections: list[Section] = []
    if table is not None and len(names) >= 2:
        grid = sweep_grid(table, names[0], names[1], metric)
        heat = go.Figure(go.Heatmap(z=grid.to_numpy(dtype=np.float64), x=[str(v) for v in grid.columns],
                                    y=[str(v) for v in grid.index], colorscale="Viridis",
                                    colorbar={"title": metric}))
        heat.update_layout(xaxis_title=names[0], yaxis_title=names[1], xaxis={"type": "category"},
                           yaxis={"type": "category"})
        best = result.get("best") or {}
        if names[0] in best and names[1] in best:
            heat.add_trace(go.Scatter(x=[str(best[names[0]])], y=[str(best[names[1]])], mode="markers",
                                      marker={"symbol": "x", "size": 14, "color": "red"}, name="best in-sample"))
        extra = f"; the best over {', '.join(names[2:])} in each cell" if len(names) > 2 else ""
        sections.append(Section(f"In-sample {metric} over {names[0]} and {names[1]}",
                                f"{len(table)} configurations, blank: not run (e.g. fast >= slow){extra}; "
                                "x: the best in-sample", heat))
    elif table is not None and len(names) == 1:
        col = table.sort_values(names[0])
        line = go.Figure(go.Scatter(x=col[names[0]], y=col[metric], mode="lines+markers"))
        line.update_layout(xaxis_title=names[0], yaxis_title=metric)
        sections.append(Section(f"In-sample {metric} over {names[0]}", f"{len(table)} configurations", line))

    rows = [r for r in [result.get("best"), *(result.get("top") or [])] if r]
    seen, top = set(), []
    for r in rows:
        key = tuple(r.get(n) for n in names)
        if key not in seen:
            seen.add(key)
            top.append(r)
    with_oos = [r for r in top if r.get("out_of_sample")]
    if with_oos:
        labels = [" ".join(f"{n}={r[n]}" for n in names) for r in with_oos]
        value = metric if all(metric in r and metric in r["out_of_sample"] for r in with_oos) else "sharpe"
        oos = go.Figure([go.Bar(name="in-sample", x=labels, y=[r[value] for r in with_oos], marker={"color": "#1f77b4"}),
                         go.Bar(name="out-of-sample", x=labels, y=[r["out_of_sample"][value] for r in with_oos],
                                marker={"color": "#ff7f0e"})])
        oos.update_layout(barmode="group", yaxis_title=value, xaxis_title="configuration (best first)")
        ins, out = result.get("in_sample") or {}, result.get("out_of_sample") or {}
        sections.append(Section(f"Out-of-sample check ({value})",
                                f"the top configurations chosen on {ins.get('bars', '?')} in-sample bars, then run "
                                f"from flat on {out.get('bars', '?')} held-out bars ({out.get('start', '?')} .. "
                                f"{out.get('end', '?')})", oos))
        head = ["configuration", *(f"IS {m}" for m in _SCALAR_METRICS), *(f"OOS {m}" for m in _SCALAR_METRICS)]
        body = [[lab, *(format_value(r.get(m)) for m in _SCALAR_METRICS),
                 *(format_value(r["out_of_sample"].get(m)) for m in _SCALAR_METRICS)] for lab, r in zip(labels, with_oos)]
        sections.append(Section("Top configurations", "IS in-sample, OOS out-of-sample", table=[head, *body],
                                header=True))
    else:
        sections.append(Section("Out-of-sample check", "no held-out bars (--holdout 0): every number is in-sample"))
    keys = ["strategy", "symbol", "timeframe", "source", "bars", "fees_bps", "search", "metric", "n_configs",
            "n_trials", "seconds", "configs_per_second", "results_path"]
    sections.append(Section("Run", table=[["field", "value"], *table_rows(result, keys)], header=True))
    return sections


def walkforward_sections(result: dict[str, Any]) -> list[Section]:
    """In- vs out-of-sample Sharpe and return by fold, the chosen parameters per fold, and the totals."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn
    from plotly.subplots import make_subplots  # noqa: PLC0415 - plotly loads when a report is drawn

    folds: Sequence[dict[str, Any]] = result.get("folds") or []
    if not folds:
        raise ReportInputError("walk-forward result: no folds")
    x = [f"fold {f['fold']}" for f in folds]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Sharpe", "total return"))
    for label, key, color in (("in-sample", "in_sample", "#1f77b4"), ("out-of-sample", "out_of_sample", "#ff7f0e")):
        fig.add_trace(go.Bar(name=label, x=x, y=[f[key]["sharpe"] for f in folds], marker={"color": color},
                             legendgroup=label), row=1, col=1)
        fig.add_trace(go.Bar(name=label, x=x, y=[f[key]["total_return"] for f in folds], marker={"color": color},
                             legendgroup=label, showlegend=False), row=2, col=1)
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".1%", row=2, col=1)
    eff = result.get("efficiency")
    sections = [Section("In- vs out-of-sample by fold",
                        "each fold: the best parameters on its training window, then traded from flat on the test "
                        f"window after it; efficiency {format_value(eff)} (out-of-sample / in-sample return rate)",
                        fig)]
    head = ["fold", "params", "IS sharpe", "IS return", "OOS sharpe", "OOS return", "OOS trades"]
    body = [[str(f["fold"]), " ".join(f"{k}={v}" for k, v in f["params"].items()),
             format_value(f["in_sample"]["sharpe"]), format_value(f["in_sample"]["total_return"]),
             format_value(f["out_of_sample"]["sharpe"]), format_value(f["out_of_sample"]["total_return"]),
             format_value(f["out_of_sample"].get("n_trades"))] for f in folds]
    sections.append(Section("Folds", table=[head, *body], header=True))
    keys = ["strategy", "symbol", "timeframe", "bars", "mode", "n_folds", "n_configs", "metric", "fees_bps",
            "oos_total_return", "efficiency", "seconds", "summary_path"]
    sections.append(Section("Run", table=[["field", "value"], *table_rows(result, keys)], header=True))
    return sections


def montecarlo_sections(result: dict[str, Any]) -> list[Section]:
    """Percentiles of total return, Sharpe and max drawdown over the resampled paths, beside the backtest."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn
    from plotly.subplots import make_subplots  # noqa: PLC0415 - plotly loads when a report is drawn

    names = [n for n in ("total_return", "sharpe", "max_drawdown") if isinstance(result.get(n), dict)]
    if not names:
        raise ReportInputError("Monte Carlo result: no percentiles (total_return, sharpe, max_drawdown)")
    b = result.get("backtest") or {}
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    ps = ("p5", "p25", "p50", "p75", "p95")
    for i, n in enumerate(names, start=1):
        d = {p: result[n][p] for p in ps}
        mark = b.get(n) if isinstance(b.get(n), (int, float)) else None
        # returns spanning orders of magnitude (x325 .. x1.3M) read better as equity multiples on a log axis
        log = n == "total_return" and d["p5"] > -1 and (1 + d["p95"]) / (1 + d["p5"]) > 50
        if log:
            d = {p: 1 + v for p, v in d.items()}
            mark = None if mark is None else 1 + mark
            fig.update_yaxes(type="log", title_text="equity multiple (1 + return, log)", row=1, col=i)
        fig.add_trace(go.Box(name=n, q1=[d["p25"]], median=[d["p50"]], q3=[d["p75"]], lowerfence=[d["p5"]],
                             upperfence=[d["p95"]], x=[n], showlegend=False, marker={"color": "#1f77b4"}),
                      row=1, col=i)
        if mark is not None:
            fig.add_trace(go.Scatter(x=[n], y=[mark], mode="markers", name="backtest", showlegend=i == 1,
                                     marker={"symbol": "diamond", "size": 12, "color": "red"}), row=1, col=i)
    sections = [Section("Distribution over the resampled paths",
                        f"{result.get('n_paths')} paths ({result.get('method')}); boxes p25..p75, whiskers p5..p95; "
                        "red: the backtest itself", fig)]
    head = ["metric", *ps]
    body = [[n, *(format_value(result[n].get(p)) for p in ps)] for n in names]
    sections.append(Section("Percentiles", table=[head, *body], header=True))
    keys = ["method", "n_paths", "seed", "confidence", "prob_ruin", "ruin_level", "tasks", "seconds", "summary_path"]
    sections.append(Section("Run", table=[["field", "value"], *table_rows(result, keys),
                                          *table_rows({f"backtest {k}": v for k, v in b.items()
                                                       if not isinstance(v, (dict, list))})], header=True))
    return sections
