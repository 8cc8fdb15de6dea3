"""Pre-trade risk: pure checks every order action passes before it is sent. No Ray, no I/O, no clock.

:func:`check_order` takes the action (:class:`OrderRequest`), a snapshot of
what we hold and what the market last traded at (:class:`RiskView`), the
limits (:class:`RiskLimits`) and the checker's own state (:class:`RiskState`:
trading state and the order-rate token bucket), plus the time, and returns a
:class:`RiskDecision` and the next state. The decision is journaled as it is.

Trading state (:class:`TradingState`):
    * ``ACTIVE`` - every rule below applies;
    * ``REDUCING`` - only orders that shrink a position on their venue pass
      (opposite side, ``amount <= |position|``): nothing may grow exposure;
    * ``HALTED`` - no submit and no modify passes. **Cancels always pass**, in
      every state and without taking a rate token: a cancel never adds risk,
      and the kill switch must be able to cancel everything at once.

Rules, in order; the first that fails names the decision's reason
(:class:`RiskReason`). A value exactly at a limit passes; above it is denied.
Notional = ``amount * price``, where ``price`` is the order's limit price or,
for a market order, the last trade price (quote currency per base unit).

1. ``TRADING_HALTED`` / ``REDUCING_WOULD_INCREASE_EXPOSURE`` - the trading state.
2. ``NO_LAST_TRADE_PRICE`` - no trade seen on ``(venue, symbol)``: nothing to check against.
3. ``PRICE_OUTSIDE_BAND`` - a limit price more than ``price_band_bps`` from the last trade.
4. ``NOTIONAL_EXCEEDS_MAX_PER_ORDER`` - notional above ``max_order_notional``.
5. ``POSITION_EXCEEDS_MAX_PER_SYMBOL`` - the symbol's position over all venues, plus our open
   orders on the order's side, plus this order, valued at the last price, above ``max_position_notional``.
6. ``GROSS_EXPOSURE_EXCEEDS_MAX`` / ``NET_EXPOSURE_EXCEEDS_MAX`` - the sum of ``|qty| * last`` (gross)
   or of ``qty * last`` (net, absolute value) over every position whose quote currency is the order's,
   with this order (and our open orders on its side, on its symbol) added, above the limit. Limits are
   per quote currency: adding ETH to USDT needs FX, which is the risk-analytics layer's job.
7. ``SELF_CROSS`` - the order would trade against one of our own resting orders on the same venue and
   symbol (a buy at or above our lowest open sell, a sell at or below our highest open buy; a market
   order crosses any of them).
8. ``RATE_LIMIT_EXCEEDED`` - the token bucket (``order_burst`` tokens, refilled at
   ``max_orders_per_second``) is empty. Only an approved submit or modify takes a token.

Portfolio risk (VaR / ES, stress; the risk-analytics issue): pass more rules in ``extra_rules``
(:class:`Rule`: a reason code and a pure function returning why it denies, or ``None``). They run after
rule 7 and before the rate limit; add their reason codes to :class:`RiskReason` (e.g. ``VAR_EXCEEDS_LIMIT``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Callable, Mapping, Sequence

from raytrader.errors import InputError

__all__ = [
    "TradingState", "RiskReason", "RiskDecision", "RiskLimits", "RiskConfigError", "OrderRequest", "OpenOrder",
    "RiskView", "TokenBucket", "RiskState", "Rule", "RULES", "check_order", "take_token", "initial_state",
]


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
    ``ts_ms``: the check's time, UTC milliseconds.
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


class RiskConfigError(InputError):
    """A risk limit or a checked request is invalid; the message names the field."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class RiskLimits:
    """Pre-trade limits. Notionals in the order's quote currency; every value must be > 0 (``inf`` disables)."""

    max_order_notional: float = field(default=1_000.0, metadata=_doc(
        "largest notional of one order (amount * price), quote currency"))
    max_position_notional: float = field(default=5_000.0, metadata=_doc(
        "largest |position| of one symbol over all venues, with open orders and this order, at the last price"))
    max_gross_exposure: float = field(default=20_000.0, metadata=_doc(
        "largest sum of |position notional| over all symbols quoted in one currency"))
    max_net_exposure: float = field(default=10_000.0, metadata=_doc(
        "largest |sum of signed position notional| over all symbols quoted in one currency"))
    price_band_bps: float = field(default=500.0, metadata=_doc(
        "largest distance of a limit price from the last trade, basis points of the last trade"))
    max_orders_per_second: float = field(default=100.0, metadata=_doc(
        "order-rate token bucket refill, submits + modifies per second (nautilus' default)"))
    order_burst: int = field(default=100, metadata=_doc("order-rate token bucket capacity (orders at once)"))

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
                raise RiskConfigError(f"risk limit {f.name} must be a number > 0, got {value!r}")
        if not float(self.order_burst).is_integer() or math.isinf(self.order_burst):
            raise RiskConfigError(f"risk limit order_burst must be a whole number, got {self.order_burst!r}")


