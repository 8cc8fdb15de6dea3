"""Execution quality per order and per parent (transaction-cost analysis). Pure.

For each order: the **arrival price** (the mid, or last trade, when the
decision was made), the **implementation shortfall** in bps (what the fills
cost against the arrival price, fees included: positive = worse than
arrival, for buys and sells alike), the **fill ratio**, the time to the
venue's ack and to the first and last fill, and the fees. A parent's numbers
come from all its children's fills against the parent's arrival price.

Units: prices in quote per base, quantities in base, fees in quote, times in
UTC ms, shortfall in bps of the arrival notional.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

from raytrader.errors import InputError

__all__ = ["ExecutionError", "FillRecord", "OrderRecord", "OrderQuality", "order_quality", "summarise"]


class ExecutionError(InputError):
    """An execution record (named in the message) is invalid."""


@dataclass(frozen=True)
class FillRecord:
    time_ms: int
    price: float
    qty: float
    fee_quote: float = 0.0


@dataclass(frozen=True)
class OrderRecord:
    """What the journal knows of one order (or one parent: its children's fills together)."""

    order_id: str
    venue: str
    side: str
    order_type: str
    qty: float
    arrival_price: float
    decided_ms: int
    acked_ms: int | None = None
    fills: tuple[FillRecord, ...] = ()
    algo: str = "none"

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ExecutionError(f"order {self.order_id}: side {self.side!r} is not buy or sell")
        if not (math.isfinite(self.qty) and self.qty > 0):
            raise ExecutionError(f"order {self.order_id}: qty must be > 0, got {self.qty!r}")
        if not (math.isfinite(self.arrival_price) and self.arrival_price > 0):
            raise ExecutionError(f"order {self.order_id}: arrival_price must be > 0, got {self.arrival_price!r}")


@dataclass(frozen=True)
class OrderQuality:
    order_id: str
    venue: str
    side: str
    order_type: str
    algo: str
    filled: float
    fill_ratio: float
    avg_price: float | None
    fees: float
    shortfall_bps: float | None
    ack_ms: int | None
    first_fill_ms: int | None
    last_fill_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def order_quality(order: OrderRecord) -> OrderQuality:
    """The numbers of the module docstring for one order (or parent)."""
    filled = sum(f.qty for f in order.fills)
    fees = sum(f.fee_quote for f in order.fills)
    value = sum(f.qty * f.price for f in order.fills)
    avg = value / filled if filled > 0 else None
    shortfall = None
    if filled > 0:
        sign = 1.0 if order.side == "buy" else -1.0
        # buy: paid value + fees vs arrival notional; sell: arrival notional vs received value - fees
        cost = sign * (value - filled * order.arrival_price) + fees
        shortfall = cost / (filled * order.arrival_price) * 1e4
    times = sorted(f.time_ms for f in order.fills)
    since = order.decided_ms
    return OrderQuality(order.order_id, order.venue, order.side, order.order_type, order.algo, filled,
                        filled / order.qty, avg, fees, shortfall,
                        None if order.acked_ms is None else order.acked_ms - since,
                        times[0] - since if times else None, times[-1] - since if times else None)


def summarise(qualities: Iterable[OrderQuality], by: Sequence[str] = ("venue", "order_type", "algo")) -> list[dict[str, Any]]:
    """Rows per group of ``by``: orders, filled quantity, fill-weighted shortfall (bps), median ack ms, fees."""
    groups: dict[tuple, list[OrderQuality]] = {}
    for q in qualities:
        groups.setdefault(tuple(getattr(q, k) for k in by), []).append(q)
    rows = []
    for key, items in sorted(groups.items()):
        weighted = [(q.shortfall_bps, q.filled * (q.avg_price or 0.0)) for q in items if q.shortfall_bps is not None]
        notional = sum(w for _, w in weighted)
        acks = sorted(q.ack_ms for q in items if q.ack_ms is not None)
        rows.append({**dict(zip(by, key)), "orders": len(items), "filled": sum(q.filled for q in items),
                     "fill_ratio": sum(q.fill_ratio for q in items) / len(items),
                     "shortfall_bps": sum(s * w for s, w in weighted) / notional if notional > 0 else None,
                     "median_ack_ms": acks[len(acks) // 2] if acks else None,
                     "fees": sum(q.fees for q in items)})
    return rows
