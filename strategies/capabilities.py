"""Capabilities a strategy record may declare, so that a faster evaluator can serve it.

A capability is a promise about what the strategy function computes, stated
as data on its :class:`strategies.registry.Strategy` record (as freqtrade's
exchange classes declare theirs in ``_ft_has``). An evaluator that knows the
capability (the batched sweep kernel in :mod:`backtest.crossover_sweep`) may
then compute many configurations at once instead of calling ``fn`` once per
configuration, and must give the same numbers. A strategy without a
capability is evaluated the reference way; nothing is chosen by name.

This module knows nothing of the evaluators (they live above it, in
``backtest``). Pure: no ``import ray``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["MovingAverageCross"]


@dataclass(frozen=True, kw_only=True)
class MovingAverageCross:
    """The strategy is the long-only crossover of two moving averages of ``close``.

    Declaring it promises, for every valid parameter dict ``p``, with
    ``d[t] = average(close, p[fast])[t] - average(close, p[slow])[t]``:

    * ``fn(bars, **p)[t]`` is 1.0 from a bar where ``d[t] > 0`` and
      ``d[t-1] <= 0`` (an up-cross), 0.0 from a bar where ``d[t] < 0`` and
      ``d[t-1] >= 0`` (a down-cross), the previous value otherwise, and 0.0
      before the first cross (NaN rows never cross);
    * it depends on ``p[fast]`` and ``p[slow]`` only, both int windows in
      bars, ``p[fast] < p[slow]``, and ``min_bars(p) == p[slow] + 1``.

    Attributes:
        average: ``average(x, n) -> float64 array``, the very moving average
            ``fn`` uses (e.g. :func:`strategies.indicators.sma`), NaN during
            its warm-up.
        fast: name of the fast window parameter.
        slow: name of the slow window parameter.
    """

    average: Callable[[np.ndarray, int], np.ndarray]
    fast: str = "fast"
    slow: str = "slow"
