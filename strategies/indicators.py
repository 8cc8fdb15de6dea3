"""Moving-average indicators over one price series.

Conventions shared by every indicator here:

* Input ``x`` is a 1-D series (any real dtype; computed in float64). It may
  start with NaNs (as another indicator's output does); those are skipped
  and the indicator starts at the first finite value. A NaN or inf after the
  first finite value is rejected with :class:`IndicatorError` naming the row,
  because a silently poisoned average is worse than a clear error.
* Output is float64, the same length as ``x``, NaN where the window is not
  yet full. ``out[t]`` depends only on ``x[:t + 1]`` (no lookahead).
* ``n`` is a window length in bars, an int >= 1. A window longer than the
  series gives all-NaN output (not an error), as pandas does.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit

from strategies.errors import IndicatorError

__all__ = ["sma", "ema"]


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average: ``out[t] = mean(x[t-n+1 : t+1])``.

    NaN for the first ``n - 1`` values (after any leading NaNs). O(len(x)):
    one pass with a compensated (Neumaier) running sum, so a long series with
    a large offset keeps full precision (error ~1 ulp of the mean, unlike a
    plain difference of cumulative sums).
    """
    arr, window, first = _prepare(x, n)
    out = np.full(arr.shape[0], np.nan)
    if first >= 0:
        _sma_kernel(arr, window, first, out)
    return out


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """Exponential moving average with ``alpha = 2 / (n + 1)``.

    Seeded with the simple mean of the first ``n`` values: with ``s`` the
    first finite row, ``out[s+n-1] = mean(x[s : s+n])`` and then
    ``out[t] = alpha * x[t] + (1 - alpha) * out[t-1]`` (pandas
    ``ewm(alpha=alpha, adjust=False)`` started from that seed). NaN before
    ``s + n - 1``.
    """
    arr, window, first = _prepare(x, n)
    out = np.full(arr.shape[0], np.nan)
    if first >= 0:
        _ema_kernel(arr, window, first, 2.0 / (window + 1.0), out)
    return out


def _prepare(x: np.ndarray, n: int) -> tuple[np.ndarray, int, int]:
    """Validate inputs; return (float64 array, window, first finite row or -1 if none)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise IndicatorError(f"n: window length must be an integer, got {n!r}")
    window = int(n)
    if window < 1:
        raise IndicatorError(f"n: window length must be >= 1, got {window}")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise IndicatorError(f"x: not a numeric series ({exc})") from None
    if arr.ndim != 1:
        raise IndicatorError(f"x: expected a 1-D series, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if finite.all():
        return arr, window, 0 if arr.shape[0] else -1
    if np.isinf(arr).any():
        bad = int(np.flatnonzero(np.isinf(arr))[0])
        raise IndicatorError(f"x[{bad}]: infinite value {arr[bad]}")
    if not finite.any():
        return arr, window, -1
    first = int(np.argmax(finite))
    gaps = np.flatnonzero(~finite[first:])
    if gaps.size:
        bad = first + int(gaps[0])
        raise IndicatorError(f"x[{bad}]: NaN after the first finite value at row {first}; only leading NaNs are allowed")
    return arr, window, first


@njit(cache=True)
def _neumaier_add(total: float, comp: float, value: float) -> tuple[float, float]:
    """One step of Neumaier compensated summation: returns (total, compensation)."""
    t = total + value
    if abs(total) >= abs(value):
        comp += (total - t) + value
    else:
        comp += (value - t) + total
    return t, comp


@njit(cache=True)
def _sma_kernel(x: np.ndarray, n: int, first: int, out: np.ndarray) -> None:
    total = 0.0
    comp = 0.0
    for i in range(first, x.shape[0]):
        total, comp = _neumaier_add(total, comp, x[i])
        if i - first >= n:
            total, comp = _neumaier_add(total, comp, -x[i - n])
        if i - first >= n - 1:
            out[i] = (total + comp) / n


@njit(cache=True)
def _ema_kernel(x: np.ndarray, n: int, first: int, alpha: float, out: np.ndarray) -> None:
    size = x.shape[0]
    seed_at = first + n - 1
    if seed_at >= size:
        return
    total = 0.0
    comp = 0.0
    for i in range(first, seed_at + 1):
        total, comp = _neumaier_add(total, comp, x[i])
    prev = (total + comp) / n
    out[seed_at] = prev
    keep = 1.0 - alpha
    for i in range(seed_at + 1, size):
        prev = alpha * x[i] + keep * prev
        out[i] = prev
