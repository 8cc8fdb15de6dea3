"""Reports of risk runs: the rolling VaR backtest (returns, forecasts and exceptions) and one VaR estimate.

The VaR backtest report takes :class:`VarBacktestSeries`: the portfolio's
returns and each method's one-bar VaR forecast for the same bars (losses as
positive fractions), plus the run's JSON (exception counts and the Kupiec /
Christoffersen tests). An exception is a bar whose return is below
``-VaR``, the same rule as :func:`risk.var_backtest.exceptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtest.report_equity import ReportInputError
from backtest.report_page import Section, decimate, format_value

__all__ = ["VarBacktestSeries", "var_backtest_sections", "var_sections", "exception_mask"]


@dataclass(frozen=True)
class VarBacktestSeries:
    """One rolling VaR backtest for its report.

    Attributes:
        timestamp: the bars' times, int64 ms UTC, shape (n,).
        returns: the portfolio's simple return on each bar (fractions), shape (n,).
        forecasts: per method, the one-bar VaR forecast for each bar (positive fraction of value; NaN
            during the first ``window`` bars, which have no forecast), shape (n,) each.
        window: bars of history behind each forecast.
        confidence: the VaR level (0.99).
        results: the run's JSON rows (``raytrader risk backtest --json``'s ``results``).
    """

    timestamp: np.ndarray
    returns: np.ndarray
    forecasts: dict[str, np.ndarray]
    window: int
    confidence: float
    results: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = np.asarray(self.returns).shape[0]
        if np.asarray(self.timestamp).shape != (n,):
            raise ReportInputError(f"timestamp: expected {n} values (one per return), got "
                                   f"{np.asarray(self.timestamp).shape}")
        for name, f in self.forecasts.items():
            if np.asarray(f).shape != (n,):
                raise ReportInputError(f"forecasts[{name}]: expected {n} values, got {np.asarray(f).shape}")


def exception_mask(returns: np.ndarray, var: np.ndarray) -> np.ndarray:
    """True where a bar's return fell below ``-VaR`` (bars without a forecast are never exceptions)."""
    r, v = np.asarray(returns, dtype=np.float64), np.asarray(var, dtype=np.float64)
    return np.isfinite(v) & (r < -v)


def var_backtest_sections(s: VarBacktestSeries) -> list[Section]:
    """The returns with each method's -VaR line and its exceptions marked, then the tests per method."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn

    ts = pd.to_datetime(np.asarray(s.timestamp, dtype=np.int64), unit="ms", utc=True).to_numpy()
    r = np.asarray(s.returns, dtype=np.float64)
    fig = go.Figure()
    x, y = decimate(ts, r, 6000)
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="portfolio return", marker={"size": 3, "color": "#999"}))
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
    counts = []
    for i, (method, var) in enumerate(s.forecasts.items()):
        v = np.asarray(var, dtype=np.float64)
        color = palette[i % len(palette)]
        x, y = decimate(ts, -v, 6000)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"-VaR {method}", line={"color": color, "width": 1}))
        hit = exception_mask(r, v)
        counts.append(f"{method} {int(hit.sum())}")
        fig.add_trace(go.Scatter(x=ts[hit], y=r[hit], mode="markers", name=f"exceptions {method}",
                                 marker={"symbol": "x", "size": 8, "color": color}))
    fig.update_layout(yaxis_title="one-bar return", yaxis_tickformat=".1%")
    sections = [Section("VaR backtest exceptions",
                        f"{s.confidence:.1%} one-bar VaR from a rolling {s.window}-bar window; an exception is a "
                        f"return below -VaR; exceptions: {', '.join(counts)}", fig)]
    if s.results:
        head = ["method", "n", "exceptions", "expected", "Kupiec p", "independence p", "conditional p", "zone"]
        body = [[r["method"], str(r["n"]), str(r["exceptions"]), f"{r['expected']:.1f}",
                 format_value(r["kupiec"]["p_value"]), format_value(r["independence"]["p_value"]),
                 format_value(r["conditional_coverage"]["p_value"]), r["traffic_light"]] for r in s.results]
        sections.append(Section("Coverage tests", "p < 0.05 rejects the model at 95 %; zones: the Basel traffic "
                                                  "light scaled to n", table=[head, *body], header=True))
    return sections


def var_sections(report: dict[str, Any], returns: np.ndarray | None = None) -> list[Section]:
    """VaR and ES by method (bars) over the histogram of the portfolio's returns (when given)."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn

    est = report.get("estimates") or []
    if not est:
        raise ReportInputError("VaR report: no estimates")
    methods = [e["method"] for e in est]
    bars = go.Figure([go.Bar(name="VaR", x=methods, y=[e["var"] for e in est], marker={"color": "#1f77b4"}),
                      go.Bar(name="ES", x=methods, y=[e["es"] for e in est], marker={"color": "#d62728"})])
    bars.update_layout(barmode="group", yaxis_title="loss, fraction of value", yaxis_tickformat=".2%")
    e0 = est[0]
    sections = [Section("VaR and expected shortfall by method",
                        f"{e0['confidence']:.1%} confidence, horizon {e0['horizon']} bar(s), value "
                        f"{report.get('value', 0):,.0f}; losses as positive fractions", bars)]
    if returns is not None and np.asarray(returns).size:
        hist = go.Figure(go.Histogram(x=np.asarray(returns) * 100, nbinsx=80, marker={"color": "#4c78a8"},
                                      name="returns"))
        palette = ("#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
        for i, e in enumerate(est):
            hist.add_vline(x=-e["var"] * 100, line={"dash": "dash", "width": 1.5, "color": palette[i % len(palette)]},
                           annotation_text=e["method"], annotation_textangle=-90)
        hist.update_layout(xaxis_title="portfolio return, %", yaxis_title="bars", bargap=0.02)
        sections.append(Section("Returns and -VaR", "each dashed line is one method's -VaR", hist))
    head = ["method", "VaR", "ES", "VaR value", "ES value"]
    body = [[e["method"], format_value(e["var"]), format_value(e["es"]), f"{e['var_value']:,.0f}",
             f"{e['es_value']:,.0f}"] for e in est]
    sections.append(Section("Estimates", table=[head, *body], header=True))
    return sections
