"""Cross-venue arbitrage decisions: buy on the cheaper venue, sell on the dearer. Pure.

At each look, for every ordered pair of venues (buy at ``x``'s ask, sell at
``y``'s bid) the edge per base unit, net of both taker fees, is

    edge = bid_y x (1 - fee_y) - ask_x x (1 + fee_x)          (quote per base)

and it is acted on only when ``edge / ask_x`` beats ``margin_bps``. The size
is the smallest of: the visible size at both touches, the clip limit, what
the quote inventory at ``x`` can pay (fees included), what the base
inventory at ``y`` can deliver, and the room left under ``x``'s base
inventory cap (so inventory does not pile up on one venue). Both legs are
sent at once as IOC limit orders at the touch prices, so neither can fill
worse than the decision assumed.

Units: prices quote per base, sizes base, fees and margins bps, inventory in
each asset's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from raytrader.errors import InputError

__all__ = ["ArbError", "Touch", "Inventory", "ArbDecision", "arbitrage"]


class ArbError(InputError):
    """An arbitrage input (named in the message) is invalid."""


@dataclass(frozen=True)
class Touch:
    """A venue's best bid and ask with their sizes, and its taker fee (bps)."""

    venue: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    taker_bps: float

    def __post_init__(self) -> None:
        nums = (self.bid, self.bid_qty, self.ask, self.ask_qty, self.taker_bps)
        if not all(math.isfinite(v) and v >= 0 for v in nums) or self.bid <= 0 or self.ask <= 0:
            raise ArbError(f"Touch {self.venue}: prices must be > 0 and sizes, fee >= 0, got {nums}")
        if self.bid >= self.ask:
            raise ArbError(f"Touch {self.venue}: crossed book (bid {self.bid} >= ask {self.ask})")


@dataclass(frozen=True)
class Inventory:
    """What one venue account holds: ``base`` and ``quote`` free; ``max_base``: the most base to hold there."""

    base: float
    quote: float
    max_base: float = math.inf


@dataclass(frozen=True)
class ArbDecision:
    """Buy ``qty`` at ``buy_venue``'s ask and sell it at ``sell_venue``'s bid; ``edge_bps`` net of both fees."""

    buy_venue: str
    sell_venue: str
    qty: float
    buy_price: float
    sell_price: float
    edge_bps: float
    expected_pnl: float


def arbitrage(touches: Sequence[Touch], inventory: Mapping[str, Inventory], margin_bps: float, max_qty: float,
              step: float = 1e-8) -> ArbDecision | None:
    """The best opportunity among all venue pairs (module docstring), or None."""
    if not math.isfinite(margin_bps) or margin_bps < 0:
        raise ArbError(f"margin_bps must be a finite number >= 0, got {margin_bps!r}")
    if not (math.isfinite(max_qty) and max_qty > 0 and math.isfinite(step) and step > 0):
        raise ArbError(f"max_qty and step must be finite numbers > 0, got {max_qty!r}, {step!r}")
    missing = [t.venue for t in touches if t.venue not in inventory]
    if missing:
        raise ArbError(f"no inventory given for venue(s) {', '.join(missing)}")
    best: ArbDecision | None = None
    for x in touches:
        for y in touches:
            if x.venue == y.venue:
                continue
            edge = y.bid * (1 - y.taker_bps / 1e4) - x.ask * (1 + x.taker_bps / 1e4)
            edge_bps = edge / x.ask * 1e4
            if edge_bps <= margin_bps:
                continue
            inv_x, inv_y = inventory[x.venue], inventory[y.venue]
            qty = min(x.ask_qty, y.bid_qty, max_qty, inv_x.quote / (x.ask * (1 + x.taker_bps / 1e4)), inv_y.base,
                      max(0.0, inv_x.max_base - inv_x.base))
            qty = math.floor(qty / step + 1e-9) * step
            if qty <= 0:
                continue
            decision = ArbDecision(x.venue, y.venue, qty, x.ask, y.bid, edge_bps, edge * qty)
            if best is None or decision.expected_pnl > best.expected_pnl:
                best = decision
    return best