@dataclass(frozen=True)
class OrderRequest:
    """An order action to check. ``action``: submit | modify (the order's new terms) | cancel.
    ``amount`` base units; ``price`` quote per base, None for a market order."""

    action: str
    intent_id: str
    venue: str
    symbol: str
    side: str
    amount: float
    price: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ("submit", "modify", "cancel"):
            raise RiskConfigError(f"OrderRequest.action {self.action!r}: expected submit, modify or cancel")
        if self.side not in ("buy", "sell"):
            raise RiskConfigError(f"OrderRequest.side {self.side!r}: expected buy or sell")
        if "/" not in self.symbol:
            raise RiskConfigError(f"OrderRequest.symbol {self.symbol!r}: expected BASE/QUOTE")
        if not (self.amount > 0) or math.isinf(self.amount):
            raise RiskConfigError(f"OrderRequest.amount must be a finite number > 0, got {self.amount!r}")
        if self.price is not None and (not (self.price > 0) or math.isinf(self.price)):
            raise RiskConfigError(f"OrderRequest.price must be None or a finite number > 0, got {self.price!r}")

    @property
    def signed_amount(self) -> float:
        return self.amount if self.side == "buy" else -self.amount


@dataclass(frozen=True)
class OpenOrder:
    """One of our orders resting (or possibly resting) at a venue: ``remaining`` base units."""

    venue: str
    symbol: str
    side: str
    price: float | None
    remaining: float


@dataclass(frozen=True)
class RiskView:
    """What the check reads: signed positions (base units) and last trade prices per ``(venue, symbol)``,
    and our open orders."""

    positions: Mapping[tuple[str, str], float] = field(default_factory=dict)
    last_prices: Mapping[tuple[str, str], float] = field(default_factory=dict)
    open_orders: Sequence[OpenOrder] = ()


@dataclass(frozen=True)
class TokenBucket:
    """``tokens`` left of ``capacity`` at ``last_ms``; refills at ``rate_per_s``."""

    capacity: float
    rate_per_s: float
    tokens: float
    last_ms: int


def take_token(bucket: TokenBucket, now_ms: int) -> tuple[bool, TokenBucket]:
    """Refill to ``now_ms`` (a clock that went backwards refills nothing), then take one token if there is one."""
    elapsed_s = max(now_ms - bucket.last_ms, 0) / 1000.0
    tokens = min(bucket.capacity, bucket.tokens + elapsed_s * bucket.rate_per_s)
    last = max(now_ms, bucket.last_ms)
    if tokens >= 1.0:
        return True, replace(bucket, tokens=tokens - 1.0, last_ms=last)
    return False, replace(bucket, tokens=tokens, last_ms=last)


@dataclass(frozen=True)
class RiskState:
    """The checker's state between calls: the trading state and the order-rate bucket."""

    trading: TradingState
    bucket: TokenBucket


def initial_state(limits: RiskLimits, now_ms: int, trading: TradingState = TradingState.ACTIVE) -> RiskState:
    """A full bucket at ``now_ms``."""
    return RiskState(trading, TokenBucket(float(limits.order_burst), limits.max_orders_per_second,
                                          float(limits.order_burst), now_ms))


# ---- rules: (request, view, limits, reference price) -> why it is denied, or None --------------------

RuleFn = Callable[[OrderRequest, RiskView, RiskLimits, float], "str | None"]


@dataclass(frozen=True)
class Rule:
    reason: RiskReason
    check: RuleFn


def _quote(symbol: str) -> str:
    return symbol.partition("/")[2].split(":", 1)[0]


def _open_same_side(req: OrderRequest, view: RiskView, same_venue: bool) -> float:
    """Signed remaining of our open orders on the request's symbol and side (optionally its venue only)."""
    total = 0.0
    for o in view.open_orders:
        if o.symbol == req.symbol and o.side == req.side and (not same_venue or o.venue == req.venue):
            total += o.remaining if o.side == "buy" else -o.remaining
    return total


def price_band(req: OrderRequest, view: RiskView, limits: RiskLimits, last: float) -> str | None:
    if req.price is None:
        return None
    distance_bps = abs(req.price - last) / last * 10_000.0
    if distance_bps > limits.price_band_bps:
        return f"limit price {req.price} is {distance_bps:.2f} bps from the last trade {last} > {limits.price_band_bps}"
    return None


def order_notional(req: OrderRequest, view: RiskView, limits: RiskLimits, last: float) -> str | None:
    notional = req.amount * (req.price if req.price is not None else last)
    if notional > limits.max_order_notional:
        return f"notional {notional} > max {limits.max_order_notional}"
    return None


def symbol_position(req: OrderRequest, view: RiskView, limits: RiskLimits, last: float) -> str | None:
    held = sum(q for (_, s), q in view.positions.items() if s == req.symbol)
    projected = held + _open_same_side(req, view, same_venue=False) + req.signed_amount
    notional = abs(projected) * last
    if notional > limits.max_position_notional:
        return (f"{req.symbol} position {projected} (held {held}, open orders and this one) x {last} = {notional} "
                f"> max {limits.max_position_notional}")
    return None


