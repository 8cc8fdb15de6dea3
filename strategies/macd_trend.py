"""MACD trend: long while the MACD histogram is positive, short (or flat) while negative.

With ``h = macd(close, fast, slow, signal).histogram``: target 1.0 from a bar
with ``h > 0``, -1.0 (0.0 when ``short=0``) from a bar with ``h < 0``,
unchanged when ``h == 0``; flat while ``h`` is NaN (the first
``slow + signal - 2`` bars), so ``min_bars = slow + signal - 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies._common import position_state, short_param_doc, single_entry
from strategies.indicators import macd
from strategies.params import Constraint, ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["macd_trend", "MACD_TREND"]


def macd_trend(bars: object, fast: int = 12, slow: int = 26, signal: int = 9, short: int = 1) -> np.ndarray:
    """Target per bar in {-1, 0, 1} from the sign of the MACD histogram of ``bars.close`` (spans in bars).

    Raises:
        ParamError: a parameter out of range, or ``fast >= slow``.
        InsufficientDataError: fewer than ``slow + signal - 1`` bars.
    """
    values, _ = single_entry(MACD_TREND, bars, {"fast": fast, "slow": slow, "signal": signal, "short": short})
    hist = macd(bar_field(bars, "close"), int(values["fast"]), int(values["slow"]), int(values["signal"])).histogram
    with np.errstate(invalid="ignore"):
        up, down = hist > 0, hist < 0
    return position_state(up, down, down & bool(values["short"]), up)


def _fast_below_slow(values: Mapping[str, ParamValue]) -> bool:
    return values["fast"] < values["slow"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["slow"]) + int(values["signal"]) - 1


MACD_TREND: Strategy = register(
    Strategy(
        name="macd_trend",
        doc="MACD trend: long while the histogram (MACD line - signal) is positive, short while negative.",
        fn=macd_trend,
        params=(
            ParamSpec(name="fast", kind="int", low=2, high=500, default=12, doc="fast EMA span, bars"),
            ParamSpec(name="slow", kind="int", low=3, high=1000, default=26, doc="slow EMA span, bars"),
            ParamSpec(name="signal", kind="int", low=1, high=500, default=9, doc="signal EMA span, bars"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(Constraint(description="fast < slow", predicate=_fast_below_slow, names=("fast", "slow")),),
        min_bars=_min_bars,
    )
)
