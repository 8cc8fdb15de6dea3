"""Momentum oscillators: RSI (Wilder) and MACD.

Conventions as in :mod:`strategies.indicators`: float64 output of the input's
length, NaN during warm-up, ``out[t]`` depends only on inputs up to ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from strategies.errors import IndicatorError
from strategies.indicators._common import check_window, prepare
from strategies.indicators._moving import ema

__all__ = ["rsi", "macd", "Macd"]


def rsi(x: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder's relative strength index, in [0, 100].

    With ``s`` the first finite row, changes ``d[t] = x[t] - x[t-1]`` split
    into gains ``max(d, 0)`` and losses ``max(-d, 0)``. The averages are
    seeded at row ``s + n`` with the simple mean of the first ``n`` changes,
    then smoothed with Wilder's rule ``avg[t] = (avg[t-1] * (n-1) + v[t]) / n``
    (an EMA with ``alpha = 1/n``). ``rsi = 100 - 100 / (1 + gain / loss)``;
    100 when the average loss is 0 (50 when both are 0, a flat window).
    NaN before row ``s + n``.
    """
    arr, window, first = prepare(x, n)
    out = np.full(arr.shape[0], np.nan)
    if first >= 0:
        _rsi_kernel(arr, window, first, out)
    return out


@dataclass(frozen=True)
class Macd:
    """MACD outputs, each float64 of the input's length.

    Attributes:
        line: ``ema(x, fast) - ema(x, slow)``; NaN before row ``slow - 1``.
        signal: ``ema(line, signal)``; NaN before row ``slow + signal - 2``.
        histogram: ``line - signal``.
    """

    line: np.ndarray
    signal: np.ndarray
    histogram: np.ndarray


def macd(x: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """Moving-average convergence/divergence (Appel), in the units of ``x``.

    EMAs are :func:`~strategies.indicators.ema` (seeded with an SMA), so the
    signal EMA starts at the first finite MACD line value.

    Raises:
        IndicatorError: a bad window, or ``fast >= slow`` (names ``fast``).
    """
    fast_n = check_window(fast, "fast")
    slow_n = check_window(slow, "slow")
    signal_n = check_window(signal, "signal")
    if fast_n >= slow_n:
        raise IndicatorError(f"fast: must be < slow, got fast={fast_n}, slow={slow_n}")
    line = ema(x, fast_n) - ema(x, slow_n)
    sig = ema(line, signal_n)
    return Macd(line=line, signal=sig, histogram=line - sig)


@njit(cache=True)
def _rsi_kernel(x: np.ndarray, n: int, first: int, out: np.ndarray) -> None:
    size = x.shape[0]
    seed_at = first + n
    if seed_at >= size:
        return
    gain = 0.0
    loss = 0.0
    for i in range(first + 1, seed_at + 1):
        d = x[i] - x[i - 1]
        if d > 0:
            gain += d
        else:
            loss -= d
    gain /= n
    loss /= n
    for i in range(seed_at, size):
        if i > seed_at:
            d = x[i] - x[i - 1]
            g = d if d > 0 else 0.0
            lo = -d if d < 0 else 0.0
            gain = (gain * (n - 1) + g) / n
            loss = (loss * (n - 1) + lo) / n
        if loss == 0.0:
            out[i] = 100.0 if gain > 0.0 else 50.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + gain / loss)
