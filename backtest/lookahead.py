"""Lookahead checker: a strategy's target at bar ``t`` must not change when later bars are removed.

:func:`check_lookahead` runs a registered strategy on the full data and on
the data truncated after bar ``t`` for many ``t``, and requires the targets
of bars ``0..t`` to be *exactly* equal (NaN equal to NaN; no tolerance: a
causal computation on the same inputs gives the same bits). Any difference
means the target at some bar used data from after that bar (or the strategy
is not deterministic), and the report names the earliest offending bar.

Works for single-asset strategies (one bars object, targets ``(bars,)``)
and multi-asset ones (a sequence of aligned bars, targets ``(bars, assets)``).
Truncation uses ``bars.take(slice(0, t + 1))`` (:class:`market.bars.Bars`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from raytrader.errors import InputError
from strategies.params import validate_params
from strategies.registry import Strategy, get_strategy

__all__ = ["LookaheadReport", "LookaheadInputError", "check_lookahead", "DEFAULT_POINTS"]

#: default number of evenly spaced truncation points (as many again go next to target changes)
DEFAULT_POINTS = 25


class LookaheadInputError(InputError):
    """Bad arguments to :func:`check_lookahead` (the message names the argument)."""


@dataclass(frozen=True, kw_only=True)
class LookaheadReport:
    """Outcome of :func:`check_lookahead`.

    Attributes:
        strategy: the strategy's registry name.
        params: the parameters as given (missing ones took their defaults).
        n_bars: bars in the full data (per asset).
        points: truncation points checked, ascending: ``t`` means the data
            kept bars ``0..t``.
        ok: True when every truncated run matched the full run on its bars.
        first_bad_bar: the earliest bar whose target differed in some
            truncated run (None when ``ok``).
        first_bad_point: the smallest truncation point at which
            ``first_bad_bar`` differed.
        first_bad_time_ms: open time of ``first_bad_bar``, int64 ms UTC.
        full_value, truncated_value: the targets at ``first_bad_bar`` (one per
            asset) from the full and the truncated run.
        reason: one line for people; empty when ``ok``.
    """

    strategy: str
    params: Mapping[str, object] = field(default_factory=dict)
    n_bars: int
    points: tuple[int, ...]
    ok: bool
    first_bad_bar: int | None = None
    first_bad_point: int | None = None
    first_bad_time_ms: int | None = None
    full_value: tuple[float, ...] | None = None
    truncated_value: tuple[float, ...] | None = None
    reason: str = ""


def check_lookahead(
    strategy: Strategy | str,
    bars: object,
    params: Mapping[str, object] | None = None,
    points: int | Sequence[int] = DEFAULT_POINTS,
) -> LookaheadReport:
    """Check that ``strategy`` on ``bars`` uses no data from after each bar.

    ``points`` is either a count ``k`` (about ``k`` evenly spaced truncation
    points from the first bar the strategy accepts, plus up to ``k`` more
    at and just before bars where the full target changes, where a leak
    shows most) or explicit truncation points ``t`` (the data keeps bars
    ``0..t``; each ``t`` must satisfy ``min_bars - 1 <= t < n_bars``).

    Raises:
        LookaheadInputError: bad ``points``, or ``bars`` cannot be truncated.
        ParamError, InsufficientDataError, AssetCountError, ...: from the
            strategy on the full data.
    """
    record = strategy if isinstance(strategy, Strategy) else get_strategy(strategy)
    given = dict(params or {})
    full = np.asarray(record.run(bars, given), dtype=np.float64)
    series = tuple(bars) if record.multi_asset else (bars,)
    n_bars = int(full.shape[0])
    first_ok = max(0, int(record.min_bars(validate_params(record, given))) - 1)
    checked = _points(points, full, first_ok, n_bars)
    for b in series:
        if not callable(getattr(b, "take", None)):
            raise LookaheadInputError(f"bars: need objects with take(slice) to truncate, got {type(b).__name__}")
    full_rows = full.reshape(n_bars, -1)
    bad: tuple[int, int, np.ndarray] | None = None  # (bar, point, truncated row)
    for t in checked:
        cut = [b.take(slice(0, t + 1)) for b in series]
        got = np.asarray(record.run(cut if record.multi_asset else cut[0], given), dtype=np.float64)
        if got.shape[0] != t + 1 or got.reshape(t + 1, -1).shape[1] != full_rows.shape[1]:
            return LookaheadReport(
                strategy=record.name, params=given, n_bars=n_bars, points=checked, ok=False,
                reason=f"truncated at bar {t}: output shape {got.shape}, expected {(t + 1, *full.shape[1:])}")
        rows = got.reshape(t + 1, -1)
        ref = full_rows[: t + 1]
        same = (rows == ref) | (np.isnan(rows) & np.isnan(ref))
        differ = np.flatnonzero(~same.all(axis=1))
        if differ.size and (bad is None or differ[0] < bad[0]):
            bad = (int(differ[0]), t, rows[differ[0]])
    if bad is None:
        return LookaheadReport(strategy=record.name, params=given, n_bars=n_bars, points=checked, ok=True)
    bar, point, row = bad
    stamp = int(np.asarray(series[0].timestamp)[bar]) if hasattr(series[0], "timestamp") else None
    full_value = tuple(float(v) for v in full_rows[bar])
    trunc_value = tuple(float(v) for v in row)
    return LookaheadReport(
        strategy=record.name, params=given, n_bars=n_bars, points=checked, ok=False, first_bad_bar=bar,
        first_bad_point=point, first_bad_time_ms=stamp, full_value=full_value, truncated_value=trunc_value,
        reason=(f"{record.name}: target at bar {bar} is {full_value} on the full data but {trunc_value} "
                f"with data only up to bar {point}: it uses data from after bar {bar}"),
    )


def _points(points: int | Sequence[int], full: np.ndarray, first_ok: int, n_bars: int) -> tuple[int, ...]:
    last = n_bars - 1
    if isinstance(points, bool):
        raise LookaheadInputError(f"points: expected a count or a sequence of bar indices, got {points!r}")
    if isinstance(points, int | np.integer):
        count = int(points)
        if count < 1:
            raise LookaheadInputError(f"points: count must be >= 1, got {count}")
        if first_ok >= last:
            raise LookaheadInputError(
                f"points: the strategy needs {first_ok + 1} bars, so {n_bars} bars leave no truncation point")
        even = np.unique(np.linspace(first_ok, last - 1, num=count).round().astype(np.int64))
        rows = full.reshape(n_bars, -1)
        changes = np.flatnonzero((rows[1:] != rows[:-1]).any(axis=1)) + 1
        changes = changes[(changes >= first_ok) & (changes < last)]
        if changes.size > count:
            changes = changes[np.linspace(0, changes.size - 1, num=count).round().astype(np.int64)]
        near = np.concatenate((changes, changes - 1))
        near = near[(near >= first_ok) & (near < last)]
        return tuple(int(t) for t in np.unique(np.concatenate((even, near))))
    try:
        chosen = sorted({int(t) for t in points})
    except (TypeError, ValueError):
        raise LookaheadInputError(f"points: expected a count or a sequence of bar indices, got {points!r}") from None
    if not chosen:
        raise LookaheadInputError("points: no truncation points given")
    outside = [t for t in chosen if not first_ok <= t <= last]
    if outside:
        raise LookaheadInputError(
            f"points: {outside[0]} is outside [{first_ok}, {last}] (the strategy needs {first_ok + 1} bars; "
            f"the data has {n_bars})")
    return tuple(chosen)
