"""EMA crossover regime: long while EMA(fast) is above EMA(slow), short (or flat) while below.

With ``d[t] = ema(close, fast)[t] - ema(close, slow)[t]``:

* target 1.0 from the first bar with ``d > 0``; -1.0 (0.0 when ``short=0``)
  from the first bar with ``d < 0``; ``d == 0`` keeps the previous target.
* 0.0 while ``d`` is NaN (the first ``slow - 1`` bars). Unlike
  :mod:`strategies.sma_cross`, the position follows the regime from the
  first bar where both EMAs exist; no fresh cross is needed.
* ``out[t]`` uses only ``close[:t + 1]``. ``min_bars = slow`` (one signal).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies._common import position_state, short_param_doc, single_entry
from strategies.indicators import ema
from strategies.params import Constraint, ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["ema_cross", "EMA_CROSS"]


def ema_cross(bars: object, fast: int = 12, slow: int = 26, short: int = 1) -> np.ndarray:
    """Target per bar in {-1, 0, 1} (``short=0``: {0, 1}) from the EMA regime of ``bars.close``.

    ``fast``/``slow`` are EMA spans in bars (``alpha = 2 / (span + 1)``).

    Raises:
        ParamError: a parameter out of its declared range, or ``fast >= slow``.
        InsufficientDataError: fewer than ``slow`` bars.
    """
    values, _ = single_entry(EMA_CROSS, bars, {"fast": fast, "slow": slow, "short": short})
    close = bar_field(bars, "close")
    d = ema(close, int(values["fast"])) - ema(close, int(values["slow"]))
    with np.errstate(invalid="ignore"):
        up, down = d > 0, d < 0
    return position_state(up, down, down & bool(values["short"]), up)


def _fast_below_slow(values: Mapping[str, ParamValue]) -> bool:
    return values["fast"] < values["slow"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["slow"])


EMA_CROSS: Strategy = register(
    Strategy(
        name="ema_cross",
        doc="EMA regime: long while EMA(fast) > EMA(slow), short (or flat) while below.",
        fn=ema_cross,
        params=(
            ParamSpec(name="fast", kind="int", low=2, high=500, default=12, doc="fast EMA span, bars"),
            ParamSpec(name="slow", kind="int", low=3, high=1000, default=26, doc="slow EMA span, bars"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(Constraint(description="fast < slow", predicate=_fast_below_slow, names=("fast", "slow")),),
        min_bars=_min_bars,
    )
)
