"""Performance metrics: pure functions of an equity curve, a position series or a trade list.

Conventions:

* An equity curve is a 1-D array of account values in quote currency, one
  per bar, all finite and > 0. Returns are simple per-bar returns
  ``r[t] = equity[t] / equity[t-1] - 1``; fractions, not percent.
* ``periods_per_year`` is bars per year; years are 365-day years (crypto
  markets never close): 105,120 five-minute bars, 365 days. For the stock
  panel (trading days) pass 252.
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
]

#: milliseconds in a 365-day year
MS_PER_YEAR = 365 * 86_400_000


def total_return(equity: np.ndarray) -> float:
    """``equity[-1] / equity[0] - 1``, a fraction (0.1 is +10 %)."""
    eq = _equity(equity)
    return float(eq[-1] / eq[0] - 1.0)


def cagr(equity: np.ndarray, periods_per_year: float) -> float:
    """Compound annual growth rate, a fraction: ``(equity[-1] / equity[0]) ** (periods_per_year / n_returns) - 1``.

    ``n_returns = len(equity) - 1`` bars; 0.0 for a single point; ``inf``
    when a gain extrapolated from a very short curve overflows a float.
    """
    eq = _equity(equity)
    ppy = _positive("periods_per_year", periods_per_year)
    if eq.shape[0] < 2:
        return 0.0
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
    rets = eq[1:] / eq[:-1] - 1.0
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
    """Bars per 365-day year for bars ``timeframe_ms`` long: 105120.0 for 5m, 365.0 for 1d."""
    if isinstance(timeframe_ms, bool) or not isinstance(timeframe_ms, numbers.Integral) or timeframe_ms <= 0:
        raise TimeframeError(f"timeframe_ms: expected a positive integer number of milliseconds, got {timeframe_ms!r}")
    return MS_PER_YEAR / int(timeframe_ms)


def summary(result: BacktestResult, timeframe_ms: int) -> dict[str, float | int | None]:
    """Every metric of a backtest as a JSON-ready dict (finite numbers; ``None`` where a ratio is infinite).

    The curve used is ``initial_cash`` followed by the per-bar equity, so
    the first bar's move and any fee paid on bar 0 count (vectorbt's
    convention too).

    Keys: ``total_return``, ``cagr``, ``annual_volatility`` (fractions),
    ``sharpe``, ``sortino``, ``calmar`` (annualised ratios; ``cagr`` and
    ``calmar`` are ``None`` when the annualised gain overflows),
    ``max_drawdown`` (positive fraction), ``max_drawdown_duration_bars``,
    ``max_drawdown_duration_ms``, ``n_trades`` (the open trade included),
    ``win_rate`` (fraction of closed trades), ``profit_factor`` (``None``
    when no closed trade lost), ``expectancy`` (mean closed-trade pnl, quote
    currency), ``exposure`` (fraction of bars in the market), ``turnover``
    (traded notional / mean equity), ``fees_paid`` and ``final_equity``
    (quote currency).
    """
    ppy = periods_per_year(timeframe_ms)
    curve = np.concatenate(([result.initial_cash], np.asarray(result.equity, dtype=np.float64)))
    duration = max_drawdown_duration(curve)
    return {
        "total_return": total_return(curve),
        "cagr": _finite_or_none(cagr(curve, ppy)),
        "annual_volatility": annual_volatility(curve, ppy),
        "sharpe": sharpe(curve, ppy),
        "sortino": sortino(curve, ppy),
        "calmar": _finite_or_none(calmar(curve, ppy)),
        "max_drawdown": max_drawdown(curve),
        "max_drawdown_duration_bars": duration,
        "max_drawdown_duration_ms": duration * int(timeframe_ms),
        "n_trades": result.n_trades,
        "win_rate": win_rate(result.trades),
        "profit_factor": _finite_or_none(profit_factor(result.trades)),
        "expectancy": expectancy(result.trades),
        "exposure": exposure(result.units),
        "turnover": turnover(np.concatenate(([0.0], result.traded)), curve),
        "fees_paid": result.fees_paid,
        "final_equity": float(curve[-1]),
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
    bad = ~(np.isfinite(eq) & (eq > 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EquityError(f"equity[{row}]: must be finite and > 0, got {eq[row]}")
    return eq


def _returns(equity: np.ndarray) -> np.ndarray:
    eq = _equity(equity)
    return eq[1:] / eq[:-1] - 1.0


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
