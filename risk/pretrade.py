"""Pre-trade risk: pure checks an order must pass before it is sent.

(Filled in below: types first, rules next.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["TradingState", "RiskReason", "RiskDecision"]


class TradingState(str, Enum):
    """ACTIVE: all orders checked as usual. REDUCING: only orders that shrink exposure pass.
    HALTED: no new order or modify passes; cancels always do."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class RiskReason(str, Enum):
    """Why a decision came out as it did: ``APPROVED``, or the rule that denied."""

    APPROVED = "APPROVED"
    TRADING_HALTED = "TRADING_HALTED"
    REDUCING_WOULD_INCREASE_EXPOSURE = "REDUCING_WOULD_INCREASE_EXPOSURE"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    NOTIONAL_EXCEEDS_MAX_PER_ORDER = "NOTIONAL_EXCEEDS_MAX_PER_ORDER"
    POSITION_EXCEEDS_MAX_PER_SYMBOL = "POSITION_EXCEEDS_MAX_PER_SYMBOL"
    GROSS_EXPOSURE_EXCEEDS_MAX = "GROSS_EXPOSURE_EXCEEDS_MAX"
    NET_EXPOSURE_EXCEEDS_MAX = "NET_EXPOSURE_EXCEEDS_MAX"
    NO_LAST_TRADE_PRICE = "NO_LAST_TRADE_PRICE"
    PRICE_OUTSIDE_BAND = "PRICE_OUTSIDE_BAND"
    SELF_CROSS = "SELF_CROSS"


@dataclass(frozen=True)
class RiskDecision:
    """The outcome of the pre-trade check of one order action (journaled as it is).

    ``action``: submit | modify | cancel. ``reason`` is ``APPROVED`` exactly when ``approved``;
    otherwise the first rule that denied. ``detail`` gives the numbers (quote currency, base units).
    """

    approved: bool
    reason: RiskReason
    action: str
    intent_id: str
    venue: str
    symbol: str
    side: str
    amount: float
    price: float | None
    detail: str
    ts_ms: int
