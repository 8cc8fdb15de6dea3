"""Bollinger mean reversion: fade closes outside the bands, exit at the middle band.

With bands ``bollinger(close, n, k)`` (middle = SMA, population std):

* go long when ``close[t] < lower[t]``; close the long when ``close[t] >= middle[t]``;
* go short (``short=1``) when ``close[t] > upper[t]``; close it when
  ``close[t] <= middle[t]``;
* flat while the bands are NaN (the first ``n - 1`` bars); ``min_bars = n``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies._common import position_state, short_param_doc, single_entry
from strategies.indicators import bollinger
from strategies.params import ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["bollinger_reversion", "BOLLINGER_REVERSION"]


def bollinger_reversion(bars: object, n: int = 20, k: float = 2.0, short: int = 1) -> np.ndarray:
    """Target per bar in {-1, 0, 1}; ``n`` in bars, ``k`` in standard deviations.

    Raises:
        ParamError: a parameter out of range or off its grid.
        InsufficientDataError: fewer than ``n`` bars.
    """
    values, _ = single_entry(BOLLINGER_REVERSION, bars, {"n": n, "k": k, "short": short})
    close = bar_field(bars, "close")
    bands = bollinger(close, int(values["n"]), float(values["k"]))
    with np.errstate(invalid="ignore"):
        enter_long = close < bands.lower
        exit_long = close >= bands.middle
        enter_short = (close > bands.upper) & bool(values["short"])
        exit_short = close <= bands.middle
    return position_state(enter_long, exit_long, enter_short, exit_short)


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["n"])


BOLLINGER_REVERSION: Strategy = register(
    Strategy(
        name="bollinger_reversion",
        doc="Bollinger mean reversion: long below the lower band, short above the upper, exit at the middle.",
        fn=bollinger_reversion,
        params=(
            ParamSpec(name="n", kind="int", low=2, high=1000, default=20, doc="band window, bars"),
            ParamSpec(name="k", kind="float", low=0.25, high=5.0, step=0.25, default=2.0,
                      doc="band half-width, standard deviations"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(),
        min_bars=_min_bars,
    )
)
