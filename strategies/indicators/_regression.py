"""Rolling two-series statistics: beta and correlation.

Conventions as in :mod:`strategies.indicators`; both series must have one
length and the window starts where both are finite. Computed per window
with two passes (means, then cross deviations); cost O(len * n). These are
usually applied to returns, not prices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from strategies.indicators._common import check_window, prepare_many

__all__ = ["rolling_beta", "rolling_corr"]


def rolling_beta(y: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """OLS slope of ``y`` on ``x`` (with intercept) over ``[t-n+1, t]``: ``cov(x, y) / var(x)``.

    Units of ``y`` per unit of ``x``. NaN for the first ``n - 1`` rows (after
    the first row where both are finite), and where ``x`` is constant over
    the window (slope undefined). ``n`` must be >= 2.
    """
    out, _ = _both(y, x, n)
    return out


def rolling_corr(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Pearson correlation of ``x`` and ``y`` over ``[t-n+1, t]``, in [-1, 1].

    NaN for the first ``n - 1`` rows, and where either series is constant
    over the window (correlation undefined). ``n`` must be >= 2.
    """
    _, out = _both(y, x, n)
    return out


def _both(y: np.ndarray, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    window = check_window(n, minimum=2)
    (ya, xa), first = prepare_many({"y": y, "x": x})
    beta = np.full(ya.shape[0], np.nan)
    corr = np.full(ya.shape[0], np.nan)
    if first >= 0:
        _beta_corr_kernel(ya, xa, window, first, beta, corr)
    return beta, corr


@njit(cache=True)
def _beta_corr_kernel(y: np.ndarray, x: np.ndarray, n: int, first: int, beta: np.ndarray, corr: np.ndarray) -> None:
    for i in range(first + n - 1, y.shape[0]):
        sx = 0.0
        sy = 0.0
        for j in range(i - n + 1, i + 1):
            sx += x[j]
            sy += y[j]
        mx = sx / n
        my = sy / n
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for j in range(i - n + 1, i + 1):
            dx = x[j] - mx
            dy = y[j] - my
            sxx += dx * dx
            syy += dy * dy
            sxy += dx * dy
        if sxx > 0.0:
            beta[i] = sxy / sxx
            if syy > 0.0:
                corr[i] = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
