"""RSI mean reversion: buy oversold, sell overbought, close at the midline.

With ``r = rsi(close, n)`` (Wilder):

* go long when ``r[t] < lower``; close the long when ``r[t] >= mid``;
* go short (``short=1``) when ``r[t] > upper``; close it when ``r[t] <= mid``;
* flat while ``r`` is NaN (the first ``n`` bars); ``min_bars = n + 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies._common import position_state, short_param_doc, single_entry
from strategies.indicators import rsi
from strategies.params import Constraint, ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["rsi_reversion", "RSI_REVERSION"]


def rsi_reversion(
    bars: object, n: int = 14, lower: float = 30.0, mid: float = 50.0, upper: float = 70.0, short: int = 1,
) -> np.ndarray:
    """Target per bar in {-1, 0, 1} from RSI thresholds (RSI points, 0..100).

    Raises:
        ParamError: a parameter out of range, or not ``lower < mid < upper``.
        InsufficientDataError: fewer than ``n + 1`` bars.
    """
    values, _ = single_entry(
        RSI_REVERSION, bars, {"n": n, "lower": lower, "mid": mid, "upper": upper, "short": short})
    r = rsi(bar_field(bars, "close"), int(values["n"]))
    with np.errstate(invalid="ignore"):
        enter_long = r < values["lower"]
        exit_long = r >= values["mid"]
        enter_short = (r > values["upper"]) & bool(values["short"])
        exit_short = r <= values["mid"]
    return position_state(enter_long, exit_long, enter_short, exit_short)


def _ordered(values: Mapping[str, ParamValue]) -> bool:
    return values["lower"] < values["mid"] < values["upper"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["n"]) + 1


RSI_REVERSION: Strategy = register(
    Strategy(
        name="rsi_reversion",
        doc="RSI mean reversion: long below `lower`, short above `upper`, flat again at `mid`.",
        fn=rsi_reversion,
        params=(
            ParamSpec(name="n", kind="int", low=2, high=500, default=14, doc="RSI period, bars"),
            ParamSpec(name="lower", kind="float", low=1.0, high=99.0, step=0.5, default=30.0,
                      doc="oversold level, RSI points"),
            ParamSpec(name="mid", kind="float", low=1.0, high=99.0, step=0.5, default=50.0,
                      doc="exit level, RSI points"),
            ParamSpec(name="upper", kind="float", low=1.0, high=99.0, step=0.5, default=70.0,
                      doc="overbought level, RSI points"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(Constraint(description="lower < mid < upper", predicate=_ordered,
                                names=("lower", "mid", "upper")),),
        min_bars=_min_bars,
    )
)
