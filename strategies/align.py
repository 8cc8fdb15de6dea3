"""Aligning several bar series on common timestamps, for multi-asset strategies.

A multi-asset strategy takes a sequence of bars whose ``timestamp`` arrays
are identical (row ``t`` is the same instant for every asset) and returns a
2-D target array ``(bars, assets)``. :func:`align_series` builds such a
sequence from series with gaps by keeping only the timestamps every series
has; nothing is filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np

from strategies.errors import AssetCountError, MisalignedBarsError

__all__ = ["align_series", "check_aligned"]


def align_series(bars: Sequence[object]) -> tuple[object, ...]:
    """Each series restricted to the timestamps all of them share, in order.

    ``bars`` holds objects like :class:`market.bars.Bars` (a ``timestamp``
    int64 ms array and a ``take(index)`` method). The result has one entry
    per input, all with the same ``timestamp`` array (possibly empty).

    Raises:
        AssetCountError: ``bars`` is not a non-empty sequence.
        MisalignedBarsError: a series' timestamps are not strictly
            increasing (names ``bars[i]`` and the row).
    """
    stamps = _timestamps(bars)
    common = reduce(np.intersect1d, stamps)
    return tuple(b.take(np.isin(ts, common)) for b, ts in zip(bars, stamps, strict=True))


def check_aligned(bars: Sequence[object], min_assets: int = 1, max_assets: int | None = None) -> int:
    """Check ``bars`` is a sequence of ``min_assets..max_assets`` series on identical timestamps.

    Returns the number of rows (bars per asset).

    Raises:
        AssetCountError: not a sequence of bars, or the wrong number of series.
        MisalignedBarsError: timestamps unsorted, or different from ``bars[0]``'s
            (names the series and the first differing row).
    """
    stamps = _timestamps(bars)
    count = len(stamps)
    if count < min_assets or (max_assets is not None and count > max_assets):
        want = f"exactly {min_assets}" if max_assets == min_assets else (
            f"at least {min_assets}" if max_assets is None else f"{min_assets} to {max_assets}")
        raise AssetCountError(f"bars: expected {want} series, got {count}")
    ref = stamps[0]
    for i, ts in enumerate(stamps[1:], start=1):
        if ts.shape != ref.shape:
            raise MisalignedBarsError(
                f"bars[{i}]: {ts.shape[0]} rows but bars[0] has {ref.shape[0]}; align them with align_series()")
        diff = np.flatnonzero(ts != ref)
        if diff.size:
            row = int(diff[0])
            raise MisalignedBarsError(
                f"bars[{i}]: timestamp {int(ts[row])} at row {row} differs from bars[0]'s {int(ref[row])}; "
                "align them with align_series()")
    return int(ref.shape[0])


def _timestamps(bars: Sequence[object]) -> list[np.ndarray]:
    if isinstance(bars, (str, bytes)) or not isinstance(bars, Sequence) or hasattr(bars, "timestamp"):
        raise AssetCountError(f"bars: expected a sequence of bar series, got {type(bars).__name__}")
    if len(bars) == 0:
        raise AssetCountError("bars: expected at least one series, got none")
    out = []
    for i, b in enumerate(bars):
        if not hasattr(b, "timestamp"):
            raise AssetCountError(f"bars[{i}]: not a bar series (no timestamp), got {type(b).__name__}")
        ts = np.asarray(b.timestamp, dtype=np.int64)
        if ts.ndim != 1:
            raise MisalignedBarsError(f"bars[{i}]: timestamp must be 1-D, got shape {ts.shape}")
        bad = np.flatnonzero(np.diff(ts) <= 0)
        if bad.size:
            raise MisalignedBarsError(f"bars[{i}]: timestamps not strictly increasing at row {int(bad[0]) + 1}")
        out.append(ts)
    return out
