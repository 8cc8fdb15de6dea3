"""Instruments and the price-time priority limit order book of one symbol.

Units: inside the book, prices are integer **ticks** (``price =
ticks * tick_size``) and quantities integer **lots** (``qty = lots *
step_size``), so nothing drifts. :class:`Instrument` converts between Decimal
venue values and ticks/lots and applies Binance's PRICE_FILTER, LOT_SIZE and
NOTIONAL filters.

Book invariants:

* each price level is a FIFO queue: orders at one price fill in arrival order
  (time priority); better prices always fill first (price priority);
* every resting order has ``remaining_lots > 0``; empty levels are removed;
* the book never rests crossed: the matching engine matches before resting.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator, Literal

from market.emulator.errors import FilterFailure

__all__ = ["Instrument", "RestingOrder", "OrderBook", "Side", "BUY", "SELL"]

Side = Literal["BUY", "SELL"]
BUY: Side = "BUY"
SELL: Side = "SELL"


@dataclass(frozen=True)
class Instrument:
    """A spot market and its filters (values in quote units for prices, base units for quantities).

    Attributes:
        symbol: unified symbol, ``"XRP/ETH"``; ``market_id`` is Binance's ``"XRPETH"``.
        tick_size: price increment (PRICE_FILTER.tickSize), quote units.
        step_size: quantity increment (LOT_SIZE.stepSize), base units.
        min_qty, max_qty: LOT_SIZE bounds, base units.
        min_price, max_price: PRICE_FILTER bounds, quote units.
        min_notional: NOTIONAL.minNotional, quote units (price x qty).
        asset_precision: decimals of base and quote amounts (fees are rounded down to it).
    """

    symbol: str
    tick_size: Decimal = Decimal("0.00000001")
    step_size: Decimal = Decimal("1")
    min_qty: Decimal = Decimal("1")
    max_qty: Decimal = Decimal("90000000")
    min_price: Decimal = Decimal("0.00000001")
    max_price: Decimal = Decimal("1000")
    min_notional: Decimal = Decimal("0.001")
    asset_precision: int = 8

    def __post_init__(self) -> None:
        if self.symbol.count("/") != 1:
            raise FilterFailure(f"instrument symbol must look like BASE/QUOTE, got {self.symbol!r}", code=-1121)
        for name in ("tick_size", "step_size", "min_qty", "max_qty", "min_price", "max_price", "min_notional"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise FilterFailure(f"Instrument.{name} must be a finite Decimal >= 0, got {value!r}")
        if self.tick_size <= 0 or self.step_size <= 0:
            raise FilterFailure("Instrument tick_size and step_size must be > 0")

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def market_id(self) -> str:
        return self.base + self.quote

    # ---------------------------------------------------------- conversion
    def price_ticks(self, price: Decimal) -> int:
        """Ticks of ``price``; FilterFailure (PRICE_FILTER) off the grid or outside [min_price, max_price]."""
        if not price.is_finite() or price < self.min_price or price > self.max_price:
            raise FilterFailure("Filter failure: PRICE_FILTER")
        ticks, rest = divmod(price, self.tick_size)
        if rest != 0:
            raise FilterFailure("Filter failure: PRICE_FILTER")
        return int(ticks)

    def qty_lots(self, qty: Decimal) -> int:
        """Lots of ``qty``; FilterFailure (LOT_SIZE) off the step or outside [min_qty, max_qty]."""
        if not qty.is_finite() or qty < self.min_qty or qty > self.max_qty or qty <= 0:
            raise FilterFailure("Filter failure: LOT_SIZE")
        lots, rest = divmod(qty, self.step_size)
        if rest != 0:
            raise FilterFailure("Filter failure: LOT_SIZE")
        return int(lots)

    def price(self, ticks: int) -> Decimal:
        return self.tick_size * ticks

    def qty(self, lots: int) -> Decimal:
        return self.step_size * lots

    def notional(self, ticks: int, lots: int) -> Decimal:
        """Exact ``price x qty`` in quote units."""
        return (self.tick_size * self.step_size) * (ticks * lots)

    def check_notional(self, ticks: int, lots: int) -> None:
        if self.notional(ticks, lots) < self.min_notional:
            raise FilterFailure("Filter failure: NOTIONAL")


@dataclass
class RestingOrder:
    """The book's mutable view of a resting order (engine-internal; public snapshots are ``Order``)."""

    order_id: int
    account: str
    side: Side
    price_ticks: int
    remaining_lots: int
    seq: int = 0


