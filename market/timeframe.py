"""Bar timeframes in ccxt's unified form (``1m``, ``5m``, ``1h``, ``4h``, ``1d``, ``1w``).

A timeframe is ``<positive integer><unit>`` with unit ``s`` (second), ``m``
(minute), ``h`` (hour), ``d`` (day) or ``w`` (week). Units are case-sensitive
as in ccxt: ``1M`` is a calendar month there, which has no fixed length, so it
is rejected here rather than silently read as one minute.

Grid (where a bar of a timeframe may start), the same rule as
``ccxt.Exchange.round_timeframe`` in ccxt 4.5.90 and Binance's klines:

* ``s``/``m``/``h``/``d``: multiples of the timeframe since the Unix epoch,
  ``ts % tf_ms == 0`` (so ``1d`` bars open at 00:00 UTC, ``3d`` bars on the
  epoch-based 3-day grid).
* ``w``: weeks open on Monday 00:00 UTC. The epoch (1970-01-01) was a
  Thursday, so the grid is counted from Monday 1970-01-05:
  ``(ts - 4 * 86_400_000) % tf_ms == 0``.

Inference (:func:`infer_timeframe`): a series that does not say its
timeframe gets the most common positive spacing between its timestamps, so
weekends, holidays and missing bars (spacings of several bars) do not change
it. The API, every ``--data`` command and ``raytrader data`` use this one
function.

All times are UTC int64 milliseconds since the epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from raytrader.errors import InputError

__all__ = ["Timeframe", "parse_timeframe", "timeframe_ms", "is_aligned", "floor_to_grid", "UNIT_MS",
           "INFERRED_TIMEFRAMES", "infer_timeframe", "timeframe_for_ms", "fitting_timeframe", "TimeframeInferenceError"]

#: milliseconds per unit
UNIT_MS: dict[str, int] = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}

#: first Monday after the epoch (1970-01-05 00:00 UTC): origin of the weekly grid
_WEEK_ORIGIN_MS = 4 * 86_400_000

_PATTERN = re.compile(r"([1-9][0-9]{0,5})([smhdw])")


@dataclass(frozen=True)
class Timeframe:
    """A parsed timeframe.

    Attributes:
        text: the unified string, e.g. ``"5m"``.
        ms: bar length in milliseconds (> 0).
        origin_ms: a timestamp on the grid (0 for s/m/h/d, 1970-01-05 for w);
            bars start at ``origin_ms + k * ms`` for integer ``k``.
    """

    text: str
    ms: int
    origin_ms: int


def parse_timeframe(value: str) -> Timeframe:
    """Parse ``"5m"`` into a :class:`Timeframe`; raise :class:`InputError` naming a bad value."""
    if not isinstance(value, str):
        raise InputError(f"timeframe {value!r} is not a string like '1m', '5m', '1h', '1d' or '1w'")
    match = _PATTERN.fullmatch(value.strip())
    if match is None:
        hint = " ('M' months have no fixed length and are not supported)" if value.strip().endswith(("M", "y")) else ""
        raise InputError(
            f"timeframe {value!r} is not valid: expected <number><unit> with unit one of s, m, h, d, w "
            f"(e.g. 1m, 5m, 1h, 4h, 1d, 1w){hint}"
        )
    amount, unit = int(match.group(1)), match.group(2)
    return Timeframe(text=f"{amount}{unit}", ms=amount * UNIT_MS[unit], origin_ms=_WEEK_ORIGIN_MS if unit == "w" else 0)


def timeframe_ms(value: str) -> int:
    """Length of one bar of ``value`` in milliseconds: ``timeframe_ms("5m") == 300_000``."""
    return parse_timeframe(value).ms


def is_aligned(timestamp_ms: int, value: str) -> bool:
    """True when a bar of timeframe ``value`` may open at ``timestamp_ms``."""
    tf = parse_timeframe(value)
    return (int(timestamp_ms) - tf.origin_ms) % tf.ms == 0


def floor_to_grid(timestamp_ms: int, value: str) -> int:
    """The latest grid point of ``value`` at or before ``timestamp_ms`` (ms)."""
    tf = parse_timeframe(value)
    t = int(timestamp_ms)
    return t - (t - tf.origin_ms) % tf.ms


#: timeframes :func:`infer_timeframe` chooses in its lenient mode (ccxt's usual unified set; ``1M`` has no fixed length)
INFERRED_TIMEFRAMES = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")


class TimeframeInferenceError(InputError):
    """The timestamps do not show a timeframe (fewer than two bars, or no whole-second spacing)."""


def timeframe_for_ms(ms: int) -> str | None:
    """The unified timeframe of a bar length: ``3_600_000 -> "1h"``, ``90_000 -> "90s"``.

    The largest unit that divides ``ms`` exactly is used (``7d`` stays ``1w``
    only when it is a whole number of weeks); None for a length that is not a
    positive whole number of seconds or needs more than six digits.
    """
    ms = int(ms)
    if ms <= 0 or ms % 1000:
        return None
    for unit in ("w", "d", "h", "m", "s"):
        size = UNIT_MS[unit]
        if ms % size == 0 and ms // size < 1_000_000:
            return f"{ms // size}{unit}"
    return None


def _mode_spacing_ms(ts: np.ndarray) -> int | None:
    """The most common positive spacing (ms; the smaller one on a tie), None without a positive delta."""
    if ts.shape[0] < 2:
        return None
    d = np.diff(ts)
    positive = d[d > 0]
    if positive.shape[0] == 0:
        return None
    values, counts = np.unique(positive, return_counts=True)
    return int(values[int(np.argmax(counts))])


def _fits(ts: np.ndarray, tf: Timeframe) -> bool:
    d = np.diff(ts)
    return not ((d <= 0).any() or (d % tf.ms).any() or ((ts - tf.origin_ms) % tf.ms).any())


def fitting_timeframe(timestamp: np.ndarray) -> str | None:
    """The longest of :data:`INFERRED_TIMEFRAMES` whose grid holds every timestamp with every delta a
    whole multiple of it (e.g. ``30m`` for hourly bars that open at half past), or None."""
    ts = np.asarray(timestamp, dtype=np.int64)
    for text in reversed(INFERRED_TIMEFRAMES):
        if _fits(ts, parse_timeframe(text)):
            return text
    return None


def infer_timeframe(timestamp: np.ndarray, *, strict: bool = False) -> str:
    """The timeframe of ``timestamp`` (int64 UTC ms) from its most common positive spacing.

    Lenient (the default, used by the API): the spacing's timeframe when it
    is one of :data:`INFERRED_TIMEFRAMES`, every delta is a positive whole
    multiple of it and every timestamp is on its grid; else ``"1s"``. The
    result never changes which series validate (a series on the inferred
    grid is on the ``1s`` grid too); fewer than two bars give ``"1s"``.

    Strict (files: ``--data``, ``raytrader data``): the spacing's timeframe
    whenever it is a whole number of seconds, fitting or not, so that
    validation then names the row that breaks it (unsorted, off the grid, a
    delta that is not a whole number of bars). Raises
    :class:`TimeframeInferenceError` when there is no such spacing.
    """
    ts = np.asarray(timestamp, dtype=np.int64)
    mode = _mode_spacing_ms(ts)
    if strict:
        text = None if mode is None else timeframe_for_ms(mode)
        if text is None:
            why = (f"only {ts.shape[0]} bar(s)" if ts.shape[0] < 2 else
                   "no two timestamps increase" if mode is None else
                   f"the most common spacing, {mode} ms, is not a whole number of seconds")
            raise TimeframeInferenceError(f"cannot infer the timeframe from the timestamps ({why}); "
                                          "pass --timeframe (e.g. --timeframe 1d)")
        return text
    if mode is None or mode == 1000:
        return "1s"
    text = timeframe_for_ms(mode)
    if text not in INFERRED_TIMEFRAMES:
        return "1s"
    return text if _fits(ts, parse_timeframe(text)) else "1s"
