"""Execution algorithms as child-order schedules: TWAP and iceberg. Pure.

A schedule turns a parent order into child orders; the order manager sends
them (each a normal order with a deterministic client order id derived from
the parent's, journaled as a child of it) and, for an iceberg, replaces the
visible clip when it fills (cancel-replace on the remainder).

* **TWAP**: ``qty`` split into ``slices`` children evenly spaced over
  ``[start_ms, end_ms)``; each child is a whole number of lots, sizes differ
  by at most one lot, and they sum to the parent exactly (the lots left after
  an even split go to the earliest children).
* **Iceberg**: a resting limit order showing at most ``display`` base units;
  :func:`iceberg_next` says what to show next given what has filled so far.

Units: quantities in base units, times in UTC ms. Invariants: every child is
a positive multiple of ``step``; ``sum(children) == round_down(qty, step)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from raytrader.errors import InputError

__all__ = ["AlgoError", "ChildSlice", "twap_schedule", "IcebergState", "iceberg_next", "child_client_id"]


class AlgoError(InputError):
    """An algorithm parameter (named in the message) is invalid."""


@dataclass(frozen=True)
class ChildSlice:
    """Child ``index`` of a parent: send ``qty`` base units at ``at_ms``."""

    index: int
    at_ms: int
    qty: float


def _lots(qty: float, step: float, what: str) -> int:
    if not (math.isfinite(qty) and qty > 0):
        raise AlgoError(f"{what}: quantity must be a finite number > 0, got {qty!r}")
    if not (math.isfinite(step) and step > 0):
        raise AlgoError(f"{what}: step must be a finite number > 0, got {step!r}")
    return math.floor(qty / step + 1e-9)


def twap_schedule(qty: float, start_ms: int, end_ms: int, slices: int, step: float = 1e-8) -> tuple[ChildSlice, ...]:
    """Children of a TWAP parent (module docstring). Fewer than ``slices`` children when there are fewer lots."""
    lots = _lots(qty, step, "twap")
    if not isinstance(slices, int) or slices < 1:
        raise AlgoError(f"twap: slices must be an integer >= 1, got {slices!r}")
    if end_ms <= start_ms:
        raise AlgoError(f"twap: end_ms {end_ms} must be after start_ms {start_ms}")
    n = min(slices, lots)
    if n == 0:
        return ()
    base, extra = divmod(lots, n)
    span = (end_ms - start_ms) / n
    return tuple(ChildSlice(i, start_ms + int(round(i * span)), (base + (1 if i < extra else 0)) * step)
                 for i in range(n))


@dataclass(frozen=True)
class IcebergState:
    """An iceberg parent: ``total`` and ``display`` (base units), ``filled`` so far, the current clip's
    ``shown`` size (0 when none rests) and how many clips were sent."""

    total: float
    display: float
    step: float = 1e-8
    filled: float = 0.0
    shown: float = 0.0
    clips: int = 0

    def __post_init__(self) -> None:
        _lots(self.total, self.step, "iceberg total")
        if _lots(self.display, self.step, "iceberg display") < 1:
            raise AlgoError(f"iceberg: display {self.display!r} is below one lot ({self.step!r})")
        if not 0 <= self.filled <= self.total + 1e-12:
            raise AlgoError(f"iceberg: filled {self.filled!r} must be within 0..total")


def iceberg_next(state: IcebergState, clip_filled: float) -> tuple[IcebergState, float]:
    """After the resting clip filled ``clip_filled`` more: the new state and the size of the clip to show
    next (0 when the parent is done or the current clip still rests)."""
    if clip_filled < 0 or clip_filled > state.shown + 1e-12:
        raise AlgoError(f"iceberg: clip_filled {clip_filled!r} must be within 0..shown ({state.shown!r})")
    filled = state.filled + clip_filled
    shown = state.shown - clip_filled
    if shown > state.step / 2:  # the clip still rests, partly filled: nothing new to show
        return IcebergState(state.total, state.display, state.step, filled, shown, state.clips), 0.0
    left_lots = _lots(state.total - filled, state.step, "iceberg") if state.total - filled > state.step / 2 else 0
    clip = min(left_lots, _lots(state.display, state.step, "iceberg display")) * state.step
    return IcebergState(state.total, state.display, state.step, filled, clip, state.clips + (clip > 0)), clip


def child_client_id(parent_client_id: str, index: int) -> str:
    """The deterministic client order id of child ``index`` of a parent (a restart re-derives the same)."""
    if index < 0:
        raise AlgoError(f"child index {index!r} must be >= 0")
    return f"{parent_client_id}-c{index}"
