"""Round-trip trades produced by the engine, and their JSON form.

A :class:`Trade` is one position from entry fill to exit fill. Times are
int64 milliseconds since the epoch, UTC; prices are in the quote currency
per unit; ``units`` is the (positive) base-currency amount held.

A trade that was resized while open (fractional targets) reports
unit-weighted average entry and exit prices and the total units added; see
:mod:`backtest.engine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from backtest.errors import TradeFieldError

__all__ = ["Trade", "trade_to_json", "ms_to_iso", "EXIT_REASONS", "ExitReason"]

ExitReason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "open", "liquidation"]

#: why a trade ended: a target change, one of the three stops, ``"open"`` (not ended; marked at the last close),
#: or ``"liquidation"`` (the account's equity reached 0: see "Ruin" in :mod:`backtest.engine`)
EXIT_REASONS: tuple[str, ...] = ("signal", "stop_loss", "take_profit", "trailing_stop", "open", "liquidation")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Trade:
    """One round trip (or a still-open position).

    Attributes:
        entry_time: fill time of the entry, ms UTC (the fill bar's timestamp).
        exit_time: fill time of the exit, ms UTC; ``None`` while still open.
        entry_price: fill price of the entry (no fee included); the
            unit-weighted average when the position was added to.
        exit_price: fill price of the exit (average over reducing fills);
            ``None`` while still open.
        side: ``"long"`` or ``"short"``.
        units: size in base-currency units, > 0 (the sign is in ``side``);
            the total added when the position was resized.
        pnl: profit in quote currency after fees on both sides
            (``units * (exit - entry)`` for a long, ``units * (entry - exit)``
            for a short, minus entry and exit fees).
            For an open trade: marked at the last close, entry fee only.
        return_pct: ``pnl / (units * entry_price)`` in percent
            (2.5 means +2.5 %); the same ratio as vectorbt's trade ``return``,
            times 100.
        exit_reason: one of :data:`EXIT_REASONS`; not part of the JSON form.
    """

    entry_time: int
    exit_time: int | None
    entry_price: float
    exit_price: float | None
    side: Literal["long", "short"]
    units: float
    pnl: float
    return_pct: float
    exit_reason: ExitReason = "signal"

    def __post_init__(self) -> None:
        if self.exit_reason not in EXIT_REASONS:
            raise TradeFieldError(f"exit_reason: expected one of {', '.join(EXIT_REASONS)}, got {self.exit_reason!r}")
        if self.side not in ("long", "short"):
            raise TradeFieldError(f"side: expected 'long' or 'short', got {self.side!r}")
        if (self.exit_time is None) != (self.exit_price is None):
            raise TradeFieldError("exit_time/exit_price: both must be set (closed) or both None (open)")
        if not (math.isfinite(self.units) and self.units > 0):
            raise TradeFieldError(f"units: expected a finite number > 0, got {self.units!r}")
        if not (math.isfinite(self.entry_price) and self.entry_price > 0):
            raise TradeFieldError(f"entry_price: expected a finite number > 0, got {self.entry_price!r}")
        if self.exit_time is not None and self.exit_time < self.entry_time:
            raise TradeFieldError(f"exit_time: {self.exit_time} is before entry_time {self.entry_time}")

    @property
    def is_open(self) -> bool:
        """True while the position has not been exited."""
        return self.exit_time is None


def ms_to_iso(ms: int) -> str:
    """ISO-8601 UTC text of an epoch-ms time: ``"2018-01-10T00:05:00Z"``; milliseconds shown only when non-zero."""
    moment = _EPOCH + timedelta(milliseconds=int(ms))
    millis = int(ms) % 1000
    frac = f".{millis:03d}" if millis else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def trade_to_json(trade: Trade) -> dict[str, object]:
    """JSON-ready dict of ``trade``: times as ISO-8601 UTC strings, ``None`` (null) exit fields while open."""
    return {
        "entry_time": ms_to_iso(trade.entry_time),
        "exit_time": None if trade.exit_time is None else ms_to_iso(trade.exit_time),
        "entry_price": float(trade.entry_price),
        "exit_price": None if trade.exit_price is None else float(trade.exit_price),
        "side": trade.side,
        "units": float(trade.units),
        "pnl": float(trade.pnl),
        "return_pct": float(trade.return_pct),
    }
