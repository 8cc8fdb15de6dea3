"""Multi-timeframe trend filter: a fast EMA signal taken only when the higher-timeframe trend agrees.

Base signal: ``fast_dir[t] = sign(ema(close, fast)[t] - ema(close, slow)[t])``
(0 while NaN). Higher timeframe (HTF): bars are grouped causally into bins of
``htf`` base bars on the base timeframe's grid (5m bars with ``htf=12`` give
1h bins starting on the hour; gaps are not filled, a bin holds the bars
present). A bin's close is its last present bar's close, and
``trend_dir[j] = sign(hclose[j] - ema(hclose, trend)[j])``.

**Completeness.** At base bar ``t`` only the latest *complete* bin is used:
bar ``t``'s own bin if bar ``t`` is its last slot (``timestamp[t] + bar_ms``
reaches the bin's end), else the bin before it. So a 1h bin is used from its
last 5m bar's close on, never earlier; its close is then known exactly.

Target: ``fast_dir[t]`` when it equals the HTF ``trend_dir`` of bar ``t``,
else 0.0; shorts (-1) only with ``short=1``. Needs ``bars.timestamp`` (int64
ms) and ``bars.timeframe`` (``"5m"``). ``min_bars = max(slow, htf * trend)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from raytrader.errors import InputError
from market.timeframe import parse_timeframe
from strategies.bar_field import bar_field
from strategies._common import short_param_doc, single_entry
from strategies.errors import BarsFieldError
from strategies.indicators import ema
from strategies.params import Constraint, ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["mtf_trend", "MTF_TREND", "htf_trend_direction"]


def mtf_trend(
    bars: object, fast: int = 12, slow: int = 26, htf: int = 12, trend: int = 20, short: int = 1,
) -> np.ndarray:
    """Target per bar in {-1, 0, 1}: the EMA(fast)/EMA(slow) direction, gated by the HTF trend.

    ``fast``/``slow`` are EMA spans in base bars; ``htf`` is the higher
    timeframe as a multiple of the base one; ``trend`` an EMA span in HTF bars.

    Raises:
        ParamError: a parameter out of range, or ``fast >= slow``.
        InsufficientDataError: fewer than ``max(slow, htf * trend)`` bars.
        BarsFieldError: ``bars`` lacks ``timestamp`` or a valid ``timeframe``.
    """
    values, _ = single_entry(MTF_TREND, bars, {"fast": fast, "slow": slow, "htf": htf, "trend": trend, "short": short})
    close = bar_field(bars, "close")
    d = ema(close, int(values["fast"])) - ema(close, int(values["slow"]))
    fast_dir = np.sign(np.nan_to_num(d, nan=0.0))
    trend_dir = htf_trend_direction(bars, int(values["htf"]), int(values["trend"]))
    out = np.where(fast_dir == trend_dir, fast_dir, 0.0)
    if not values["short"]:
        out = np.maximum(out, 0.0)
    return out


def htf_trend_direction(bars: object, htf: int, trend: int) -> np.ndarray:
    """Per base bar, the sign (-1, 0, 1) of ``hclose - ema(hclose, trend)`` of the latest complete HTF bin.

    0 where no complete bin exists yet or the EMA is still warming up. See
    the module docstring for the binning and completeness rules.
    """
    ts = _timestamps(bars)
    bar_ms, origin = _grid(bars)
    close = bar_field(bars, "close")
    size = ts.shape[0]
    out = np.zeros(size)
    if size == 0:
        return out
    bin_ms = htf * bar_ms
    label = ts - (ts - origin) % bin_ms
    new_bin = np.empty(size, dtype=bool)
    new_bin[0] = True
    new_bin[1:] = label[1:] != label[:-1]
    bin_of = np.cumsum(new_bin) - 1  # bin index of each bar
    last_bar = np.append(np.flatnonzero(new_bin)[1:] - 1, size - 1)  # last present bar of each bin
    hclose = close[last_bar]
    hdir = np.sign(np.nan_to_num(hclose - ema(hclose, trend), nan=0.0))
    complete = ts + bar_ms >= label + bin_ms
    usable = np.where(complete, bin_of, bin_of - 1)
    has = usable >= 0
    out[has] = hdir[usable[has]]
    return out


def _timestamps(bars: object) -> np.ndarray:
    if not hasattr(bars, "timestamp"):
        raise BarsFieldError("bars.timestamp: missing; mtf_trend needs bar open times (int64 ms)")
    ts = np.asarray(bars.timestamp, dtype=np.int64)
    if ts.ndim != 1:
        raise BarsFieldError(f"bars.timestamp: expected a 1-D array, got shape {ts.shape}")
    return ts


def _grid(bars: object) -> tuple[int, int]:
    text = getattr(bars, "timeframe", None)
    try:
        tf = parse_timeframe(text)
    except (InputError, TypeError, AttributeError):
        raise BarsFieldError(f"bars.timeframe: mtf_trend needs a timeframe like '5m', got {text!r}") from None
    return tf.ms, tf.origin_ms


def _fast_below_slow(values: Mapping[str, ParamValue]) -> bool:
    return values["fast"] < values["slow"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return max(int(values["slow"]), int(values["htf"]) * int(values["trend"]))


MTF_TREND: Strategy = register(
    Strategy(
        name="mtf_trend",
        doc="EMA(fast)/EMA(slow) direction, taken only when the trend of `htf`-times-longer bars agrees.",
        fn=mtf_trend,
        params=(
            ParamSpec(name="fast", kind="int", low=2, high=500, default=12, doc="fast EMA span, base bars"),
            ParamSpec(name="slow", kind="int", low=3, high=1000, default=26, doc="slow EMA span, base bars"),
            ParamSpec(name="htf", kind="int", low=2, high=1000, default=12,
                      doc="higher timeframe as a multiple of the base timeframe"),
            ParamSpec(name="trend", kind="int", low=2, high=500, default=20, doc="trend EMA span, HTF bars"),
            ParamSpec(name="short", kind="int", low=0, high=1, default=1, doc=short_param_doc),
        ),
        constraints=(Constraint(description="fast < slow", predicate=_fast_below_slow, names=("fast", "slow")),),
        min_bars=_min_bars,
    )
)