@dataclass
class OrderBook:
    """Bids and asks of one instrument, price-time priority (see the module docstring)."""

    instrument: Instrument
    _levels: dict[Side, dict[int, deque[RestingOrder]]] = field(default_factory=lambda: {BUY: {}, SELL: {}})
    _prices: dict[Side, list[int]] = field(default_factory=lambda: {BUY: [], SELL: []})  # ascending ticks
    _by_id: dict[int, RestingOrder] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._by_id

    def add(self, order: RestingOrder) -> None:
        """Append ``order`` at the back of its price level."""
        if order.remaining_lots <= 0:
            raise ValueError(f"resting order {order.order_id} has no quantity")
        levels = self._levels[order.side]
        queue = levels.get(order.price_ticks)
        if queue is None:
            queue = levels[order.price_ticks] = deque()
            bisect.insort(self._prices[order.side], order.price_ticks)
        queue.append(order)
        self._by_id[order.order_id] = order

    def remove(self, order_id: int) -> RestingOrder:
        order = self._by_id.pop(order_id)
        queue = self._levels[order.side][order.price_ticks]
        queue.remove(order)
        if not queue:
            self._drop_level(order.side, order.price_ticks)
        return order

    def get(self, order_id: int) -> RestingOrder | None:
        return self._by_id.get(order_id)

    def reduce(self, order: RestingOrder, lots: int) -> None:
        """Take ``lots`` off the front order ``order``; removes it (and an empty level) when done."""
        order.remaining_lots -= lots
        if order.remaining_lots < 0:
            raise ValueError(f"order {order.order_id} overfilled")
        if order.remaining_lots == 0:
            self.remove(order.order_id)

    def _drop_level(self, side: Side, ticks: int) -> None:
        del self._levels[side][ticks]
        prices = self._prices[side]
        prices.pop(bisect.bisect_left(prices, ticks))

    def is_last(self, order: RestingOrder) -> bool:
        """Whether ``order`` (resting) is at the back of its price level's queue (a new order would queue behind it)."""
        return self._levels[order.side][order.price_ticks][-1] is order

    def best(self, side: Side) -> int | None:
        """Best price in ticks on ``side`` (highest bid, lowest ask), None when empty."""
        prices = self._prices[side]
        if not prices:
            return None
        return prices[-1] if side == BUY else prices[0]

    def prices(self, side: Side) -> list[int]:
        """Level prices in ticks, best first."""
        prices = self._prices[side]
        return list(reversed(prices)) if side == BUY else list(prices)

    def queue(self, side: Side, ticks: int) -> tuple[RestingOrder, ...]:
        return tuple(self._levels[side].get(ticks, ()))

    def levels(self, side: Side, depth: int | None = None) -> list[tuple[int, int]]:
        """``(ticks, total lots)`` per level, best first, at most ``depth`` levels."""
        out = []
        for ticks in self.prices(side):
            if depth is not None and len(out) >= depth:
                break
            out.append((ticks, sum(o.remaining_lots for o in self._levels[side][ticks])))
        return out

    def matchable(self, taker_side: Side, limit_ticks: int | None) -> Iterator[RestingOrder]:
        """Resting orders a ``taker_side`` order may hit, in priority order, up to ``limit_ticks``.

        A buy hits asks with ``ticks <= limit``; a sell hits bids with
        ``ticks >= limit``; ``None`` means no limit (a market order). Iterate
        over a snapshot: callers may fill (and so remove) what they get.
        """
        maker_side: Side = SELL if taker_side == BUY else BUY
        for ticks in self.prices(maker_side):
            if limit_ticks is not None and (ticks > limit_ticks if taker_side == BUY else ticks < limit_ticks):
                break
            yield from tuple(self._levels[maker_side][ticks])

    def orders(self, side: Side | None = None) -> list[RestingOrder]:
        sides = (BUY, SELL) if side is None else (side,)
        return [o for s in sides for t in self.prices(s) for o in self._levels[s][t]]
