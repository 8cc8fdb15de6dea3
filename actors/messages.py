"""Typed, frozen messages that cross the ExchangeActor's boundary.

Units: prices in quote currency per base unit, amounts in base units, fees in
``fee_currency`` units, times in UTC milliseconds. Symbols in ccxt's unified
form (``XRP/ETH``). Every message is immutable and picklable (Ray ships them
between processes); none carries a secret.

Orders:
    :class:`OrderIntent` (what a strategy wants) -> :class:`OrderUpdate` (what
    the venue says; the first answer is an update like any other) with an
    optional :class:`OrderRejected` reason; executions arrive as :class:`Fill`.

Journal-only records (see :mod:`actors.journal`):
    :class:`CancelRequest` (we asked the venue to cancel), :class:`OrderStateChange`
    (an order moved in :mod:`actors.order_state`) and :class:`ReconciliationResult`
    (what a start-up comparison with a venue found).

Parent orders (the router, :mod:`actors.router`):
    :class:`ParentIntent` (route | twap | iceberg | direct; journaled as ``parent`` before any child) and
    :class:`ParentStatusChange` (``working`` with the route plan / ``done`` / ``cancelled``). Each child is an
    :class:`OrderIntent` whose ``parent_id`` names its parent.

Market data (one ordered stream per ``(kind, symbol)``, numbered by ``seq``):
    :class:`MarketEvent` (a trade, a book snapshot or a bar), and the stream
    control events :class:`GapDetected` / :class:`Resynced`. All three share
    ``stream`` and ``seq``; within a stream ``seq`` is 1, 2, 3, ... with no
    holes, so a subscriber that sees a hole lost events (see
    :class:`actors.exchange_core.SeqChecker`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Union

from raytrader.errors import InputError

__all__ = [
    "OrderIntentError", "OrderIntent", "OrderRejected", "OrderUpdate", "Fill", "AssetBalance",
    "TradeTick", "BookSnapshot", "BarTick", "MarketEvent", "GapDetected", "Resynced", "StreamItem",
    "stream_name", "CancelRequest", "OrderStateChange", "ReconciliationResult",
    "TradingStateChange", "IntentContext", "ParentIntentError", "ParentIntent", "ParentStatusChange", "ALGOS",
    "PARENT_STATUSES", "TIME_IN_FORCE",
]

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
#: a stop order's trigger kind (market.triggers): ``stop_loss`` or ``take_profit``
Trigger = Literal["stop_loss", "take_profit"]
#: ``unknown``: the venue's answer was lost and the resolution protocol has not settled it yet.
OrderStatus = Literal["open", "closed", "canceled", "rejected", "unknown"]
StreamKind = Literal["trades", "book", "bars"]
Algo = Literal["direct", "route", "twap", "iceberg"]
#: the execution algorithms a parent order may ask for
ALGOS = ("direct", "route", "twap", "iceberg")
#: a parent's statuses: ``working`` until every child is settled and nothing is left to send
PARENT_STATUSES = ("working", "done", "cancelled")
TimeInForce = Literal["GTC", "IOC", "FOK"]
#: an order's time in force: ``GTC`` rests until filled or cancelled; ``IOC`` fills what it can at once and the
#: venue expires the rest; ``FOK`` fills in full at once or not at all (the venue expires all of it)
TIME_IN_FORCE = ("GTC", "IOC", "FOK")


class OrderIntentError(InputError):
    """An :class:`OrderIntent` field is invalid; the message names the field."""


def stream_name(kind: str, symbol: str) -> str:
    """The stream id of ``kind`` (trades | book | bars) for ``symbol``: ``"trades:XRP/ETH"``."""
    if kind not in ("trades", "book", "bars"):
        raise InputError(f"stream kind {kind!r}: expected trades, book or bars")
    return f"{kind}:{symbol}"


def _positive(name: str, value: float | None) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise OrderIntentError(f"OrderIntent.{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class OrderIntent:
    """An order a strategy wants on one venue.

    ``intent_id`` identifies the intent for its whole life: retrying the same
    intent (same ``intent_id``) derives the same client order id, so the venue
    refuses a second copy instead of opening it. ``price`` is required for
    ``limit`` and ignored (must be None) for ``market``. ``parent_id``: the
    :class:`ParentIntent` this order is a child of (journal schema 3), else None.

    A stop-limit order: a ``limit`` intent with ``stop_price`` (quote per
    base) and ``trigger`` (``stop_loss`` or ``take_profit``, the rule of
    :mod:`market.triggers`; Binance STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT,
    Coinbase ``stop`` loss/entry). It waits at the venue untriggered as an
    open order; cancelling it is a normal cancel.

    ``time_in_force`` (:data:`TIME_IN_FORCE`, journal schema 3; an older entry reads ``GTC``) applies to a
    plain limit order: ``GTC`` (the default) rests, ``IOC`` / ``FOK`` never rest - the venue expires what
    did not fill at once (the OMS state ``CANCELED``). A market order is immediate by nature and a stop-limit
    order rests until triggered: both take ``GTC`` only (anything else is an :class:`OrderIntentError`).
    """

    venue: str
    symbol: str
    side: Side
    type: OrderType
    amount: float
    intent_id: str
    price: float | None = None
    context: IntentContext | None = None
    parent_id: str | None = None
    stop_price: float | None = None
    trigger: Trigger | None = None
    time_in_force: TimeInForce = "GTC"

    def __post_init__(self) -> None:
        if not self.venue:
            raise OrderIntentError("OrderIntent.venue is empty")
        if self.parent_id is not None and (not isinstance(self.parent_id, str) or not self.parent_id):
            raise OrderIntentError(f"OrderIntent.parent_id must be a non-empty string or None, got {self.parent_id!r}")
        if not isinstance(self.symbol, str) or "/" not in self.symbol:
            raise OrderIntentError(f"OrderIntent.symbol {self.symbol!r}: expected a unified symbol like BTC/USDT")
        if self.side not in ("buy", "sell"):
            raise OrderIntentError(f"OrderIntent.side {self.side!r}: expected buy or sell")
        if self.type not in ("limit", "market"):
            raise OrderIntentError(f"OrderIntent.type {self.type!r}: expected limit or market")
        _positive("amount", self.amount)
        if self.type == "limit":
            _positive("price", self.price)
        elif self.price is not None:
            raise OrderIntentError("OrderIntent.price must be None for a market order")
        if (self.stop_price is None) != (self.trigger is None):
            raise OrderIntentError("OrderIntent.stop_price and OrderIntent.trigger go together (a stop-limit order)")
        if self.stop_price is not None:
            if self.type != "limit":
                raise OrderIntentError("OrderIntent.stop_price needs type limit (a stop-limit order)")
            _positive("stop_price", self.stop_price)
            if self.trigger not in ("stop_loss", "take_profit"):
                raise OrderIntentError(f"OrderIntent.trigger {self.trigger!r}: expected stop_loss or take_profit")
        if self.time_in_force not in TIME_IN_FORCE:
            raise OrderIntentError(f"OrderIntent.time_in_force {self.time_in_force!r}: expected one of "
                                   f"{', '.join(TIME_IN_FORCE)}")
        if self.time_in_force != "GTC" and (self.type != "limit" or self.stop_price is not None):
            raise OrderIntentError(f"OrderIntent.time_in_force {self.time_in_force}: applies to a plain limit order "
                                   f"(a {'stop-limit' if self.stop_price is not None else 'market'} order takes GTC)")
        if not isinstance(self.intent_id, str) or not self.intent_id or len(self.intent_id) > 200:
            raise OrderIntentError(f"OrderIntent.intent_id must be a non-empty string of <= 200 chars, "
                                   f"got {self.intent_id!r}")


@dataclass(frozen=True)
class IntentContext:
    """Why a strategy's order is what it is: journaled inside its :class:`OrderIntent` (journal schema 2;
    None for hand-made and flatten orders and in schema-1 entries).

    ``strategy``: the runner's key ``strategy:<name>:<symbol>@<venue>``; ``bar``: the closed bar it decided
    on (None when the caller did not pass it); ``target``: the strategy's output on that bar (the signal,
    a fraction of the full size, sign = direction); ``price``: the bar close the order was sized at (quote
    per base); ``position``: the ledger's position before the order and ``pending``: the signed remaining
    amount of orders still in flight (base units; sizing moved ``position + pending`` to the target);
    ``equity``: the account's equity in the quote currency (None in ``notional`` mode);
    ``sizing_mode`` / ``sizing_value`` / ``sizing_step``: :class:`actors.trading.Sizing` at the time."""

    strategy: str
    target: float
    price: float
    position: float
    pending: float
    equity: float | None
    sizing_mode: str
    sizing_value: float
    sizing_step: float
    bar: BarTick | None = None


@dataclass(frozen=True)
class OrderRejected:
    """Why the venue refused an order (or why it is known not to exist).

    ``code``: the venue's error code when it sent one (Binance: ``"-2010"``),
    else the ccxt error class name; ``reason``: the venue's message (no secrets:
    ccxt error texts hold the endpoint and the venue's JSON, never the key).
    """

    reason: str
    code: str


@dataclass(frozen=True)
class OrderUpdate:
    """The venue's view of one order.

    ``status``: open | closed | canceled | rejected | unknown. ``filled`` +
    ``remaining`` = ``amount`` (base units); ``average`` is the mean fill price
    (None before any fill); ``fee_cost`` in ``fee_currency``. ``resolved_by``
    says where the state came from: ``response`` (the order call's own
    answer), ``query`` (fetched by client order id after a lost or ambiguous
    answer), ``absent`` (proved never placed, see
    :func:`actors.exchange_core.resolve_unknown`), ``push`` (an order update the
    venue pushed on its user stream, see
    :func:`actors.stream_trackers.order_push_supersedes`) or ``unresolved``.
    """

    venue: str
    symbol: str
    client_order_id: str
    order_id: str | None
    status: OrderStatus
    side: Side
    type: OrderType
    amount: float
    filled: float
    remaining: float
    average: float | None
    price: float | None
    fee_cost: float
    fee_currency: str | None
    timestamp_ms: int | None
    resolved_by: str = "response"
    rejection: OrderRejected | None = None


@dataclass(frozen=True)
class Fill:
    """One execution of one of our orders (``trade_id`` is the venue's, unique per venue and symbol)."""

    venue: str
    symbol: str
    trade_id: str
    order_id: str
    client_order_id: str | None
    side: Side
    price: float
    amount: float
    fee_cost: float
    fee_currency: str | None
    is_maker: bool | None
    timestamp_ms: int


@dataclass(frozen=True)
class CancelRequest:
    """We asked ``venue`` to cancel the order ``client_order_id``; ``reason`` says why (``user``, ``kill_switch``, ...)."""

    venue: str
    symbol: str
    client_order_id: str
    reason: str


@dataclass(frozen=True)
class OrderStateChange:
    """An order moved from ``from_state`` to ``to_state`` on ``event`` (names of
    :class:`actors.order_state.OrderState` / ``EventKind``); ``filled`` is the order's filled
    quantity after the event (base units); ``reason``: a venue message or risk reason code, else ``""``."""

    client_order_id: str
    venue: str
    symbol: str
    from_state: str
    to_state: str
    event: str
    filled: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class ReconciliationResult:
    """What comparing our journal with ``venue`` found at start-up. ``ok`` False means trading must not
    start there; ``detail`` says why. The tuples list client order ids (``adopted``: venue orders we did
    not know, now tracked as external; ``missing``: ours the venue does not have) and venue trade ids
    (``inferred_fills``: fills the venue reports that the journal lacked)."""

    venue: str
    ok: bool
    open_orders: int
    adopted: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    inferred_fills: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class TradingStateChange:
    """The RiskMonitor moved the trading state (``ACTIVE`` / ``REDUCING`` / ``HALTED``, see
    :class:`risk.pretrade.TradingState`) from ``from_state`` to ``to_state``; ``reason``: ``manual``,
    ``kill_switch``, ``loss_limit: ...``. The last one in the journal is the state every actor starts in."""

    from_state: str
    to_state: str
    reason: str


@dataclass(frozen=True)
class AssetBalance:
    """One asset of an account: ``free + used = total`` (asset units)."""

    asset: str
    free: float
    used: float
    total: float


@dataclass(frozen=True)
class TradeTick:
    """A public trade: ``price`` x ``amount``; ``side`` is the aggressor's."""

    trade_id: str
    price: float
    amount: float
    side: str | None
    timestamp_ms: int


@dataclass(frozen=True)
class BookSnapshot:
    """Top of the L2 book, best first: ``bids`` descending, ``asks`` ascending, (price, amount) pairs.

    ``nonce`` is the venue's book update id (Binance ``lastUpdateId``), or None.
    """

    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    nonce: int | None
    timestamp_ms: int | None


@dataclass(frozen=True)
class BarTick:
    """One OHLCV bar; ``timestamp_ms`` is its open time, ``timeframe`` in ccxt form (``1m``)."""

    timeframe: str
    timestamp_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class MarketEvent:
    """One published market-data event. Exactly the payload field that matches ``kind`` is set.

    ``kind``: trade | book | bar. ``seq``: position in ``stream`` (1, 2, ...).
    ``recovered``: True when the event was fetched over REST during a resync
    rather than received on the live stream.
    """

    kind: Literal["trade", "book", "bar"]
    stream: str
    seq: int
    venue: str
    symbol: str
    trade: TradeTick | None = None
    book: BookSnapshot | None = None
    bar: BarTick | None = None
    recovered: bool = False


@dataclass(frozen=True)
class GapDetected:
    """The upstream feed lost events (or may have): ``reason`` says how it was noticed.

    ``last_good``: the last trade id / bar time / book nonce published before the gap (None if none yet).
    """

    stream: str
    seq: int
    venue: str
    symbol: str
    reason: str
    last_good: str | None


@dataclass(frozen=True)
class Resynced:
    """The stream is whole again: ``recovered`` events were fetched over REST and published before this one.

    ``resumed_from``: the trade id / bar time / book nonce the stream continues from.
    """

    stream: str
    seq: int
    venue: str
    symbol: str
    recovered: int
    resumed_from: str | None


StreamItem = Union[MarketEvent, GapDetected, Resynced]


class ParentIntentError(InputError):
    """A :class:`ParentIntent` field is invalid; the message names the field."""


def _parent_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParentIntentError(f"ParentIntent.{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class ParentIntent:
    """A parent order the router executes as child orders through the OMS (:mod:`actors.router`).

    ``parent_id``: the caller's id for it (1..64 of ``A-Z a-z 0-9 _ - : .``); child ``i`` has the intent id
    :func:`actors.algos.child_client_id` ``(parent_id, i)``, so a restarted router re-derives the same ids and
    the OMS refuses a second copy. ``qty`` in base units; ``limit``: the worst price (quote per base) any
    child may pay or take, None = market children. ``algo``:

    * ``direct``: one child at ``venues[0]`` (market, or limit at ``limit``);
    * ``route``: split across ``venues`` by their visible books net of fees (:func:`actors.routing.route`),
      taking at most ``participation`` of each book's visible quantity;
    * ``twap``: ``slices`` children on ``venues[0]`` evenly spaced over ``duration_s`` seconds
      (:func:`actors.algos.twap_schedule`);
    * ``iceberg``: a limit order at ``limit`` on ``venues[0]`` showing at most ``display`` base units,
      the next clip sent when the resting one has filled (:func:`actors.algos.iceberg_next`).

    ``step``: the venue's lot size (children are whole lots). ``arrival_price`` (quote per base: the mid of
    the best touch across ``venues`` when the router accepted it) and ``start_ms`` (UTC ms) are set by the
    router before it journals the parent; a caller leaves them None / 0.

    ``time_in_force``: the children's (:data:`TIME_IN_FORCE`; limit children only, so it needs ``limit``);
    None = the algorithm's own: a ``route`` parent with a limit sends ``IOC`` children (what does not fill at
    once comes back and is routed again on fresh books), every other child is ``GTC``. An ``iceberg`` clip
    rests by definition: ``GTC`` only.

    ``context``: the strategy decision the parent carries out (:class:`IntentContext`: the runner's key, bar,
    signal, sizing), set by a StrategyRunner that executes through the router; None for a hand-made parent
    (the API, ``raytrader order``). Its children are attributed to that strategy (the execution report, the
    trade ledger) through their ``parent_id``.
    """

    parent_id: str
    venues: tuple[str, ...]
    symbol: str
    side: Side
    qty: float
    algo: Algo = "direct"
    limit: float | None = None
    slices: int = 0
    duration_s: float = 0.0
    display: float = 0.0
    participation: float = 1.0
    step: float = 1e-8
    arrival_price: float | None = None
    start_ms: int = 0
    time_in_force: TimeInForce | None = None
    context: IntentContext | None = None

    def __post_init__(self) -> None:
        pid = self.parent_id
        if not isinstance(pid, str) or not 1 <= len(pid) <= 64 or not all(c.isalnum() or c in "_-:." for c in pid):
            raise ParentIntentError(f"ParentIntent.parent_id {pid!r}: expected 1..64 of A-Z a-z 0-9 _ - : .")
        if isinstance(self.venues, str) or not self.venues or not all(isinstance(v, str) and v for v in self.venues) \
                or len(set(self.venues)) != len(self.venues):
            raise ParentIntentError(f"ParentIntent.venues {self.venues!r}: expected distinct venue names")
        if not isinstance(self.symbol, str) or "/" not in self.symbol:
            raise ParentIntentError(f"ParentIntent.symbol {self.symbol!r}: expected a unified symbol like BTC/USDT")
        if self.side not in ("buy", "sell"):
            raise ParentIntentError(f"ParentIntent.side {self.side!r}: expected buy or sell")
        if self.algo not in ALGOS:
            raise ParentIntentError(f"ParentIntent.algo {self.algo!r}: expected one of {', '.join(ALGOS)}")
        _parent_number("qty", self.qty)
        _parent_number("step", self.step)
        if math.floor(self.qty / self.step + 1e-9) < 1:
            raise ParentIntentError(f"ParentIntent.qty {self.qty!r} is below one lot (step {self.step!r})")
        if self.limit is not None:
            _parent_number("limit", self.limit)
        if self.algo != "route" and len(self.venues) != 1:
            raise ParentIntentError(f"ParentIntent.venues: {self.algo} runs on one venue, got {len(self.venues)}")
        if self.algo == "twap":
            if isinstance(self.slices, bool) or not isinstance(self.slices, int) or not 1 <= self.slices <= 10_000:
                raise ParentIntentError(f"ParentIntent.slices must be an integer in 1..10000, got {self.slices!r}")
            _parent_number("duration_s", self.duration_s)
        if self.algo == "iceberg":
            _parent_number("display", self.display)
            if self.limit is None:
                raise ParentIntentError("ParentIntent.limit: an iceberg rests at a limit price; give one")
            if math.floor(self.display / self.step + 1e-9) < 1:
                raise ParentIntentError(f"ParentIntent.display {self.display!r} is below one lot (step {self.step!r})")
        if self.algo == "route":
            _parent_number("participation", self.participation)
            if self.participation > 1:
                raise ParentIntentError(f"ParentIntent.participation must be a fraction in (0, 1], "
                                        f"got {self.participation!r}")
        if self.arrival_price is not None:
            _parent_number("arrival_price", self.arrival_price)
        if self.time_in_force is not None:
            if self.time_in_force not in TIME_IN_FORCE:
                raise ParentIntentError(f"ParentIntent.time_in_force {self.time_in_force!r}: expected one of "
                                        f"{', '.join(TIME_IN_FORCE)}")
            if self.time_in_force != "GTC" and self.limit is None:
                raise ParentIntentError(f"ParentIntent.time_in_force {self.time_in_force}: needs a limit (market "
                                        "children are immediate)")
            if self.time_in_force != "GTC" and self.algo == "iceberg":
                raise ParentIntentError(f"ParentIntent.time_in_force {self.time_in_force}: an iceberg's clips rest "
                                        "(GTC only)")


@dataclass(frozen=True)
class ParentStatusChange:
    """A parent moved to ``status`` (``working`` / ``done`` / ``cancelled``). ``plan``: for a ``route``
    parent, the children it was split into, ``(venue, qty)`` in child-index order, journaled before the
    first of them is sent (a restarted router sends the rest of the same plan); ``filled`` (base units) and
    ``avg_price`` (quote per base, fees excluded; None before any fill) when the status was set; ``reason``:
    why (``user``, ``no liquidity within the limit``, a child's rejection)."""

    parent_id: str
    status: str
    filled: float = 0.0
    avg_price: float | None = None
    reason: str = ""
    plan: tuple[tuple[str, float], ...] = ()
