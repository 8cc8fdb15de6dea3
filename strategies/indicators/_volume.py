"""Volume-weighted averages.

Conventions as in :mod:`strategies.indicators`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from strategies.errors import IndicatorError
from strategies.indicators._common import check_window, prepare_many

__all__ = ["vwap"]


def vwap(price: np.ndarray, volume: np.ndarray, n: int) -> np.ndarray:
    """Rolling volume-weighted average of ``price`` over the last ``n`` bars (bar ``t`` included).

    ``out[t] = sum(price * volume) / sum(volume)`` over ``[t-n+1, t]``, in
    the units of ``price`` (pass the typical price ``(high + low + close) / 3``
    for the classic VWAP, or returns for a volume-weighted mean return).
    NaN for the first ``n - 1`` rows, and also where the window traded
    nothing (``sum(volume) == 0``: the average is undefined).

    Raises:
        IndicatorError: bad ``n``, mismatched lengths, or a negative volume
            (names ``volume[row]``).
    """
    window = check_window(n)
    (p, v), first = prepare_many({"price": price, "volume": volume})
    if first >= 0:
        negative = np.flatnonzero(v[first:] < 0)
        if negative.size:
            row = first + int(negative[0])
            raise IndicatorError(f"volume[{row}]: negative volume {v[row]}")
    out = np.full(p.shape[0], np.nan)
    if first >= 0:
        _vwap_kernel(p, v, window, first, out)
    return out


@njit(cache=True)
def _vwap_kernel(p: np.ndarray, v: np.ndarray, n: int, first: int, out: np.ndarray) -> None:
    for i in range(first + n - 1, p.shape[0]):
        pv = 0.0
        vol = 0.0
        for j in range(i - n + 1, i + 1):
            pv += p[j] * v[j]
            vol += v[j]
        if vol > 0.0:
            out[i] = pv / vol
