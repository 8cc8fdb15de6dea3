"""Volume-weighted momentum: follow the volume-weighted mean log return of the last ``n`` bars.

``m[t] = sum(v * r) / sum(v)`` over bars ``t-n+1 .. t`` with
``r[t] = log(close[t] / close[t-1])`` and ``v`` the bar volume, in bps per
bar (:func:`~strategies.indicators.vwap` of the returns). Target 1.0 when
``m[t] > threshold_bps``, -1.0 (0.0 when ``short=0``) when
``m[t] < -threshold_bps``, else 0.0 (no hysteresis). 0.0 while ``m`` is
undefined: the first ``n`` bars, or a window with zero volume.
``min_bars = n + 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from strategies.bar_field import bar_field
from strategies._common import short_param_doc, single_entry
from strategies.indicators import vwap
from strategies.params import ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["vw_momentum", "VW_MOMENTUM", "vw_mean_return_bps"]


def vw_momentum(bars: object, n: int = 48, threshold_bps: float = 1.0, short: int = 1) -> np.ndarray:
    """Target per bar in {-1, 0, 1} from the volume-weighted mean return (``n`` bars; threshold in bps per bar).

    Raises:
        ParamError: a parameter out of range or off its grid.
        InsufficientDataError: fewer than ``n + 1`` bars.
    """
    values, _ = single_entry(VW_MOMENTUM, bars, {"n": n, "threshold_bps": threshold_bps, "short": short})
    m = vw_mean_return_bps(bars, int(values["n"]))
    thr = float(values["threshold_bps"])
    out = np.zeros(m.shape[0])
    with np.errstate(invalid="ignore"):
        out[m > thr] = 1.0
        if values["short"]:
            out[m < -thr] = -1.0
    return out


def vw_mean_return_bps(bars: object, n: int) -> np.ndarray:
    """Volume-weighted mean of the last ``n`` log returns of ``bars.close``, bps per bar (NaN when undefined)."""
    close = bar_field(bars, "close")
    r = np.full(close.shape[0], np.nan)
    r[1:] = np.log(close[1:] / close[:-1]) * 1e4
    return vwap(r, bar_field(bars, "volume"), n)


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["n"]) + 1


VW_MOMENTUM: Strategy = register(
    Strategy(
        name="vw_momentum",
        doc="Volume-weighted momentum: long/short when the volume-weighted mean return passes +/- threshold.",
        fn=vw_momentum,
        params=(
            ParamSpec(name="n", kind="int", low=2, high=5000, default=48, doc="window, bars"),
            ParamSpec(name="threshold_bps", kind="float", low=0.0, high=100.0, step=0.25, default=1.0,
                      doc="entry threshold on the mean return, bps per bar"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(),
        min_bars=_min_bars,
    )
)
