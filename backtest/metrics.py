"""Performance metrics: pure functions of an equity curve.

An equity curve is a 1-D array of account values in quote currency, one per
bar, all finite and > 0. Returns are simple per-bar returns
``equity[t] / equity[t-1] - 1``; fractions, not percent. Years are 365-day
crypto years (markets never close).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from backtest.engine import BacktestResult
from backtest.errors import EquityError, TimeframeError

__all__ = ["total_return", "sharpe", "max_drawdown", "periods_per_year", "summary", "MS_PER_YEAR"]

#: milliseconds in a 365-day year
MS_PER_YEAR = 365 * 86_400_000


def total_return(equity: np.ndarray) -> float:
    """``equity[-1] / equity[0] - 1``, a fraction (0.1 is +10 %)."""
    eq = _equity(equity)
    return float(eq[-1] / eq[0] - 1.0)


def sharpe(equity: np.ndarray, periods_per_year: float) -> float:
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
    std = float(np.std(rets, ddof=1))
    if std == 0.0:
        return 0.0
    return float(np.mean(rets) / std * math.sqrt(ppy))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall as a positive fraction (0.25 for -25 %); 0.0 if equity never falls."""
    eq = _equity(equity)
    peaks = np.maximum.accumulate(eq)
    return float(np.max(1.0 - eq / peaks))


def periods_per_year(timeframe_ms: int) -> float:
    """Bars per 365-day year for bars ``timeframe_ms`` long: 105120.0 for 5m, 365.0 for 1d."""
    if isinstance(timeframe_ms, bool) or not isinstance(timeframe_ms, numbers.Integral) or timeframe_ms <= 0:
        raise TimeframeError(f"timeframe_ms: expected a positive integer number of milliseconds, got {timeframe_ms!r}")
    return MS_PER_YEAR / int(timeframe_ms)


def summary(result: BacktestResult, timeframe_ms: int) -> dict[str, float | int]:
    """Headline numbers of a backtest as a JSON-ready dict.

    Keys: ``total_return`` (fraction), ``sharpe`` (annualised),
    ``max_drawdown`` (positive fraction), ``n_trades`` (the open trade
    included), ``final_equity`` (quote currency). The curve used is
    ``initial_cash`` followed by the per-bar equity, so the first bar's move
    and any fee paid on bar 0 count (vectorbt's convention too).
    """
    curve = np.concatenate(([result.initial_cash], np.asarray(result.equity, dtype=np.float64)))
    return {
        "total_return": total_return(curve),
        "sharpe": sharpe(curve, periods_per_year(timeframe_ms)),
        "max_drawdown": max_drawdown(curve),
        "n_trades": result.n_trades,
        "final_equity": float(curve[-1]),
    }


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


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise TimeframeError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)
