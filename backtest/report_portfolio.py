"""Reports of portfolio selection and of a paper session.

* Selection: the long-only efficient frontier (daily volatility against
  daily expected return, annualised with 252 trading days for reading) with
  the solver's and the exact selection marked, and the target weights.
* Paper session: what the session's result holds: PnL (realised and
  unrealised, per venue), positions, orders by state, the journal checks
  (its equity curve and execution quality: :func:`backtest.report.paper_report`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from backtest.report_equity import ReportInputError
from backtest.report_page import Section, format_value, table_rows

__all__ = ["frontier_sections", "paper_sections", "TRADING_DAYS"]

#: trading days per year used to annualise daily frontier numbers on the chart
TRADING_DAYS = 252


def _ann(vol: float, ret: float) -> tuple[float, float]:
    return vol * math.sqrt(TRADING_DAYS), ret * TRADING_DAYS


def frontier_sections(result: dict[str, Any], frontier: Sequence[dict[str, Any]],
                      marks: Sequence[tuple[str, float, float]] = ()) -> list[Section]:
    """``frontier``: points ``{volatility, expected_return, weights}`` (daily); ``marks``: labelled daily
    ``(label, volatility, expected_return)`` points (the selections)."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn

    if len(frontier) < 2:
        raise ReportInputError(f"frontier: needs at least 2 points, got {len(frontier)}")
    pts = [_ann(p["volatility"], p["expected_return"]) for p in frontier]
    hover = [", ".join(f"{a} {w:.0%}" for a, w in p.get("weights", {}).items()) for p in frontier]
    fig = go.Figure(go.Scatter(x=[v for v, _ in pts], y=[r for _, r in pts], mode="lines+markers",
                               name="long-only efficient frontier", text=hover,
                               hovertemplate="vol %{x:.1%}, return %{y:.1%}<br>%{text}<extra></extra>"))
    symbols = ("star", "diamond", "square", "triangle-up", "cross")
    for i, (label, vol, ret) in enumerate(marks):
        v, r = _ann(vol, ret)
        fig.add_trace(go.Scatter(x=[v], y=[r], mode="markers+text", name=label, text=[label],
                                 textposition="top center", marker={"size": 13, "symbol": symbols[i % len(symbols)]}))
    fig.update_layout(xaxis_title=f"volatility (annualised, {TRADING_DAYS} days)",
                      yaxis_title="expected return (annualised)", xaxis_tickformat=".0%", yaxis_tickformat=".0%")
    w = result.get("window") or {}
    sections = [Section("Efficient frontier",
                        f"{len(frontier)} long-only Markowitz points on {w.get('start', '?')}..{w.get('end', '?')} "
                        f"daily returns; marked: the selections (equal weights over the selected assets)", fig)]
    weights = result.get("target_weights") or {}
    if weights:
        sections.append(Section("Target weights", table=[["asset", "weight"],
                                                         *[[a, f"{v:.1%}"] for a, v in weights.items()]], header=True))
    keys = ["assets", "budget", "risk_aversion", "solver", "selected", "objective", "exact_method", "exact_selected",
            "exact_objective", "approx_ratio", "p_optimal", "feasibility_rate", "n_qubits", "seconds"]
    sections.append(Section("Selection", "objective q·xᵀΣx − μᵀx in daily-return units, lower is better",
                            table=[["field", "value"], *table_rows(result, keys)], header=True))
    return sections


def paper_sections(result: dict[str, Any]) -> list[Section]:
    """PnL per venue, orders by state, positions and the session's checks."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn

    by_venue = result.get("pnl_by_venue") or {}
    sections: list[Section] = []
    if by_venue:
        keys = list(by_venue)
        pnl = go.Figure([go.Bar(name="realized", x=keys, y=[by_venue[k]["realized"] or 0.0 for k in keys]),
                         go.Bar(name="unrealized", x=keys, y=[by_venue[k]["unrealized"] or 0.0 for k in keys])])
        pnl.update_layout(barmode="relative", yaxis_title="PnL (quote)")
        sections.append(Section("PnL by venue", "realized + unrealized at the session's end (fees apart), quote "
                                                "currency", pnl))
    else:
        sections.append(Section("PnL by venue", "no position was opened: no PnL"))
    states = result.get("orders_by_state") or {}
    if states:
        orders = go.Figure(go.Bar(x=list(states), y=list(states.values()), marker={"color": "#2ca02c"}))
        orders.update_layout(yaxis_title="orders")
        sections.append(Section("Orders by state", f"{result.get('fills', 0)} fills", orders))
    else:
        sections.append(Section("Orders by state", "no orders were sent"))
    pos = result.get("positions") or []
    sections.append(Section("Positions", table=[["venue", "symbol", "qty", "avg price", "mark"],
                                                *[[p["venue"], p["symbol"], format_value(p["qty"]),
                                                   format_value(p["avg_price"]), format_value(p["mark"])]
                                                  for p in pos]], header=True))
    rows = table_rows(result, ["strategy", "params", "symbol", "sample", "venues", "speed", "seconds",
                               "trading_state", "fills", "fees", "journal_stream"])
    for quote, p in (result.get("pnl") or {}).items():
        rows += [[f"pnl {quote} {k}", format_value(v)] for k, v in p.items()]
    checks = result.get("checks") or {}
    rows += [[f"check {k}", format_value(v)] for k, v in checks.items() if not isinstance(v, (list, dict))]
    d = result.get("decision_ms") or {}
    if d.get("n"):
        rows.append(["decision ms p50 / p99", f"{d['p50']:.2f} / {d['p99']:.2f} over {d['n']} orders"])
    sections.append(Section("Session", table=[["field", "value"], *rows], header=True))
    return sections
