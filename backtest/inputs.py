"""The engines' input checks: fill mode, starting cash, bar arrays and prices.

One place for what :func:`backtest.engine.run_backtest` refuses, so that
every other entry point that simulates the same fills (the batched sweep,
the portfolio engine) refuses exactly the same inputs with the same named
errors. Fees and slippage are checked in :mod:`backtest.costs`.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import numpy as np

from backtest.errors import BarsFieldMissingError, BarsShapeError, CashError, PriceError, UnknownFillError

__all__ = ["FILL_MODES", "FillMode", "check_fill", "start_cash", "bar_arrays", "price_array", "extra_field"]

FillMode = Literal["open", "close"]

#: supported fill modes: a signal on bar ``t``'s close fills at bar ``t + 1``'s open, or at bar ``t``'s close
FILL_MODES: tuple[str, ...] = ("open", "close")


def check_fill(fill: object) -> str:
    """``fill`` when it is one of :data:`FILL_MODES`.

    Raises:
        UnknownFillError: anything else (a non-string included).
    """
    if not isinstance(fill, str) or fill not in FILL_MODES:
        raise UnknownFillError(f"fill: unknown fill mode {fill!r}; expected one of {', '.join(FILL_MODES)}")
    return fill


def start_cash(cash: object) -> float:
    """Starting cash (quote currency) as a float, after checking it is a finite real number > 0.

    Raises:
        CashError: a bool, a non-number, NaN/inf, or <= 0.
    """
    if isinstance(cash, bool) or not isinstance(cash, numbers.Real) or not math.isfinite(cash) or cash <= 0:
        raise CashError(f"cash: expected a finite amount > 0, got {cash!r}")
    return float(cash)


def bar_arrays(bars: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamp int64 ms, open float64, close float64) of ``bars``, validated; fresh contiguous arrays.

    Raises:
        BarsShapeError: a missing or non-1-D array, unequal lengths, no bars,
            or a timestamp that is not an integer dtype.
        PriceError: an open or close that is NaN, infinite or <= 0 (field and row named).
    """
    arrays = {}
    for name in ("timestamp", "open", "close"):
        if not hasattr(bars, name):
            raise BarsShapeError(f"bars.{name}: missing; expected an object with 1-D arrays timestamp, open, close")
        arr = np.asarray(getattr(bars, name))
        if arr.ndim != 1:
            raise BarsShapeError(f"bars.{name}: expected a 1-D array, got shape {arr.shape}")
        arrays[name] = arr
    n = arrays["close"].shape[0]
    for name, arr in arrays.items():
        if arr.shape[0] != n:
            raise BarsShapeError(f"bars.{name}: length {arr.shape[0]} differs from bars.close length {n}")
    if n == 0:
        raise BarsShapeError("bars: no bars to backtest")
    if not np.issubdtype(arrays["timestamp"].dtype, np.integer):
        raise BarsShapeError(f"bars.timestamp: expected int64 ms since the epoch, got dtype {arrays['timestamp'].dtype}")
    timestamp = arrays["timestamp"].astype(np.int64, copy=True)
    prices = [price_array(arrays[name], name) for name in ("open", "close")]
    return timestamp, prices[0], prices[1]


def price_array(values: np.ndarray, name: str, *, allow_zero: bool = False) -> np.ndarray:
    """``values`` as contiguous float64, every entry finite and > 0 (>= 0 with ``allow_zero``, for volume).

    Raises:
        PriceError: the first offending row, named as ``bars.<name>[row]``.
    """
    arr = np.ascontiguousarray(values, dtype=np.float64)
    ok = np.isfinite(arr) & ((arr >= 0) if allow_zero else (arr > 0))
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        what = "must be finite and >= 0" if allow_zero else "price must be finite and > 0"
        raise PriceError(f"bars.{name}[{row}]: {what}, got {arr[row]}")
    return arr


def extra_field(bars: object, name: str, n: int, needed_by: str, *, allow_zero: bool = False) -> np.ndarray:
    """``bars.<name>`` (high, low or volume) checked as :func:`price_array`, of length ``n``.

    Raises:
        BarsFieldMissingError: ``bars`` has no such field (``needed_by`` says which setting wants it).
        BarsShapeError: not 1-D of length ``n``.
        PriceError: see :func:`price_array`.
    """
    if not hasattr(bars, name):
        raise BarsFieldMissingError(f"bars.{name}: missing; {needed_by} need(s) it")
    arr = np.asarray(getattr(bars, name))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise BarsShapeError(f"bars.{name}: expected a 1-D array of length {n}, got shape {arr.shape}")
    return price_array(arr, name, allow_zero=allow_zero)
