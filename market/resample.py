"""Resampling bars to a coarser timeframe.

Aggregation per bin: open = first open, high = max high, low = min low,
close = last close, volume = sum of volumes. A bin is labelled by its left
edge (open time) on the target grid (epoch multiples; weeks from Monday
1970-01-05, see :mod:`market.timeframe`). Bins without source bars are not
created, so gaps stay gaps. Bins at the edges of the data (or next to a gap)
may hold fewer source bars than a full bin; they are kept, not dropped.
"""

from __future__ import annotations

import numpy as np

from market.bars import Bars
from raytrader.errors import InputError
from market.timeframe import parse_timeframe
from market.validate import validate_bars

__all__ = ["resample"]


def resample(bars: Bars, timeframe: str) -> Bars:
    """Aggregate ``bars`` into ``timeframe`` bars (a whole multiple of ``bars.timeframe``).

    The input is validated first and the result validates. Raises
    :class:`InputError` for a finer target, a target that is not a whole
    multiple of the source, or grids that do not nest (e.g. ``1w`` to
    ``14d``, whose bins start on Thursdays while weeks start on Mondays).
    """
    if not isinstance(bars, Bars):
        raise InputError(f"resample expects Bars, got {type(bars).__name__}")
    src = parse_timeframe(bars.timeframe)
    dst = parse_timeframe(timeframe)
    if dst.ms < src.ms:
        raise InputError(f"cannot resample {src.text} bars to the finer timeframe {dst.text}")
    if dst.ms % src.ms != 0:
        raise InputError(f"cannot resample {src.text} bars to {dst.text}: {dst.text} is not a whole multiple of {src.text}")
    if (dst.origin_ms - src.origin_ms) % src.ms != 0:
        raise InputError(
            f"cannot resample {src.text} bars to {dst.text}: the {dst.text} bins do not start on {src.text} bar boundaries")
    validate_bars(bars, source=f"resample input {bars.symbol} {bars.timeframe}")
    if len(bars) == 0:
        return bars.with_meta(timeframe=dst.text)
    ts = bars.timestamp
    label = ts - (ts - dst.origin_ms) % dst.ms
    starts = np.concatenate(([0], np.flatnonzero(np.diff(label)) + 1))
    ends = np.concatenate((starts[1:], [len(ts)]))
    out = Bars(
        timestamp=label[starts],
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[ends - 1],
        volume=np.add.reduceat(bars.volume, starts),
        symbol=bars.symbol, timeframe=dst.text, venue=bars.venue,
    )
    validate_bars(out, source=f"resampled {bars.symbol} {dst.text}")
    return out
