"""Input checks and numeric helpers shared by the indicator modules.

Series conventions (see :mod:`strategies.indicators`): 1-D, computed in
float64, leading NaNs allowed (skipped), a NaN or inf after the first finite
value rejected naming the row.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit

from strategies.errors import IndicatorError

__all__ = ["check_window", "prepare", "prepare_many", "neumaier_add"]


def check_window(n: object, name: str = "n", minimum: int = 1) -> int:
    """``n`` as an int >= ``minimum``, else :class:`IndicatorError` naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise IndicatorError(f"{name}: window length must be an integer, got {n!r}")
    window = int(n)
    if window < minimum:
        raise IndicatorError(f"{name}: window length must be >= {minimum}, got {window}")
    return window


def _series(x: object, name: str) -> tuple[np.ndarray, int]:
    """(float64 1-D array, first finite row or -1) after the NaN/inf rules."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise IndicatorError(f"{name}: not a numeric series ({exc})") from None
    if arr.ndim != 1:
        raise IndicatorError(f"{name}: expected a 1-D series, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if finite.all():
        return arr, 0 if arr.shape[0] else -1
    if np.isinf(arr).any():
        bad = int(np.flatnonzero(np.isinf(arr))[0])
        raise IndicatorError(f"{name}[{bad}]: infinite value {arr[bad]}")
    if not finite.any():
        return arr, -1
    first = int(np.argmax(finite))
    gaps = np.flatnonzero(~finite[first:])
    if gaps.size:
        bad = first + int(gaps[0])
        raise IndicatorError(
            f"{name}[{bad}]: NaN after the first finite value at row {first}; only leading NaNs are allowed")
    return arr, first


def prepare(x: object, n: object, name: str = "x") -> tuple[np.ndarray, int, int]:
    """Validate one series and its window; return (float64 array, window, first finite row or -1)."""
    window = check_window(n)
    arr, first = _series(x, name)
    return arr, window, first


def prepare_many(series: dict[str, object]) -> tuple[list[np.ndarray], int]:
    """Validate several series of one length; return (arrays, first row where all are finite, or -1).

    Raises:
        IndicatorError: naming the series at fault (bad shape, NaN/inf, length mismatch).
    """
    arrays: list[np.ndarray] = []
    first = 0
    length = None
    for name, raw in series.items():
        arr, start = _series(raw, name)
        if length is None:
            length = arr.shape[0]
        elif arr.shape[0] != length:
            raise IndicatorError(f"{name}: length {arr.shape[0]} differs from the other series' {length}")
        arrays.append(arr)
        first = -1 if start < 0 or first < 0 else max(first, start)
    if length == 0:
        first = -1
    return arrays, first


@njit(cache=True)
def neumaier_add(total: float, comp: float, value: float) -> tuple[float, float]:
    """One step of Neumaier compensated summation: returns (total, compensation)."""
    t = total + value
    if abs(total) >= abs(value):
        comp += (total - t) + value
    else:
        comp += (value - t) + total
    return t, comp
