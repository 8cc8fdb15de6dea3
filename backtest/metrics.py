"""Performance metrics: pure functions of an equity curve, a position series or a trade list.

Conventions:

* An equity curve is a 1-D array of account values in quote currency, one
  per bar, all finite; the first > 0, the rest >= 0. Zero is **ruin**
  (:mod:`backtest.engine` liquidates an account whose equity reaches 0): it
  is absorbing, so once a value is 0 every later one must be 0 too.
  Returns are simple per-bar returns ``r[t] = equity[t] / equity[t-1] - 1``
  (fractions, not percent); the bar of ruin returns -1 and every bar after
  it 0 (nothing left to gain or lose), empyrical's reading of such a curve.
* **A year is 365.25 days** (:data:`MS_PER_YEAR`), for both CAGR and bars
  per year.
* **CAGR follows calendar time**: ``years = (last timestamp - first
  timestamp) / 365.25 days`` (:func:`years_spanned`), so a stock that trades
  252 days a year compounds over the years it was held, not over
  ``bars / 365``. :func:`cagr` itself takes ``periods_per_year``;
  :func:`equity_summary` passes ``n_returns / years`` (empyrical's
  ``annualization`` with the same meaning).
* ``periods_per_year`` (Sharpe, Sortino, volatility) is bars per year.
  By default it is **measured from the timestamps**
  (:func:`measured_periods_per_year`): ``(bars - 1) / years`` over the whole
  series, i.e. the bars per calendar year the data actually has: about 252
  for daily stocks (weekends and holidays are absent), 365.25 for daily
  crypto, 105,192 for 5-minute crypto; gaps lower it as they should. A
  series spanning less than a few weeks gives only a rough figure (a
  weekly session pattern cannot show): pass ``periods_per_year`` (the
  ``--periods-per-year`` flag) to override. :func:`periods_per_year` is the
  nominal value for a market that never closes (365.25 days / bar length).
* Ratios that are undefined (a zero denominator: no volatility, no
  drawdown, no downside) are 0.0, except :func:`profit_factor`, which is
  ``inf`` when there are winning trades and no losing ones. :func:`cagr`
  (and so :func:`calmar`) is ``inf`` when a short curve's gain,
  extrapolated to a year, overflows a float. :func:`summary` reports every
  infinite value as ``None`` so its dict stays valid JSON.
* Risk-adjusted ratios use a zero risk-free rate and match empyrical
  (``sharpe_ratio``, ``sortino_ratio``, ``annual_volatility``, ``cagr``,
  ``max_drawdown``, ``calmar_ratio``); tests check that on real backtests.
* Trade statistics use **closed** trades only (an open trade's pnl is not
  realised) unless ``include_open=True``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from backtest.engine import BacktestResult
from backtest.errors import EquityError, TimeframeError, TradesError
from backtest.trades import Trade

__all__ = [
    "MS_PER_YEAR",
    "years_spanned",
    "measured_periods_per_year",
    "resolve_periods_per_year",
    "equity_summary",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration",
    "calmar",
    "win_rate",
    "profit_factor",
    "expectancy",
    "exposure",
    "turnover",
    "periods_per_year",
    "summary",
    "RANKING_METRICS",
    "LOWER_IS_BETTER",
    "ranking_mode",
    "rank_order",
]

#: milliseconds in a year of 365.25 days (the Julian year): CAGR's calendar and bars per year
MS_PER_YEAR = 31_557_600_000


def total_return(equity: np.ndarray) -> float:
    """``equity[-1] / equity[0] - 1``, a fraction (0.1 is +10 %)."""
    eq = _equity(equity)
    return float(eq[-1] / eq[0] - 1.0)


def cagr(equity: np.ndarray, periods_per_year: float) -> float:
    """Compound annual growth rate, a fraction: ``(equity[-1] / equity[0]) ** (periods_per_year / n_returns) - 1``.

    ``n_returns = len(equity) - 1`` bars; 0.0 for a single point; -1.0 for a
    ruined curve (final equity 0); ``inf`` when a gain extrapolated from a
    very short curve overflows a float. For calendar-time CAGR pass
    ``n_returns / years`` (as :func:`equity_summary` does).
    """
    eq = _equity(equity)
    ppy = _positive("periods_per_year", periods_per_year)
    if eq.shape[0] < 2:
        return 0.0
    if eq[-1] == 0.0:
        return -1.0
    exponent = math.log(float(eq[-1] / eq[0])) * ppy / (eq.shape[0] - 1)
    return math.inf if exponent > 709.0 else math.expm1(exponent)


def annual_volatility(equity: np.ndarray, periods_per_year: float, *, ddof: int = 1) -> float:
    """``std(r, ddof) * sqrt(periods_per_year)``, a fraction; 0.0 with fewer than ``ddof + 1`` returns."""
    rets = _returns(equity)
    ppy = _positive("periods_per_year", periods_per_year)
    if rets.shape[0] <= ddof:
        return 0.0
    return float(np.std(rets, ddof=ddof) * math.sqrt(ppy))


def sharpe(equity: np.ndarray, periods_per_year: float, *, ddof: int = 1) -> float:
    """Annualised Sharpe ratio (zero risk-free rate) of per-bar simple returns.

    ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``; 0.0 when the
    standard deviation is 0 or there are fewer than two returns (fewer than
    three equity points).
    """
    eq = _equity(equity)
    ppy = _positive("periods_per_year", periods_per_year)
    if eq.shape[0] < 3:
        return 0.0
    rets = _curve_returns(eq)
    std = float(np.std(rets, ddof=ddof))
    if std == 0.0:
        return 0.0
    return float(np.mean(rets) / std * math.sqrt(ppy))


def sortino(equity: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sortino ratio with a zero target: ``mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year)``.

    The downside deviation averages over *all* returns (empyrical's
    ``downside_risk``); 0.0 when no return is negative or fewer than two
    returns.
    """
    rets = _returns(equity)
    ppy = _positive("periods_per_year", periods_per_year)
    if rets.shape[0] < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2)))
    if downside == 0.0:
        return 0.0
    return float(np.mean(rets) / downside * math.sqrt(ppy))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall as a positive fraction (0.25 for -25 %); 0.0 if equity never falls."""
    eq = _equity(equity)
    peaks = np.maximum.accumulate(eq)
    return float(np.max(1.0 - eq / peaks))


def max_drawdown_duration(equity: np.ndarray) -> int:
    """Longest time under water, in bars: from a peak to the first bar back at or above it.

    A drawdown not recovered by the end counts up to the last bar. 0 when
    equity never falls below a previous peak. Multiply by the bar length for
    a time (``summary`` reports both).
    """
    eq = _equity(equity)
    peaks = np.maximum.accumulate(eq)
    under = eq < peaks
    if not under.any():
        return 0
    # index of the latest peak (a bar at its running maximum) at or before each bar
    at_peak = np.where(~under, np.arange(eq.shape[0]), 0)
    last_peak = np.maximum.accumulate(at_peak)
    spell = np.where(under, np.arange(eq.shape[0]) - last_peak, 0)
    longest = int(spell.max())
    # a spell that recovers lasts one bar more (the recovery bar ends it)
    recovered_ends = np.flatnonzero(under[:-1] & ~under[1:])
    if recovered_ends.size:
        longest = max(longest, int((spell[recovered_ends] + 1).max()))
    return longest


def calmar(equity: np.ndarray, periods_per_year: float) -> float:
    """:func:`cagr` divided by :func:`max_drawdown`; 0.0 when there is no drawdown."""
    mdd = max_drawdown(equity)
    if mdd == 0.0:
        return 0.0
    return cagr(equity, periods_per_year) / mdd


def win_rate(trades: Sequence[Trade], *, include_open: bool = False) -> float:
    """Fraction of trades with ``pnl > 0`` (0.0 when there is none)."""
    pnl = _trade_pnl(trades, include_open)
    return float(np.mean(pnl > 0.0)) if pnl.size else 0.0


def profit_factor(trades: Sequence[Trade], *, include_open: bool = False) -> float:
    """Gross profit over gross loss, ``sum(pnl > 0) / |sum(pnl < 0)|``.

    ``inf`` with winners and no losers; 0.0 with no trades or no winners.
    """
    pnl = _trade_pnl(trades, include_open)
    gain = float(pnl[pnl > 0.0].sum())
    loss = float(-pnl[pnl < 0.0].sum())
    if loss == 0.0:
        return math.inf if gain > 0.0 else 0.0
    return gain / loss


def expectancy(trades: Sequence[Trade], *, include_open: bool = False) -> float:
    """Mean pnl per trade after fees, quote currency (0.0 when there is none)."""
    pnl = _trade_pnl(trades, include_open)
    return float(pnl.mean()) if pnl.size else 0.0


def exposure(units: np.ndarray) -> float:
    """Fraction of bars that end with a non-zero position (long or short), in [0, 1]."""
    arr = np.asarray(units, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise EquityError(f"units: expected a non-empty 1-D (or bars x assets) array, got shape {arr.shape}")
    held = arr != 0.0 if arr.ndim == 1 else (arr != 0.0).any(axis=1)
    return float(np.mean(held))


def turnover(traded: np.ndarray, equity: np.ndarray) -> float:
    """Total traded notional over mean equity: how many times the book was traded (a buy and a sell of all equity = 2)."""
    eq = _equity(equity)
    flow = np.asarray(traded, dtype=np.float64)
    if flow.ndim != 1 or flow.shape[0] != eq.shape[0] or not np.isfinite(flow).all() or (flow < 0).any():
        raise EquityError(f"traded: expected finite notionals >= 0, one per equity point ({eq.shape[0]})")
    return float(flow.sum() / eq.mean())


def periods_per_year(timeframe_ms: int) -> float:
    """Nominal bars per 365.25-day year for bars ``timeframe_ms`` long (a market that never closes).

    105192.0 for 5m, 365.25 for 1d. The fallback of
    :func:`measured_periods_per_year`.
    """
    if isinstance(timeframe_ms, bool) or not isinstance(timeframe_ms, numbers.Integral) or timeframe_ms <= 0:
        raise TimeframeError(f"timeframe_ms: expected a positive integer number of milliseconds, got {timeframe_ms!r}")
    return MS_PER_YEAR / int(timeframe_ms)


def years_spanned(timestamp: np.ndarray) -> float:
    """``(timestamp[-1] - timestamp[0]) / MS_PER_YEAR``: calendar years from the first bar to the last (0.0 for one bar).

    ``timestamp`` is int64 ms UTC, increasing.
    """
    ts = np.asarray(timestamp)
    if ts.ndim != 1 or ts.shape[0] == 0:
        raise TimeframeError(f"timestamp: expected a non-empty 1-D array of ms, got shape {ts.shape}")
    return float(int(ts[-1]) - int(ts[0])) / MS_PER_YEAR


def measured_periods_per_year(timestamp: np.ndarray, timeframe_ms: int) -> float:
    """Bars per calendar year the data has: ``(len(timestamp) - 1) / years_spanned(timestamp)``.

    About 252 for daily stocks, 365.25 for gap-free daily crypto, 105,192
    for gap-free 5-minute crypto. With fewer than two bars (no span) it is
    the nominal :func:`periods_per_year` of ``timeframe_ms``.
    """
    years = years_spanned(timestamp)
    if years <= 0.0:
        return periods_per_year(timeframe_ms)
    return (np.asarray(timestamp).shape[0] - 1) / years


def resolve_periods_per_year(timestamp: np.ndarray, timeframe_ms: int, periods_per_year: float | None) -> float:
    """``periods_per_year`` when given (validated: finite, > 0), else :func:`measured_periods_per_year`."""
    if periods_per_year is None:
        return measured_periods_per_year(timestamp, timeframe_ms)
    return _positive("periods_per_year", periods_per_year)


def equity_summary(curve: np.ndarray, timestamp: np.ndarray, timeframe_ms: int, *,
                   periods_per_year: float | None = None) -> dict[str, float | int | str | None]:
    """The equity-curve metrics, JSON-ready (``None`` where a ratio is infinite).

    ``curve`` is the starting cash followed by one equity value per bar
    (``len(timestamp) + 1`` points); ``timestamp`` the bars' open times (ms
    UTC). ``periods_per_year`` overrides the measured bars per year.

    Keys: ``total_return``, ``cagr`` (calendar years, see the module
    docstring), ``annual_volatility`` (fractions), ``sharpe``, ``sortino``,
    ``calmar``, ``max_drawdown`` (positive fraction),
    ``max_drawdown_duration_bars``, ``max_drawdown_duration_ms``,
    ``final_equity`` (quote currency), ``periods_per_year`` (the value used),
    ``periods_per_year_source`` (``"measured"`` or ``"given"``), ``years``
    (calendar years spanned), ``ruined_at`` (index of the bar whose equity
    is 0, or ``None``) and ``ruined_at_ms`` (its timestamp, or ``None``).
    """
    eq = _equity(curve)
    ts = np.asarray(timestamp)
    if ts.ndim != 1 or ts.shape[0] + 1 != eq.shape[0]:
        raise EquityError(f"equity: expected {ts.shape[0] + 1} points (starting cash + one per bar), got {eq.shape[0]}")
    ppy = resolve_periods_per_year(ts, timeframe_ms, periods_per_year)
    years = years_spanned(ts)
    n_returns = eq.shape[0] - 1
    cagr_value = cagr(eq, n_returns / years) if years > 0.0 and n_returns > 0 else 0.0
    mdd = max_drawdown(eq)
    duration = max_drawdown_duration(eq)
    zero = np.flatnonzero(eq == 0.0)
    ruined_at = int(zero[0]) - 1 if zero.size else None
    return {
        "total_return": total_return(eq),
        "cagr": _finite_or_none(cagr_value),
        "annual_volatility": annual_volatility(eq, ppy),
        "sharpe": sharpe(eq, ppy),
        "sortino": sortino(eq, ppy),
        "calmar": _finite_or_none(cagr_value / mdd if mdd != 0.0 else 0.0),
        "max_drawdown": mdd,
        "max_drawdown_duration_bars": duration,
        "max_drawdown_duration_ms": duration * int(timeframe_ms),
        "final_equity": float(eq[-1]),
        "periods_per_year": ppy,
        "periods_per_year_source": "measured" if periods_per_year is None else "given",
        "years": years,
        "ruined_at": ruined_at,
        "ruined_at_ms": None if ruined_at is None else int(ts[ruined_at]),
    }


def summary(result: BacktestResult, timeframe_ms: int, *,
            periods_per_year: float | None = None) -> dict[str, float | int | str | None]:
    """Every metric of a backtest as a JSON-ready dict (finite numbers; ``None`` where a ratio is infinite).

    The curve used is ``initial_cash`` followed by the per-bar equity, so
    the first bar's move and any fee paid on bar 0 count (vectorbt's
    convention too). ``periods_per_year`` overrides the bars per year
    measured from ``result.timestamp`` (see the module docstring).

    Keys: those of :func:`equity_summary` (``total_return``, ``cagr``,
    ``annual_volatility``, ``sharpe``, ``sortino``, ``calmar``,
    ``max_drawdown``, ``max_drawdown_duration_bars``,
    ``max_drawdown_duration_ms``, ``final_equity``, ``periods_per_year``,
    ``periods_per_year_source``, ``years``, ``ruined_at``,
    ``ruined_at_ms``), plus ``n_trades`` (the open trade included),
    ``win_rate`` (fraction of closed trades), ``profit_factor`` (``None``
    when no closed trade lost), ``expectancy`` (mean closed-trade pnl, quote
    currency), ``exposure`` (fraction of bars in the market), ``turnover``
    (traded notional / mean equity) and ``fees_paid`` (quote currency).
    """
    curve = np.concatenate(([result.initial_cash], np.asarray(result.equity, dtype=np.float64)))
    out = equity_summary(curve, result.timestamp, timeframe_ms, periods_per_year=periods_per_year)
    final_equity = out.pop("final_equity")
    return {
        **out,
        "n_trades": result.n_trades,
        "win_rate": win_rate(result.trades),
        "profit_factor": _finite_or_none(profit_factor(result.trades)),
        "expectancy": expectancy(result.trades),
        "exposure": exposure(result.units),
        "turnover": turnover(np.concatenate(([0.0], result.traded)), curve),
        "fees_paid": result.fees_paid,
        "final_equity": final_equity,
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _equity(equity: np.ndarray) -> np.ndarray:
    try:
        eq = np.asarray(equity, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EquityError(f"equity: not a numeric array ({exc})") from None
    if eq.ndim != 1 or eq.shape[0] == 0:
        raise EquityError(f"equity: expected a non-empty 1-D array, got shape {eq.shape}")
    bad = ~(np.isfinite(eq) & (eq >= 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EquityError(f"equity[{row}]: must be finite and >= 0, got {eq[row]}")
    if eq[0] == 0.0:
        raise EquityError("equity[0]: must be > 0 (the starting value), got 0.0")
    if eq[-1] == 0.0 or not eq.all():  # ruined: zero must be absorbing
        first = int(np.flatnonzero(eq == 0.0)[0])
        if eq[first:].any():
            row = first + int(np.flatnonzero(eq[first:])[0])
            raise EquityError(f"equity[{row}]: {eq[row]} after ruin (equity 0) at equity[{first}]; ruin is final")
    return eq


def _curve_returns(eq: np.ndarray) -> np.ndarray:
    """Per-bar returns of a validated curve; after ruin (0 / 0) they are 0."""
    if eq[-1] != 0.0:
        return eq[1:] / eq[:-1] - 1.0
    prev = eq[:-1]
    return np.divide(eq[1:], prev, out=np.ones_like(prev), where=prev > 0.0) - 1.0


def _returns(equity: np.ndarray) -> np.ndarray:
    return _curve_returns(_equity(equity))


def _trade_pnl(trades: Sequence[Trade], include_open: bool) -> np.ndarray:
    try:
        items = list(trades)
    except TypeError:
        raise TradesError(f"trades: expected a sequence of Trade, got {type(trades).__name__}") from None
    for i, trade in enumerate(items):
        if not isinstance(trade, Trade):
            raise TradesError(f"trades[{i}]: expected a Trade, got {type(trade).__name__}")
    return np.array([t.pnl for t in items if include_open or not t.is_open], dtype=np.float64)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise TimeframeError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


#: metrics a run can be ranked by (the keys of :func:`summary` that order configurations)
RANKING_METRICS: tuple[str, ...] = (
    "sharpe", "sortino", "calmar", "cagr", "total_return", "final_equity", "profit_factor", "win_rate",
    "expectancy", "n_trades", "exposure", "max_drawdown", "annual_volatility", "max_drawdown_duration_bars",
    "turnover", "fees_paid")

#: ranking metrics where smaller is better (drawdown, volatility, time under water, costs); every other
#: ranking metric is better larger. The one place that decides which way a ranking goes.
LOWER_IS_BETTER: frozenset[str] = frozenset({
    "max_drawdown", "annual_volatility", "max_drawdown_duration_bars", "turnover", "fees_paid"})


def ranking_mode(metric: str) -> str:
    """``"min"`` when a smaller ``metric`` is better (:data:`LOWER_IS_BETTER`), else ``"max"`` (Tune/Optuna's words)."""
    return "min" if metric in LOWER_IS_BETTER else "max"


def rank_order(values: np.ndarray, metric: str) -> np.ndarray:
    """Indices of ``values`` (one ``metric`` value per configuration) from best to worst; stable for ties.

    NaN ranks last; ``inf`` (a profit factor with no losing trade) ranks as the extreme it is.
    """
    v = np.asarray(values, dtype=np.float64)
    keys = v if metric in LOWER_IS_BETTER else -v
    keys = np.where(np.isnan(keys), np.inf, keys)
    nan_last = np.isnan(v).astype(np.int8)
    return np.lexsort((keys, nan_last))
