"""Shared plumbing of the strategy modules: entry checks, the position state machine, shifting.

Internal: strategy modules call these so that every strategy function,
called directly or through :meth:`Strategy.run`, validates its parameters
and bar count the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numba import njit

from strategies.bar_field import bar_field
from strategies.align import check_aligned
from strategies.errors import InsufficientDataError
from strategies.params import ParamValue, validate_params
from strategies.registry import Strategy

__all__ = ["single_entry", "multi_entry", "position_state", "previous", "short_param_doc"]

#: the doc of every strategy's ``short`` switch
short_param_doc = "1: take short positions (target -1); 0: long-only (flat instead)"


def single_entry(record: Strategy, bars: object, params: Mapping[str, object]) -> tuple[dict[str, ParamValue], int]:
    """Validate ``params`` against ``record`` and the bar count; return (values, number of bars)."""
    values = validate_params(record, params)
    got = bar_field(bars, "close").shape[0]
    _check_bars(record, values, got)
    return values, got


def multi_entry(
    record: Strategy, bars: Sequence[object], params: Mapping[str, object],
) -> tuple[dict[str, ParamValue], int]:
    """Like :func:`single_entry` for a sequence of aligned bars; returns (values, bars per asset)."""
    values = validate_params(record, params)
    got = check_aligned(bars, record.min_assets, record.max_assets)
    _check_bars(record, values, got)
    return values, got


def _check_bars(record: Strategy, values: Mapping[str, ParamValue], got: int) -> None:
    needed = int(record.min_bars(values))
    if got < needed:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        raise InsufficientDataError(record.name, needed, got, why=f"with {shown}")


def previous(x: np.ndarray) -> np.ndarray:
    """``x`` shifted one bar later: ``out[t] = x[t-1]``, ``out[0] = NaN`` (float64)."""
    out = np.empty(x.shape[0], dtype=np.float64)
    if x.shape[0]:
        out[0] = np.nan
        out[1:] = x[:-1]
    return out


def position_state(
    enter_long: np.ndarray, exit_long: np.ndarray, enter_short: np.ndarray, exit_short: np.ndarray,
) -> np.ndarray:
    """Target per bar (1.0 long, 0.0 flat, -1.0 short) from event masks, starting flat.

    At bar ``t``, in this order: a long position closes when ``exit_long[t]``,
    a short one when ``exit_short[t]``; then, if flat, ``enter_long[t]``
    opens a long, else ``enter_short[t]`` a short. So one bar can close and
    reverse. Otherwise the previous target holds. Pass an all-False
    ``enter_short`` for a long-only strategy.
    """
    return _state_kernel(
        np.ascontiguousarray(enter_long, dtype=np.bool_), np.ascontiguousarray(exit_long, dtype=np.bool_),
        np.ascontiguousarray(enter_short, dtype=np.bool_), np.ascontiguousarray(exit_short, dtype=np.bool_),
    )


@njit(cache=True)
def _state_kernel(enter_long, exit_long, enter_short, exit_short):
    out = np.zeros(enter_long.shape[0])
    state = 0.0
    for t in range(enter_long.shape[0]):
        if state > 0 and exit_long[t]:
            state = 0.0
        elif state < 0 and exit_short[t]:
            state = 0.0
        if state == 0.0:
            if enter_long[t]:
                state = 1.0
            elif enter_short[t]:
                state = -1.0
        out[t] = state
    return out
