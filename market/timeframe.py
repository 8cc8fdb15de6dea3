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

All times are UTC int64 milliseconds since the epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from raytrader.errors import InputError

__all__ = ["Timeframe", "parse_timeframe", "timeframe_ms", "grid_origin_ms", "is_aligned", "floor_to_grid", "UNIT_MS"]

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


def grid_origin_ms(value: str) -> int:
    """A timestamp (ms) on the bar grid of ``value``: 0, or 1970-01-05 (Monday) for weeks."""
    return parse_timeframe(value).origin_ms


def is_aligned(timestamp_ms: int, value: str) -> bool:
    """True when a bar of timeframe ``value`` may open at ``timestamp_ms``."""
    tf = parse_timeframe(value)
    return (int(timestamp_ms) - tf.origin_ms) % tf.ms == 0


def floor_to_grid(timestamp_ms: int, value: str) -> int:
    """The latest grid point of ``value`` at or before ``timestamp_ms`` (ms)."""
    tf = parse_timeframe(value)
    t = int(timestamp_ms)
    return t - (t - tf.origin_ms) % tf.ms