def _exposures(req: OrderRequest, view: RiskView, last: float) -> tuple[float, float]:
    quote = _quote(req.symbol)
    qty = dict(view.positions)
    key = (req.venue, req.symbol)
    qty[key] = qty.get(key, 0.0) + _open_same_side(req, view, same_venue=True) + req.signed_amount
    gross = net = 0.0
    for (venue, symbol), q in qty.items():
        if _quote(symbol) != quote or not q:
            continue
        price = last if (venue, symbol) == key else view.last_prices.get((venue, symbol))
        if price is None:
            raise RiskConfigError(f"RiskView.last_prices has no price for the position {venue} {symbol}")
        gross += abs(q) * price
        net += q * price
    return gross, abs(net)


def gross_exposure(req: OrderRequest, view: RiskView, limits: RiskLimits, last: float) -> str | None:
    gross, _ = _exposures(req, view, last)
    if gross > limits.max_gross_exposure:
        return f"gross exposure {gross} {_quote(req.symbol)} > max {limits.max_gross_exposure}"
    return None


def net_exposure(req: OrderRequest, view: RiskView, limits: RiskLimits, last: float) -> str | None:
    _, net = _exposures(req, view, last)
    if net > limits.max_net_exposure:
        return f"net exposure {net} {_quote(req.symbol)} > max {limits.max_net_exposure}"
    return None


def self_cross(req: OrderRequest, view: RiskView, limits: RiskLimits, last: float) -> str | None:
    for o in view.open_orders:
        if o.venue != req.venue or o.symbol != req.symbol or o.side == req.side or o.price is None or o.remaining <= 0:
            continue
        if req.price is None or (req.side == "buy" and req.price >= o.price) or (req.side == "sell" and req.price <= o.price):
            return f"{req.side} at {req.price or 'market'} would trade with our open {o.side} at {o.price}"
    return None


#: The built-in rules after the trading-state and last-price checks, in order.
RULES: tuple[Rule, ...] = (
    Rule(RiskReason.PRICE_OUTSIDE_BAND, price_band),
    Rule(RiskReason.NOTIONAL_EXCEEDS_MAX_PER_ORDER, order_notional),
    Rule(RiskReason.POSITION_EXCEEDS_MAX_PER_SYMBOL, symbol_position),
    Rule(RiskReason.GROSS_EXPOSURE_EXCEEDS_MAX, gross_exposure),
    Rule(RiskReason.NET_EXPOSURE_EXCEEDS_MAX, net_exposure),
    Rule(RiskReason.SELF_CROSS, self_cross),
)


def _reducing_denial(req: OrderRequest, view: RiskView) -> str | None:
    held = view.positions.get((req.venue, req.symbol), 0.0)
    if held == 0 or (held > 0) == (req.side == "buy"):
        return f"position {held} on {req.venue} {req.symbol}: a {req.side} would grow it"
    if req.amount > abs(held):
        return f"{req.side} {req.amount} > |position| {abs(held)}: it would open the other side"
    return None


def check_order(req: OrderRequest, view: RiskView, limits: RiskLimits, state: RiskState, now_ms: int,
                extra_rules: Sequence[Rule] = ()) -> tuple[RiskDecision, RiskState]:
    """The decision on ``req`` and the checker's next state (a token is taken only by an approved
    submit or modify). Pure: same inputs, same outputs."""

    def decide(reason: RiskReason, detail: str, next_state: RiskState = state) -> tuple[RiskDecision, RiskState]:
        return RiskDecision(reason is RiskReason.APPROVED, reason, req.action, req.intent_id, req.venue, req.symbol,
                            req.side, req.amount, req.price, detail, now_ms), next_state

    if req.action == "cancel":
        return decide(RiskReason.APPROVED, "cancels always pass")
    if state.trading is TradingState.HALTED:
        return decide(RiskReason.TRADING_HALTED, "trading is HALTED: only cancels pass")
    if state.trading is TradingState.REDUCING:
        why = _reducing_denial(req, view)
        if why:
            return decide(RiskReason.REDUCING_WOULD_INCREASE_EXPOSURE, why)
    last = view.last_prices.get((req.venue, req.symbol))
    if last is None or not (last > 0):
        return decide(RiskReason.NO_LAST_TRADE_PRICE, f"no last trade price for {req.venue} {req.symbol}")
    for rule in (*RULES, *extra_rules):
        why = rule.check(req, view, limits, last)
        if why:
            return decide(rule.reason, why)
    ok, bucket = take_token(state.bucket, now_ms)
    if not ok:
        return decide(RiskReason.RATE_LIMIT_EXCEEDED,
                      f"more than {limits.order_burst} orders at once or {limits.max_orders_per_second}/s",
                      replace(state, bucket=bucket))
    return decide(RiskReason.APPROVED, "all rules passed", replace(state, bucket=bucket))
