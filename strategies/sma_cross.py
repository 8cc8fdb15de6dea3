"""Long-only moving-average crossover: long after SMA(fast) crosses above SMA(slow).

Contract (stable; backtests, Tune, the live runner and Serve rely on it), with
``d[t] = sma(close, fast)[t] - sma(close, slow)[t]``:

* enter (target 1.0) at bar ``t`` when ``d[t] > 0`` and ``d[t-1] <= 0``;
* exit (target 0.0) at bar ``t`` when ``d[t] < 0`` and ``d[t-1] >= 0``;
* otherwise keep the previous target; flat (0.0) until the first cross. A
  fast SMA already above the slow one when both first exist is not a cross.
* ``out[t]`` uses only ``close[:t + 1]``; the engine fills it at bar
  ``t + 1``'s open by default.

The first bar where both SMAs exist on this bar and the previous one is
``slow``, hence ``min_bars = slow + 1``. The record declares this contract as
a :class:`strategies.capabilities.MovingAverageCross`, which lets a sweep run
its configurations in one batched kernel (:mod:`backtest.crossover_sweep`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies.capabilities import MovingAverageCross
from strategies.errors import InsufficientDataError
from strategies.indicators import sma
from strategies.params import Constraint, ParamSpec, ParamValue, validate_params
from strategies.registry import Strategy, register

__all__ = ["sma_cross", "SMA_CROSS"]


def sma_cross(bars: object, fast: int, slow: int) -> np.ndarray:
    """Target position per bar (1.0 long, 0.0 flat) from the SMA crossover of ``bars.close``.

    ``fast`` and ``slow`` are window lengths in bars (validated as declared in
    :data:`SMA_CROSS`: ints, 2 <= fast <= 500, 2 <= slow <= 1000, fast < slow).

    Raises:
        ParamError: bad ``fast``/``slow``.
        InsufficientDataError: fewer than ``slow + 1`` bars.
        BarsFieldError: ``bars`` has no 1-D ``close``.
    """
    values = validate_params(SMA_CROSS, {"fast": fast, "slow": slow})
    fast_n, slow_n = int(values["fast"]), int(values["slow"])
    close = bar_field(bars, "close")
    needed = _min_bars(values)
    if close.shape[0] < needed:
        raise InsufficientDataError("sma_cross", needed, close.shape[0], why=f"slow + 1 with slow={slow_n}")
    diff = sma(close, fast_n) - sma(close, slow_n)
    return _cross_state(diff)


def _cross_state(diff: np.ndarray) -> np.ndarray:
    """1.0/0.0 state machine over crossings of ``diff`` through zero (NaN rows never cross)."""
    prev = np.empty_like(diff)
    prev[0] = np.nan
    prev[1:] = diff[:-1]
    with np.errstate(invalid="ignore"):
        enter = (diff > 0) & (prev <= 0)
        leave = (diff < 0) & (prev >= 0)
    events = np.flatnonzero(enter | leave)
    out = np.zeros(diff.shape[0])
    if events.size == 0:
        return out
    # the state after each event holds until the next event
    last = np.zeros(diff.shape[0], dtype=np.int64)
    last[events] = events
    np.maximum.accumulate(last, out=last)
    seen = np.arange(diff.shape[0]) >= events[0]
    out[seen] = enter[last[seen]].astype(np.float64)
    return out


def _fast_below_slow(values: Mapping[str, ParamValue]) -> bool:
    return values["fast"] < values["slow"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["slow"]) + 1


SMA_CROSS: Strategy = register(
    Strategy(
        name="sma_cross",
        doc="Long-only SMA crossover: long after SMA(fast) crosses above SMA(slow), flat after it crosses below.",
        fn=sma_cross,
        params=(
            ParamSpec(name="fast", kind="int", low=2, high=500, default=10, doc="fast SMA window, bars"),
            ParamSpec(name="slow", kind="int", low=2, high=1000, default=30, doc="slow SMA window, bars"),
        ),
        constraints=(Constraint(description="fast < slow", predicate=_fast_below_slow, names=("fast", "slow")),),
        min_bars=_min_bars,
        batched=MovingAverageCross(average=sma, fast="fast", slow="slow"),
    )
)
