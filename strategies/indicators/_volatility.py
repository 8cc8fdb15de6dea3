"""Volatility and range indicators: ATR (Wilder), Bollinger bands, Donchian channel, rolling z-score.

Conventions as in :mod:`strategies.indicators`. Window statistics are
computed per window with two passes (mean, then squared deviations), so
they keep full precision on prices with a large offset; cost O(len * n).
Standard deviations are population ones (``ddof=0``), as Bollinger defined
the bands.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from strategies.errors import IndicatorError
from strategies.indicators._common import check_window, prepare, prepare_many
from strategies.indicators._moving import sma

__all__ = ["atr", "bollinger", "Bands", "donchian", "Channel", "rolling_zscore", "rolling_std"]


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder's average true range, in price units.

    True range ``tr[t] = max(high[t] - low[t], |high[t] - close[t-1]|,
    |low[t] - close[t-1]|)`` for rows after the first ``s`` where all three
    series are finite. ATR is seeded at row ``s + n`` with the mean of
    ``tr[s+1 : s+n+1]`` and then ``atr[t] = (atr[t-1] * (n-1) + tr[t]) / n``
    (TA-Lib's convention). NaN before row ``s + n``.
    """
    window = check_window(n)
    (h, lo, c), first = prepare_many({"high": high, "low": low, "close": close})
    out = np.full(h.shape[0], np.nan)
    if first >= 0:
        _atr_kernel(h, lo, c, window, first, out)
    return out


@dataclass(frozen=True)
class Bands:
    """Bollinger bands, each float64 of the input's length (NaN during warm-up).

    Attributes:
        middle: ``sma(x, n)``.
        upper: ``middle + k * std``; lower: ``middle - k * std``, with the
            population standard deviation of the same window.
    """

    middle: np.ndarray
    upper: np.ndarray
    lower: np.ndarray


def bollinger(x: np.ndarray, n: int = 20, k: float = 2.0) -> Bands:
    """Bollinger bands of width ``k`` standard deviations around ``sma(x, n)``.

    Raises:
        IndicatorError: bad ``n``, or ``k`` not a finite number >= 0 (names ``k``).
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not math.isfinite(k) or k < 0:
        raise IndicatorError(f"k: band width must be a finite number >= 0, got {k!r}")
    middle = sma(x, n)
    std = rolling_std(x, n)
    return Bands(middle=middle, upper=middle + k * std, lower=middle - k * std)


def rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation of ``x[t-n+1 : t+1]``; NaN for the first ``n - 1`` rows."""
    arr, window, first = prepare(x, n)
    mean = np.full(arr.shape[0], np.nan)
    std = np.full(arr.shape[0], np.nan)
    if first >= 0:
        _mean_std_kernel(arr, window, first, mean, std)
    return std


def rolling_zscore(x: np.ndarray, n: int) -> np.ndarray:
    """``(x[t] - mean) / std`` over the window ``x[t-n+1 : t+1]`` (population std), unitless.

    0 where the window is constant (std 0, so ``x[t]`` equals the mean).
    NaN for the first ``n - 1`` rows. ``n`` must be >= 2.
    """
    window = check_window(n, minimum=2)
    arr, window, first = prepare(x, window)
    out = np.full(arr.shape[0], np.nan)
    if first >= 0:
        mean = np.full(arr.shape[0], np.nan)
        std = np.full(arr.shape[0], np.nan)
        _mean_std_kernel(arr, window, first, mean, std)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (arr - mean) / std
        z[std == 0.0] = 0.0
        out = z
    return out


@dataclass(frozen=True)
class Channel:
    """Donchian channel, each float64 of the input's length (NaN during warm-up).

    Attributes:
        upper: highest ``high`` of the last ``n`` bars, bar ``t`` included.
        lower: lowest ``low`` of the same bars.
        middle: ``(upper + lower) / 2``.
    """

    upper: np.ndarray
    lower: np.ndarray
    middle: np.ndarray


def donchian(high: np.ndarray, low: np.ndarray, n: int = 20) -> Channel:
    """Donchian channel over the last ``n`` bars including bar ``t``; NaN for the first ``n - 1``.

    A breakout rule compares ``close[t]`` with the channel of the *previous*
    bar (``upper[t-1]``), since ``upper[t] >= high[t] >= close[t]`` always.
    """
    window = check_window(n)
    (h, lo), first = prepare_many({"high": high, "low": low})
    upper = np.full(h.shape[0], np.nan)
    lower = np.full(h.shape[0], np.nan)
    if first >= 0:
        _minmax_kernel(h, lo, window, first, upper, lower)
    return Channel(upper=upper, lower=lower, middle=(upper + lower) / 2.0)


@njit(cache=True)
def _atr_kernel(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int, first: int, out: np.ndarray) -> None:
    size = h.shape[0]
    seed_at = first + n
    if seed_at >= size:
        return
    total = 0.0
    for i in range(first + 1, seed_at + 1):
        total += max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
    prev = total / n
    out[seed_at] = prev
    for i in range(seed_at + 1, size):
        tr = max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
        prev = (prev * (n - 1) + tr) / n
        out[i] = prev


@njit(cache=True)
def _mean_std_kernel(x: np.ndarray, n: int, first: int, mean: np.ndarray, std: np.ndarray) -> None:
    for i in range(first + n - 1, x.shape[0]):
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += x[j]
        m = total / n
        ss = 0.0
        for j in range(i - n + 1, i + 1):
            d = x[j] - m
            ss += d * d
        mean[i] = m
        std[i] = math.sqrt(ss / n)


@njit(cache=True)
def _minmax_kernel(h: np.ndarray, lo: np.ndarray, n: int, first: int, upper: np.ndarray, lower: np.ndarray) -> None:
    for i in range(first + n - 1, h.shape[0]):
        hi = h[i]
        mn = lo[i]
        for j in range(i - n + 1, i):
            if h[j] > hi:
                hi = h[j]
            if lo[j] < mn:
                mn = lo[j]
        upper[i] = hi
        lower[i] = mn
