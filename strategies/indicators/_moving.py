"""Moving averages: SMA and EMA.

Conventions (shared by every indicator in the package):

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

import numpy as np
from numba import njit

from strategies.indicators._common import neumaier_add as _neumaier_add
from strategies.indicators._common import prepare as _prepare

__all__ = ["sma", "ema", "sma_kernel"]


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
        sma_kernel(arr, window, first, out)
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


@njit(cache=True)
def sma_kernel(x: np.ndarray, n: int, first: int, out: np.ndarray) -> None:
    """The numba loop of :func:`sma`: writes ``out[first + n - 1:]`` in place, leaves the rest untouched.

    ``x`` is float64 and finite from row ``first`` on (``n >= 1``). For a
    validated finite series, ``first = 0`` and ``out`` filled with NaN give
    the very floats ``sma(x, n)`` returns; callable from other numba code
    (a batched sweep computes many windows in parallel with it).
    """
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
