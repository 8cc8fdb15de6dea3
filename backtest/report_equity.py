"""The report of one backtest: equity and drawdown, monthly returns, trade distribution, rolling Sharpe,
exposure and the metrics table.

Input is an :class:`EquityInput` (arrays from the engine, one value per bar);
the numbers drawn are computed here by pure functions
(:func:`drawdown`, :func:`monthly_returns`, :func:`rolling_sharpe`) that
tests check against hand-computed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtest.errors import BacktestInputError
from backtest.report_page import Section, decimate, table_rows

__all__ = ["EquityInput", "ReportInputError", "drawdown", "monthly_returns", "rolling_sharpe", "equity_sections",
           "METRIC_KEYS"]

#: the metrics shown in the table, in this order, when the result has them
METRIC_KEYS = ("strategy", "params", "symbol", "timeframe", "source", "bars", "fees_bps", "fill", "total_return",
               "cagr", "annual_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
               "max_drawdown_duration_bars", "final_equity", "n_trades", "win_rate", "profit_factor", "expectancy",
               "exposure", "turnover", "periods_per_year", "periods_per_year_source", "years", "ruined_at_time")


class ReportInputError(BacktestInputError):
    """The arrays given to a report do not fit together (the field is named)."""


@dataclass(frozen=True)
class EquityInput:
    """One backtest for its report.

    Attributes:
        timestamp: bar open times, int64 ms UTC, shape (n,), increasing.
        equity: equity after each bar, quote currency, shape (n,).
        initial_cash: equity before bar 0.
        exposure: signed market value of the position / equity after each bar (1.0 = fully long,
            -1.0 = fully short; a portfolio's gross exposure is >= 0), shape (n,).
        trade_returns: each closed trade's return as a fraction of its entry notional (after fees).
        periods_per_year: bars per year used to annualise the rolling Sharpe.
        metrics: the run's result (its scalar entries fill the metrics table).
        title: the page title.
    """

    timestamp: np.ndarray
    equity: np.ndarray
    initial_cash: float
    exposure: np.ndarray
    trade_returns: np.ndarray
    periods_per_year: float
    metrics: dict[str, Any] = field(default_factory=dict)
    title: str = "backtest"

    def __post_init__(self) -> None:
        n = np.asarray(self.equity).shape[0]
        for name in ("timestamp", "exposure"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise ReportInputError(f"{name}: expected {n} values (one per bar, like equity), got shape "
                                       f"{np.asarray(getattr(self, name)).shape}")
        if n < 2:
            raise ReportInputError(f"equity: a report needs at least 2 bars, got {n}")
        if not self.initial_cash > 0:
            raise ReportInputError(f"initial_cash: must be > 0, got {self.initial_cash}")
        if not self.periods_per_year > 0:
            raise ReportInputError(f"periods_per_year: must be > 0, got {self.periods_per_year}")


def drawdown(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Drawdown after each bar as a fraction <= 0: ``equity / running peak - 1`` (the peak includes the
    starting cash). 0 at a new high; -0.25 is 25 % below the best equity so far."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[initial_cash], eq]))[1:]
    return np.where(peak > 0, eq / peak - 1.0, 0.0)


def monthly_returns(timestamp: np.ndarray, equity: np.ndarray, initial_cash: float) -> pd.DataFrame:
    """Return of each calendar month (UTC) as a fraction: last equity of the month over the last equity of
    the month before (the starting cash for the first month), minus 1.

    Returns a frame indexed by year, columns 1..12, NaN where the run has no bars.
    """
    ts = pd.to_datetime(np.asarray(timestamp, dtype=np.int64), unit="ms", utc=True)
    s = pd.Series(np.asarray(equity, dtype=np.float64), index=ts)
    month_end = s.groupby([s.index.year, s.index.month]).last()
    before = np.concatenate([[initial_cash], month_end.to_numpy()[:-1]])
    rets = month_end.to_numpy() / before - 1.0
    frame = pd.DataFrame({"year": [k[0] for k in month_end.index], "month": [k[1] for k in month_end.index],
                          "ret": rets})
    table = frame.pivot(index="year", columns="month", values="ret")
    return table.reindex(columns=range(1, 13))


def rolling_sharpe(equity: np.ndarray, initial_cash: float, window: int, periods_per_year: float) -> np.ndarray:
    """Annualised Sharpe of the last ``window`` bar returns at each bar (mean / sample std * sqrt(bars per
    year), no risk-free rate); NaN for the first ``window - 1`` bars and where the returns do not vary."""
    if window < 2:
        raise ReportInputError(f"window: rolling Sharpe needs at least 2 bars, got {window}")
    eq = np.concatenate([[initial_cash], np.asarray(equity, dtype=np.float64)])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(eq[:-1] > 0, eq[1:] / eq[:-1] - 1.0, 0.0)
    s = pd.Series(r)
    mean = s.rolling(window).mean()
    std = s.rolling(window).std(ddof=1)
    out = (mean / std * np.sqrt(periods_per_year)).to_numpy(dtype=np.float64, copy=True)
    out[~np.isfinite(out)] = np.nan
    out[std.to_numpy() < 1e-15] = np.nan
    return out


def _window(periods_per_year: float, n: int) -> int:
    """About 30 calendar days of bars, at least 20 and at most a quarter of the run."""
    return int(max(2, min(max(20, round(periods_per_year / 12)), n // 4 or 2)))


def equity_sections(inp: EquityInput) -> list[Section]:
    """The sections of a backtest report, in reading order."""
    import plotly.graph_objects as go  # noqa: PLC0415 - plotly loads when a report is drawn
    from plotly.subplots import make_subplots  # noqa: PLC0415 - plotly loads when a report is drawn

    ts = pd.to_datetime(np.asarray(inp.timestamp, dtype=np.int64), unit="ms", utc=True).to_numpy()
    eq = np.asarray(inp.equity, dtype=np.float64)
    dd = drawdown(eq, inp.initial_cash)
    curve = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    x, y = decimate(ts, eq)
    curve.add_trace(go.Scatter(x=x, y=y, mode="lines", name="equity", line={"color": "#1f77b4"}), row=1, col=1)
    x, y = decimate(ts, dd, how="min")
    curve.add_trace(go.Scatter(x=x, y=y, mode="lines", name="drawdown", fill="tozeroy",
                               line={"color": "#d62728"}), row=2, col=1)
    curve.update_yaxes(title_text="equity (quote)", row=1, col=1)
    curve.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    sections = [Section("Equity and drawdown",
                        f"equity after each bar from {inp.initial_cash:,.2f}; drawdown below the running peak "
                        f"(deepest {-dd.min():.2%})", curve)]

    months = monthly_returns(inp.timestamp, eq, inp.initial_cash)
    heat = go.Figure(go.Heatmap(z=months.to_numpy() * 100, x=[f"{m:02d}" for m in months.columns],
                                y=[str(y) for y in months.index], colorscale="RdYlGn", zmid=0,
                                text=[[("" if v != v else f"{v:+.1%}") for v in row] for row in months.to_numpy()],
                                texttemplate="%{text}", colorbar={"title": "%"}))
    heat.update_layout(xaxis_title="month", yaxis_title="year", yaxis={"type": "category"})
    sections.append(Section("Monthly returns", "calendar months (UTC), percent; blank: no bars that month", heat))

    tr = np.asarray(inp.trade_returns, dtype=np.float64) * 100
    hist = go.Figure(go.Histogram(x=tr, nbinsx=min(60, max(10, tr.size // 3)), marker={"color": "#2ca02c"}))
    hist.update_layout(xaxis_title="trade return, % of entry notional (after fees)", yaxis_title="trades",
                       bargap=0.05)
    wins = int((tr > 0).sum())
    sections.append(Section("Trade distribution",
                            f"{tr.size} trades, {wins} winners, median {np.median(tr) if tr.size else 0:+.2f} %",
                            hist))

    window = _window(inp.periods_per_year, eq.size)
    rs = rolling_sharpe(eq, inp.initial_cash, window, inp.periods_per_year)
    x, y = decimate(ts, rs)
    roll = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="rolling sharpe", line={"color": "#9467bd"}))
    roll.update_layout(yaxis_title="annualised Sharpe")
    sections.append(Section("Rolling Sharpe", f"over the last {window} bars, annualised with "
                                              f"{inp.periods_per_year:,.0f} bars per year", roll))

    x, y = decimate(ts, np.asarray(inp.exposure, dtype=np.float64))
    expo = go.Figure(go.Scatter(x=x, y=y, mode="lines", fill="tozeroy", name="exposure", line={"color": "#ff7f0e"}))
    expo.update_layout(yaxis_title="position value / equity", yaxis_tickformat=".0%")
    in_market = float(np.mean(np.asarray(inp.exposure) != 0.0))
    sections.append(Section("Exposure", f"in the market {in_market:.1%} of bars; > 0 long, < 0 short", expo))

    keys = [k for k in METRIC_KEYS if k in inp.metrics]
    sections.append(Section("Metrics", "fractions (0.05 = 5 %); money in the quote currency",
                            table=[["metric", "value"], *table_rows(inp.metrics, keys)], header=True))
    return sections
