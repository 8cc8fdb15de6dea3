"""The matching engine: orders in, fills out, balances settled.

One :class:`MatchingEngine` is one venue: a :class:`~market.emulator.book.OrderBook`
per instrument, one :class:`~market.emulator.accounts.Ledger`, a fee
schedule, and a clock (``clock()`` returns UTC ms; the replay drives it).

Rules (Binance Spot semantics where they exist):

* **Price-time priority.** An incoming order matches the best opposite price
  first and, within a price, the oldest resting order first. Each fill is at
  the *resting* (maker) order's price, so a market order walking the book
  pays worse prices level by level (slippage emerges) and a limit order never
  fills worse than its limit.
* **Order types.** ``LIMIT`` (time in force ``GTC`` rests the remainder,
  ``IOC`` expires it, ``FOK`` fills completely or not at all), ``LIMIT_MAKER``
  (rejected, ``-2010``, if it would take), ``MARKET`` by base ``quantity`` or
  by ``quote_qty`` (Binance ``quoteOrderQty``). A market order that runs out
  of liquidity fills what there is and expires the rest (status ``EXPIRED``).
* **Reservation.** A resting buy locks ``price x remaining`` quote; a resting
  sell locks ``remaining`` base (Binance's free/locked). Price improvement on a
  taker buy unlocks the difference at once. Market orders are checked against
  free funds by simulating the walk first; nothing changes if they fail.
* **Fees** are charged on the asset *received* (base for the buyer, quote for
  the seller, as Binance does without BNB), at the account's maker or taker
  rate in bps, rounded *down* to the instrument's asset precision, into the
  ledger's fee pool. Conservation therefore holds exactly. With
  ``fee_asset="quote"`` (Coinbase Exchange's rule) both sides pay in the quote
  asset: a buy then also locks a fee reserve (its notional x the account's
  larger rate, rounded *up*), each fill's fee comes out of it, and what is
  left is unlocked when the order closes.
* **Stop orders** (``STOP_LOSS_LIMIT``, ``TAKE_PROFIT_LIMIT``, with a
  ``stop_price``) wait off the book, funds locked as for a limit order, until
  a public trade reaches the stop (the rule of :mod:`market.triggers`: a SELL
  stop-loss / BUY take-profit when the price falls to it, the other two when
  it rises to it); then they match as a limit order at ``price`` with their
  time in force (resting, taking, or expiring) and :attr:`Order.working_time_ms`
  records the trigger. Every trade counts: replayed prints and the matches of
  users' orders (which may trigger further stops, checked until none fires).
  A stop that the last trade already reached is refused (``-2010``, "Stop
  price would trigger immediately."). Untriggered stops are open orders and
  cancel like any other.
* **OCO** (:meth:`MatchingEngine.submit_oco`): two orders of one side and
  quantity, at most one of them resting (a ``LIMIT_MAKER``) and the others
  stops. The first *activation* of a leg (a fill, partial or full, or a
  trigger) expires the other leg at once, in the same engine step, so both
  can never trade. The list locks the larger of its legs' needs (not their
  sum); cancelling either leg cancels the list. Not offered when fees are
  charged in the quote asset (Coinbase Exchange has no OCO).
* **Client order ids** are unique per account among the orders the venue
  remembers (open or closed): a reuse is rejected with ``-2010``
  ("Duplicate order sent."). Missing ids get a generated one.
* Self-trades are allowed (self-trade prevention ``NONE``).

Replay hooks: :meth:`MatchingEngine.tape_print` lets a historical trade fill
resting orders it trades through, from a designated counterparty account;
:meth:`MatchingEngine.requote` replaces the synthetic liquidity's quotes as
cancelling and re-submitting them would, cheaply.
"""

from __future__ import annotations

import decimal
import itertools
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Callable, Iterable, Literal

from market.emulator.accounts import DECIMAL_CONTEXT, ZERO, Ledger
from market.emulator.book import BUY, SELL, Instrument, OrderBook, RestingOrder, Side
from market.triggers import STOP_LOSS, TAKE_PROFIT, crossed, trigger_direction
from market.emulator.errors import (
    BadParameter,
    CancelRejected,
    FilterFailure,
    InsufficientBalance,
    VenueOrderRejected,
    UnknownOrder,
    UnknownSymbol,
)

__all__ = [
    "VenueOrderType",
    "FeeAsset",
    "TimeInForce",
    "OrderStatus",
    "FeeSchedule",
    "Order",
    "VenueFill",
    "Trade",
    "ExecutionReport",
    "OrderList",
    "OcoLeg",
    "STOP_ORDER_TYPES",
    "MatchingEngine",
]

#: the venue's order types (Binance spelling); the trading system's are ``actors.messages.OrderType``
VenueOrderType = Literal["LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
#: the stop (conditional) order types and their trigger kind in :mod:`market.triggers`
STOP_ORDER_TYPES: dict[str, str] = {"STOP_LOSS_LIMIT": STOP_LOSS, "TAKE_PROFIT_LIMIT": TAKE_PROFIT}
_ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", *STOP_ORDER_TYPES)
#: the asset each fee is charged in: the one received (Binance) or always the quote asset (Coinbase Exchange)
FeeAsset = Literal["received", "quote"]
TimeInForce = Literal["GTC", "IOC", "FOK"]
OrderStatus = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "REJECTED"]
_OPEN: frozenset[str] = frozenset({"NEW", "PARTIALLY_FILLED"})


@dataclass(frozen=True)
class FeeSchedule:
    """Maker and taker fees in basis points of notional (10 bps = 0.1 %), >= 0."""

    maker_bps: Decimal = Decimal("10")
    taker_bps: Decimal = Decimal("10")

    def __post_init__(self) -> None:
        for name in ("maker_bps", "taker_bps"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise BadParameter(f"FeeSchedule.{name} must be a Decimal >= 0 bps, got {value!r}")


@dataclass(frozen=True)
class Order:
    """A snapshot of an order (Decimal prices in quote units, quantities in base units, times UTC ms).

    ``price`` is None for market orders; ``quote_qty`` is the quote budget of
    a ``MARKET`` order placed by ``quoteOrderQty`` (else zero). Invariant:
    ``0 <= executed_qty <= orig_qty`` (for quote-budget orders ``orig_qty``
    is the executed quantity once closed).

    Stop orders: ``stop_price`` (None for other types) and
    ``working_time_ms``, the venue time the stop triggered (None while it
    waits; for other orders their creation time). ``order_list_id`` is the
    OCO list the order belongs to (-1 for none).
    """

    order_id: int
    client_order_id: str
    account: str
    symbol: str
    side: Side
    type: VenueOrderType
    time_in_force: TimeInForce
    price: Decimal | None
    orig_qty: Decimal
    quote_qty: Decimal
    executed_qty: Decimal
    cumulative_quote_qty: Decimal
    status: OrderStatus
    time_ms: int
    update_time_ms: int
    stop_price: Decimal | None = None
    working_time_ms: int | None = None
    order_list_id: int = -1

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN

    @property
    def is_working(self) -> bool:
        """False only for a stop order still waiting for its trigger (Binance ``isWorking``)."""
        return self.working_time_ms is not None

    @property
    def remaining_qty(self) -> Decimal:
        return self.orig_qty - self.executed_qty


@dataclass(frozen=True)
class VenueFill:
    """One side of one match, as the account that traded sees it (Binance ``myTrades`` row).

    ``price`` quote per base, ``qty`` base, ``quote_qty = price x qty``;
    ``commission`` in ``commission_asset`` (the asset received). The venue's
    own record (hence ``Venue``): the trading system's fill, parsed from the
    venue's JSON at the edge, is :class:`actors.messages.Fill`.
    """

    trade_id: int
    order_id: int
    account: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    time_ms: int


@dataclass(frozen=True)
class Trade:
    """A public trade print: ``buyer_is_maker`` is True when the aggressor sold."""

    trade_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    time_ms: int
    buyer_is_maker: bool


@dataclass(frozen=True)
class ExecutionReport:
    """What :meth:`MatchingEngine.submit` returns: the order after matching and the taker's fills."""

    order: Order
    fills: tuple[VenueFill, ...]


@dataclass(frozen=True)
class OcoLeg:
    """One leg of an OCO for :meth:`MatchingEngine.submit_oco`: ``LIMIT_MAKER`` (price) or a stop type (price + stop)."""

    type: VenueOrderType
    price: Decimal
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = "GTC"
    client_order_id: str | None = None


@dataclass(frozen=True)
class OrderList:
    """An OCO as placed: its id, client id, symbol and leg order ids (in the order given), times UTC ms."""

    order_list_id: int
    client_list_id: str
    account: str
    symbol: str
    order_ids: tuple[int, ...]
    time_ms: int


@dataclass
class _ListLock:
    """What an intact OCO locked: ``amount`` of ``asset`` for all legs together (the largest leg need)."""

    asset: str
    amount: Decimal


@dataclass
class _SymbolState:
    instrument: Instrument
    book: OrderBook
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=5000))
    fills: list[VenueFill] = field(default_factory=list)
    stops: dict[int, None] = field(default_factory=dict)  # untriggered stop order ids, oldest first
    checked_trade_id: int = 0  # triggers were checked against every trade up to this id


def _fee(amount: Decimal, bps: Decimal, precision: int, rounding: str = ROUND_DOWN) -> Decimal:
    with decimal.localcontext(DECIMAL_CONTEXT):
        return (amount * bps / Decimal(10000)).quantize(Decimal(1).scaleb(-precision), rounding=rounding)


class MatchingEngine:
    """A venue's matching engine (see the module docstring for the rules).

    Args:
        instruments: the listed markets.
        ledger: balances; a fresh one when omitted.
        fees: default maker/taker fees; ``account_fees`` overrides per account.
        clock: returns the venue time in UTC ms (used for every timestamp).
        max_closed_orders: closed orders remembered per account for queries.
        fee_asset: ``received`` (Binance) or ``quote`` (Coinbase Exchange); see the module docstring.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        ledger: Ledger | None = None,
        fees: FeeSchedule = FeeSchedule(),
        account_fees: dict[str, FeeSchedule] | None = None,
        clock: Callable[[], int] = lambda: 0,
        max_closed_orders: int = 100_000,
        fee_asset: FeeAsset = "received",
    ) -> None:
        if fee_asset not in ("received", "quote"):
            raise BadParameter(f"fee_asset must be 'received' or 'quote', got {fee_asset!r}")
        self.fee_asset = fee_asset
        self._fee_reserve: dict[int, Decimal] = {}  # order id -> quote still locked for its fees (fee_asset quote)
        self.ledger = ledger if ledger is not None else Ledger()
        self.fees = fees
        self.account_fees: dict[str, FeeSchedule] = dict(account_fees or {})
        self.clock = clock
        self._symbols: dict[str, _SymbolState] = {}
        for inst in instruments:
            self._symbols[inst.symbol] = _SymbolState(inst, OrderBook(inst))
        self._orders: dict[int, Order] = {}
        self._client_ids: dict[tuple[str, str], int] = {}
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._max_closed = max_closed_orders
        # per account: its closed order ids, oldest first (each account forgets only its own oldest), and
        # every order id it holds (so one account's orders are listed without scanning the liquidity's churn)
        self._closed: dict[str, deque[int]] = {}
        self._by_account: dict[str, dict[int, None]] = {}
        self.update_id = 1  # bumps on every book change (Binance lastUpdateId)
        self._lists: dict[int, OrderList] = {}
        self._list_ids = itertools.count(1)
        self._list_locks: dict[int, _ListLock] = {}  # intact OCOs only: list id -> its shared lock
        self._leg_of: dict[int, int] = {}  # order id -> list id, while its OCO is intact

    # ----------------------------------------------------------- lookups
    @property
    def instruments(self) -> list[Instrument]:
        return [s.instrument for s in self._symbols.values()]

    def instrument(self, symbol: str) -> Instrument:
        return self._state(symbol).instrument

    def book(self, symbol: str) -> OrderBook:
        return self._state(symbol).book

    def _state(self, symbol: str) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            raise UnknownSymbol("Invalid symbol.")
        return state

    def fee_schedule(self, account: str) -> FeeSchedule:
        return self.account_fees.get(account, self.fees)

    def depth(self, symbol: str, limit: int | None = None) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """``(bids, asks)`` as ``(price, qty)`` Decimal levels, best first, ``limit`` levels per side."""
        state = self._state(symbol)
        inst = state.instrument
        return tuple(  # type: ignore[return-value]
            [(inst.price(t), inst.qty(q)) for t, q in state.book.levels(side, limit)] for side in (BUY, SELL)
        )

    def trades(self, symbol: str, limit: int = 500) -> list[Trade]:
        """The latest public trades, oldest first (at most ``limit``; copies only those, not the whole tape)."""
        tape = self._state(symbol).trades
        if limit >= len(tape):
            return list(tape)
        return list(itertools.islice(reversed(tape), limit))[::-1] if limit > 0 else []

    def trades_after(self, symbol: str, trade_id: int) -> list[Trade]:
        """The public trades still on the tape with an id above ``trade_id``, oldest first (ids grow along the
        tape: read from its newest end, so a feed polling for what is new pays for the new trades only)."""
        new = []
        for trade in reversed(self._state(symbol).trades):
            if trade.trade_id <= trade_id:
                break
            new.append(trade)
        new.reverse()
        return new

    def fills(self, account: str, symbol: str) -> list[VenueFill]:
        """Every fill of ``account`` on ``symbol``, oldest first."""
        return [f for f in self._state(symbol).fills if f.account == account]

    def get_order(self, account: str, symbol: str, *, order_id: int | None = None,
                  client_order_id: str | None = None) -> Order:
        """The order by id or client id; UnknownOrder (``-2013``) when not this account's on ``symbol``."""
        self._state(symbol)
        oid = self._resolve(account, order_id, client_order_id)
        order = self._orders.get(oid) if oid is not None else None
        if order is None or order.account != account or order.symbol != symbol:
            raise UnknownOrder("Order does not exist.")
        return order

    def open_orders(self, account: str, symbol: str | None = None) -> list[Order]:
        """Open orders of ``account`` (on ``symbol`` or all), oldest first."""
        symbols = [symbol] if symbol is not None else list(self._symbols)
        out = []
        for sym in symbols:
            state = self._state(sym)
            for oid in [r.order_id for r in state.book.orders()] + list(state.stops):
                order = self._orders[oid]
                if order.account == account:
                    out.append(order)
        return sorted(out, key=lambda o: o.order_id)

    def order_list(self, account: str, order_list_id: int) -> OrderList:
        """The OCO ``order_list_id`` of ``account``; UnknownOrder (``-2011`` as Binance answers) otherwise."""
        found = self._lists.get(order_list_id)
        if found is None or found.account != account:
            raise UnknownOrder("Order list does not exist.", code=-2011)
        return found

    def order_lists(self, account: str) -> list[OrderList]:
        """Every OCO of ``account`` the venue remembers, oldest first."""
        return [lst for lst in self._lists.values() if lst.account == account]

    def list_orders(self, order_list: OrderList) -> list[Order]:
        """The legs of ``order_list`` as they are now."""
        return [self._orders[oid] for oid in order_list.order_ids if oid in self._orders]

    def last_price(self, symbol: str) -> Decimal | None:
        """The price of the latest public trade (None before the first)."""
        tape = self._state(symbol).trades
        return tape[-1].price if tape else None

    def orders(self, account: str, symbol: str) -> list[Order]:
        """Every order of ``account`` on ``symbol`` the venue remembers (open and closed), oldest first."""
        self._state(symbol)
        orders = self._orders
        return [o for o in map(orders.__getitem__, self._by_account.get(account, ())) if o.symbol == symbol]

    def _resolve(self, account: str, order_id: int | None, client_order_id: str | None) -> int | None:
        if order_id is not None:
            return order_id
        if client_order_id is not None:
            return self._client_ids.get((account, client_order_id))
        raise BadParameter("Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")

    # ---------------------------------------------------------- submitting
    def submit(
        self,
        account: str,
        symbol: str,
        side: Side,
        type: VenueOrderType,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        quote_qty: Decimal | None = None,
        time_in_force: TimeInForce = "GTC",
        client_order_id: str | None = None,
        stop_price: Decimal | None = None,
    ) -> ExecutionReport:
        """Place an order and match it at once; returns the order and the taker's fills.

        A stop order (``STOP_LOSS_LIMIT`` / ``TAKE_PROFIT_LIMIT``, needs
        ``stop_price``) is only recorded and its funds locked: it returns
        with status ``NEW``, ``is_working`` False and no fills.

        Raises (nothing changes when it does): UnknownSymbol, BadParameter,
        FilterFailure (``-1013``), InsufficientBalance (``-2010``),
        VenueOrderRejected (``-2010``: duplicate client id, LIMIT_MAKER that would take,
        stop that would trigger immediately).
        """
        state = self._state(symbol)
        inst = state.instrument
        self._check_order(account, side, type, time_in_force, client_order_id)
        limit_ticks, lots, budget = self._sizes(inst, type, qty, price, quote_qty, stop_price)

        if type in STOP_ORDER_TYPES:
            self._check_stop(state, side, type, stop_price)  # type: ignore[arg-type]
            need, lock_asset = self._limit_need(inst, side, limit_ticks, lots)  # type: ignore[arg-type]
            reserve = self._lock(account, inst, side, need, lock_asset)
            order = self._record(account, symbol, side, type, time_in_force, inst, limit_ticks, lots, None,
                                 client_order_id, reserve, stop_price=stop_price)
            if state.trades:  # the stop sees only trades after it (it was checked against the last one)
                state.checked_trade_id = max(state.checked_trade_id, state.trades[-1].trade_id)
            state.stops[order.order_id] = None
            return ExecutionReport(order, ())

        with decimal.localcontext(DECIMAL_CONTEXT):
            plan = self._plan(state, side, limit_ticks, lots, budget)
        planned_lots = sum(n for _, n in plan)
        if type == "LIMIT_MAKER" and plan:
            raise VenueOrderRejected("Order would immediately match and take.")
        if type == "MARKET" and budget is None and plan:  # NOTIONAL applies to market orders (applyMinToMarket)
            if sum((inst.notional(o.price_ticks, n) for o, n in plan), ZERO) < inst.min_notional:
                raise FilterFailure("Filter failure: NOTIONAL")
        if type != "MARKET" and time_in_force == "FOK" and planned_lots < (lots or 0):
            plan = []  # FOK that cannot fill completely: expires untouched

        # ---- funds: lock what the order can spend, checked before any change
        if type == "MARKET":
            if side == BUY:
                need = sum((inst.notional(o.price_ticks, n) for o, n in plan), ZERO)
                if budget is not None:
                    need = budget if plan else ZERO
                lock_asset = inst.quote
            else:
                need = inst.qty(sum(n for _, n in plan)) if budget is not None else inst.qty(lots)  # type: ignore[arg-type]
                lock_asset = inst.base
        else:
            need, lock_asset = self._limit_need(inst, side, limit_ticks, lots)  # type: ignore[arg-type]
        reserve = self._lock(account, inst, side, need, lock_asset)
        order = self._record(account, symbol, side, type, time_in_force, inst, limit_ticks, lots, budget,
                             client_order_id, reserve)
        report = self._match(state, order, plan, limit_ticks, lots, budget, need, lock_asset)
        self._run_triggers(state)
        return report

    # ---------------------------------------------------------- submit parts
    def _check_order(self, account: str, side: Side, type: str, time_in_force: str,
                     client_order_id: str | None) -> None:
        if side not in (BUY, SELL):
            raise BadParameter(f"Invalid side {side!r}.", code=-1117)
        if type not in _ORDER_TYPES:
            raise BadParameter(f"Invalid orderType {type!r}.", code=-1116)
        if time_in_force not in ("GTC", "IOC", "FOK"):
            raise BadParameter(f"Invalid timeInForce {time_in_force!r}.", code=-1115)
        if client_order_id is not None and (account, client_order_id) in self._client_ids:
            raise VenueOrderRejected("Duplicate order sent.")

    @staticmethod
    def _sizes(inst: Instrument, type: str, qty: Decimal | None, price: Decimal | None, quote_qty: Decimal | None,
               stop_price: Decimal | None) -> tuple[int | None, int | None, Decimal | None]:
        """``(limit ticks, lots, quote budget)`` of an order after the parameter and filter checks."""
        if type in STOP_ORDER_TYPES:
            if stop_price is None:
                raise BadParameter("Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
            inst.price_ticks(stop_price)  # PRICE_FILTER applies to the stop price too
        elif stop_price is not None:
            raise BadParameter("Parameter 'stopPrice' sent when not required.", code=-1106)
        if type == "MARKET":
            if price is not None:
                raise BadParameter("Parameter 'price' sent when not required.", code=-1106)
            if (qty is None) == (quote_qty is None):
                raise BadParameter("Param 'quantity' or 'quoteOrderQty' must be sent (exactly one).")
            if qty is not None:
                return None, inst.qty_lots(qty), None
            if not isinstance(quote_qty, Decimal) or not quote_qty.is_finite() or quote_qty <= 0:
                raise FilterFailure("Filter failure: NOTIONAL")
            if quote_qty < inst.min_notional:
                raise FilterFailure("Filter failure: NOTIONAL")
            return None, None, quote_qty
        if price is None or qty is None:
            raise BadParameter(f"Mandatory parameter 'price' and 'quantity' must be sent for {type} orders.")
        if quote_qty is not None:
            raise BadParameter("Parameter 'quoteOrderQty' sent when not required.", code=-1106)
        limit_ticks = inst.price_ticks(price)
        lots = inst.qty_lots(qty)
        inst.check_notional(limit_ticks, lots)
        return limit_ticks, lots, None

    def _check_stop(self, state: _SymbolState, side: Side, type: str, stop_price: Decimal) -> None:
        """Refuse a stop the last trade already reached (Binance ``-2010``)."""
        last = state.trades[-1].price if state.trades else None
        if last is not None and crossed(trigger_direction(side, STOP_ORDER_TYPES[type]), stop_price, last):
            raise VenueOrderRejected("Stop price would trigger immediately.")

    @staticmethod
    def _limit_need(inst: Instrument, side: Side, limit_ticks: int, lots: int) -> tuple[Decimal, str]:
        """What a limit-priced order locks: ``price x qty`` quote for a buy, ``qty`` base for a sell."""
        if side == BUY:
            return inst.notional(limit_ticks, lots), inst.quote
        return inst.qty(lots), inst.base

    def _fee_reserve_for(self, account: str, inst: Instrument, side: Side, need: Decimal) -> Decimal:
        if side == BUY and self.fee_asset == "quote" and need > 0:
            fees = self.fee_schedule(account)
            return _fee(need, max(fees.maker_bps, fees.taker_bps), inst.asset_precision, ROUND_UP)
        return ZERO

    def _lock(self, account: str, inst: Instrument, side: Side, need: Decimal, lock_asset: str) -> Decimal:
        """Lock ``need`` (+ the quote-fee reserve of a buy); InsufficientBalance, changing nothing, otherwise."""
        reserve = self._fee_reserve_for(account, inst, side, need)
        if need + reserve > self.ledger.free(account, lock_asset):
            raise InsufficientBalance("Account has insufficient balance for requested action.")
        self.ledger.lock(account, lock_asset, need + reserve)
        return reserve

    def _record(self, account: str, symbol: str, side: Side, type: VenueOrderType, time_in_force: TimeInForce,
                inst: Instrument, limit_ticks: int | None, lots: int | None, budget: Decimal | None,
                client_order_id: str | None, reserve: Decimal, *, stop_price: Decimal | None = None,
                order_list_id: int = -1) -> Order:
        """Create the order record (status NEW) under a fresh id."""
        now = self.clock()
        oid = next(self._order_ids)
        coid = client_order_id if client_order_id is not None else f"emu{oid:010d}"
        order = Order(
            order_id=oid, client_order_id=coid, account=account, symbol=symbol, side=side, type=type,
            time_in_force="GTC" if type in ("MARKET", "LIMIT_MAKER") else time_in_force,
            price=None if limit_ticks is None else inst.price(limit_ticks),
            orig_qty=inst.qty(lots) if lots is not None else ZERO, quote_qty=budget or ZERO,
            executed_qty=ZERO, cumulative_quote_qty=ZERO, status="NEW", time_ms=now, update_time_ms=now,
            stop_price=stop_price, working_time_ms=None if type in STOP_ORDER_TYPES else now,
            order_list_id=order_list_id,
        )
        self._orders[oid] = order
        self._by_account.setdefault(account, {})[oid] = None
        self._client_ids[(account, coid)] = oid
        if reserve > 0:
            self._fee_reserve[oid] = reserve
        return order

    def _match(self, state: _SymbolState, order: Order, plan: list[tuple[RestingOrder, int]],
               limit_ticks: int | None, lots: int | None, budget: Decimal | None, need: Decimal,
               lock_asset: str) -> ExecutionReport:
        """Execute ``plan`` for the recorded, funded ``order``; rest, expire or close what is left."""
        inst = state.instrument
        oid, account, side = order.order_id, order.account, order.side
        now = self.clock()
        planned_lots = sum(n for _, n in plan)
        fills: list[VenueFill] = []
        with decimal.localcontext(DECIMAL_CONTEXT):
            for maker, n in plan:
                fills.append(self._execute(state, taker_order=oid, taker_account=account, taker_side=side,
                                           maker=maker, lots=n, taker_limit_ticks=limit_ticks))
            order = self._orders[oid]
            if budget is not None:
                order = replace(order, orig_qty=order.executed_qty)
            remaining_lots = (lots - planned_lots) if lots is not None else 0
            if order.type == "MARKET":
                status: OrderStatus = "FILLED" if (plan and (budget is not None or remaining_lots == 0)) else "EXPIRED"
                self._release_market(account, side, inst, need, order)
            elif remaining_lots and order.time_in_force == "GTC":
                state.book.add(RestingOrder(oid, account, side, limit_ticks, remaining_lots))  # type: ignore[arg-type]
                self.update_id += 1
                status = "PARTIALLY_FILLED" if plan else "NEW"
            elif remaining_lots:
                status = "EXPIRED"
                unspent = (inst.notional(limit_ticks, remaining_lots) if side == BUY  # type: ignore[arg-type]
                           else inst.qty(remaining_lots))
                self.ledger.unlock(account, lock_asset, unspent)
            else:
                status = "FILLED"
            order = replace(order, status=status, update_time_ms=now)
            self._orders[oid] = order
            if not order.is_open:
                self._remember_closed(oid)
        return ExecutionReport(order, tuple(fills))

    # ---------------------------------------------------------- stop triggers
    def _run_triggers(self, state: _SymbolState) -> None:
        """Trigger every waiting stop a trade since the last check reached, until no new trade triggers one.

        Stops fire in the order of the trade that reached them (then by order
        id); each then matches as a limit order, and its trades are checked
        in turn.
        """
        while True:
            tape = state.trades
            if not tape or tape[-1].trade_id <= state.checked_trade_id:
                return
            if not state.stops:
                state.checked_trade_id = tape[-1].trade_id
                return
            new: list[Decimal] = []
            for trade in reversed(tape):
                if trade.trade_id <= state.checked_trade_id:
                    break
                new.append(trade.price)
            state.checked_trade_id = tape[-1].trade_id
            fired: dict[int, None] = {}
            for px in reversed(new):  # oldest first
                for oid in state.stops:
                    if oid not in fired:
                        o = self._orders[oid]
                        if crossed(trigger_direction(o.side, STOP_ORDER_TYPES[o.type]), o.stop_price, px):
                            fired[oid] = None
            for oid in fired:
                if oid in state.stops:  # not expired meanwhile by its OCO sibling
                    self._trigger(state, oid)

    def _trigger(self, state: _SymbolState, oid: int) -> None:
        """The stop ``oid`` triggers: its OCO sibling expires, then it matches as a limit order."""
        del state.stops[oid]
        self._activate_leg(oid)
        now = self.clock()
        order = replace(self._orders[oid], working_time_ms=now, update_time_ms=now)
        self._orders[oid] = order
        inst = state.instrument
        limit_ticks = inst.price_ticks(order.price)  # type: ignore[arg-type]
        lots = inst.qty_lots(order.orig_qty)
        with decimal.localcontext(DECIMAL_CONTEXT):
            plan = self._plan(state, order.side, limit_ticks, lots, None)
        if order.time_in_force == "FOK" and sum(n for _, n in plan) < lots:
            plan = []
        need, lock_asset = self._limit_need(inst, order.side, limit_ticks, lots)
        self._match(state, order, plan, limit_ticks, lots, None, need, lock_asset)

    # ---------------------------------------------------------- OCO
    def submit_oco(self, account: str, symbol: str, side: Side, qty: Decimal, legs: Iterable[OcoLeg], *,
                   list_client_id: str | None = None) -> tuple[OrderList, list[Order]]:
        """Place an OCO of ``legs`` (same side and quantity; see the module docstring) atomically.

        Binance's price rules are checked against the last trade (when there
        is one): for a SELL every leg above the market (a ``LIMIT_MAKER`` or a
        take-profit) is priced above the last trade and the stop-loss below
        it; for a BUY the reverse. Raises (nothing changes when it does):
        BadParameter, FilterFailure, InsufficientBalance, VenueOrderRejected
        (``-2010``: "The relationship of the prices for the orders is not
        correct.", a stop that would trigger at once, a LIMIT_MAKER that would take).
        """
        state = self._state(symbol)
        inst = state.instrument
        legs = list(legs)
        if self.fee_asset != "received":
            raise BadParameter("OCO orders are not supported on this venue.", code=-1116)
        if len(legs) != 2:
            raise BadParameter("An OCO needs exactly two orders.")
        makers = [leg for leg in legs if leg.type == "LIMIT_MAKER"]
        if len(makers) > 1 or any(leg.type not in ("LIMIT_MAKER", *STOP_ORDER_TYPES) for leg in legs):
            raise BadParameter("An OCO pairs a LIMIT_MAKER or TAKE_PROFIT_LIMIT with a STOP_LOSS_LIMIT.",
                               code=-1116)
        if sum(leg.type == "STOP_LOSS_LIMIT" for leg in legs) != 1:
            raise BadParameter("An OCO pairs a LIMIT_MAKER or TAKE_PROFIT_LIMIT with a STOP_LOSS_LIMIT.",
                               code=-1116)
        ids = [leg.client_order_id for leg in legs if leg.client_order_id is not None]
        if len(set(ids)) != len(ids):
            raise VenueOrderRejected("Duplicate order sent.")
        sized = []
        for leg in legs:
            self._check_order(account, side, leg.type, leg.time_in_force, leg.client_order_id)
            limit_ticks, lots, _ = self._sizes(inst, leg.type, qty, leg.price, None, leg.stop_price)
            sized.append((leg, limit_ticks, lots))
        last = state.trades[-1].price if state.trades else None
        stop = next(leg for leg in legs if leg.type == "STOP_LOSS_LIMIT")
        other = next(leg for leg in legs if leg is not stop)
        other_level = other.price if other.type == "LIMIT_MAKER" else other.stop_price
        above, below = (other_level, stop.stop_price) if side == SELL else (stop.stop_price, other_level)
        if not (above > below) or (last is not None and not (above > last > below)):  # type: ignore[operator]
            raise VenueOrderRejected("The relationship of the prices for the orders is not correct.")
        for leg in legs:
            if leg.type in STOP_ORDER_TYPES:
                self._check_stop(state, side, leg.type, leg.stop_price)  # type: ignore[arg-type]
        maker_leg = next(((leg, t, n) for leg, t, n in sized if leg.type == "LIMIT_MAKER"), None)
        if maker_leg is not None and self._plan(state, side, maker_leg[1], maker_leg[2], None):
            raise VenueOrderRejected("Order would immediately match and take.")
        needs = [self._limit_need(inst, side, t, n) for _, t, n in sized]  # type: ignore[arg-type]
        lock_asset = needs[0][1]
        total = max(n for n, _ in needs)
        self._lock(account, inst, side, total, lock_asset)  # no fee reserve: fee_asset is "received"

        list_id = next(self._list_ids)
        orders = [self._record(account, symbol, side, leg.type, leg.time_in_force, inst, t, n, None,
                               leg.client_order_id, ZERO, stop_price=leg.stop_price, order_list_id=list_id)
                  for leg, t, n in sized]
        order_list = OrderList(list_id, list_client_id or f"emulist{list_id:08d}", account, symbol,
                               tuple(o.order_id for o in orders), self.clock())
        self._lists[list_id] = order_list
        self._list_locks[list_id] = _ListLock(lock_asset, total)
        if state.trades:
            state.checked_trade_id = max(state.checked_trade_id, state.trades[-1].trade_id)
        for o, (leg, t, n) in zip(orders, sized):
            self._leg_of[o.order_id] = list_id
            if leg.type == "LIMIT_MAKER":
                state.book.add(RestingOrder(o.order_id, account, side, t, n))  # type: ignore[arg-type]
                self.update_id += 1
            else:
                state.stops[o.order_id] = None
        return order_list, [self._orders[o.order_id] for o in orders]

    def _activate_leg(self, oid: int) -> None:
        """Leg ``oid`` of an intact OCO filled or triggered: expire the other legs and release the shared lock.

        The active leg keeps exactly what it would lock alone; the rest of
        the list's lock is unlocked.
        """
        list_id = self._leg_of.get(oid)
        if list_id is None:
            return
        order_list = self._lists[list_id]
        lock = self._list_locks.pop(list_id)
        active = self._orders[oid]
        state = self._state(active.symbol)
        inst = state.instrument
        for other in order_list.order_ids:
            self._leg_of.pop(other, None)
            if other == oid:
                continue
            self._drop_leg(state, other, "EXPIRED")
        keep, _ = self._limit_need(inst, active.side, inst.price_ticks(active.price),  # type: ignore[arg-type]
                                   inst.qty_lots(active.orig_qty))
        if lock.amount > keep:
            self.ledger.unlock(active.account, lock.asset, lock.amount - keep)

    def _drop_leg(self, state: _SymbolState, oid: int, status: OrderStatus) -> None:
        """Take an open leg off the book / the waiting stops and close it as ``status`` (no unlocking)."""
        if oid in state.stops:
            del state.stops[oid]
        elif oid in state.book:
            state.book.remove(oid)
            self.update_id += 1
        order = self._orders[oid]
        if order.is_open:
            self._orders[oid] = replace(order, status=status, update_time_ms=self.clock())
            self._remember_closed(oid)

    def cancel_list(self, account: str, symbol: str, *, order_list_id: int | None = None,
                    list_client_id: str | None = None) -> tuple[OrderList, list[Order]]:
        """Cancel an OCO (every leg still open); CancelRejected (``-2011``) when unknown or nothing is open."""
        self._state(symbol)
        found = None
        if order_list_id is not None:
            found = self._lists.get(order_list_id)
        elif list_client_id is not None:
            found = next((lst for lst in self._lists.values()
                          if lst.account == account and lst.client_list_id == list_client_id), None)
        else:
            raise BadParameter("Param 'orderListId' or 'listClientOrderId' must be sent, but both were empty/null!")
        if found is None or found.account != account or found.symbol != symbol:
            raise CancelRejected("Order list does not exist.")
        open_legs = [oid for oid in found.order_ids if self._orders.get(oid) is not None and self._orders[oid].is_open]
        if not open_legs:
            raise CancelRejected("Unknown order sent.")
        self.cancel(account, symbol, order_id=open_legs[0])  # cancels the whole list while it is intact
        for oid in open_legs[1:]:
            if self._orders[oid].is_open:
                self.cancel(account, symbol, order_id=oid)
        return found, self.list_orders(found)

    def _release_market(self, account: str, side: Side, inst: Instrument, locked: Decimal, order: Order) -> None:
        """Unlock what a market order locked but did not spend (quote budget left, base unsold)."""
        spent = order.cumulative_quote_qty if side == BUY else order.executed_qty
        rest = locked - spent
        if rest > 0:
            self.ledger.unlock(account, inst.quote if side == BUY else inst.base, rest)

    def _plan(self, state: _SymbolState, side: Side, limit_ticks: int | None, lots: int | None,
              budget: Decimal | None, eligible: Callable[[RestingOrder], bool] | None = None,
              ) -> list[tuple[RestingOrder, int]]:
        """Resting orders and lots an order would take, in priority order (changes nothing)."""
        inst = state.instrument
        plan: list[tuple[RestingOrder, int]] = []
        left_lots = lots
        left_budget = budget
        for maker in state.book.matchable(side, limit_ticks):
            if eligible is not None and not eligible(maker):
                continue
            if left_lots is not None:
                n = min(left_lots, maker.remaining_lots)
                left_lots -= n
            elif left_budget is not None:
                lot_cost = inst.notional(maker.price_ticks, 1)
                n = min(maker.remaining_lots, int(left_budget // lot_cost))
                left_budget -= lot_cost * n
            else:
                break
            if n <= 0:
                break
            plan.append((maker, n))
            if left_lots == 0:
                break
        return plan

    def _execute(self, state: _SymbolState, *, taker_order: int, taker_account: str, taker_side: Side,
                 maker: RestingOrder, lots: int, taker_limit_ticks: int | None) -> VenueFill:
        """Settle one match at the maker's price; returns the taker's fill (the maker's is recorded)."""
        inst = state.instrument
        now = self.clock()
        ticks = maker.price_ticks
        qty = inst.qty(lots)
        notional = inst.notional(ticks, lots)
        buyer, seller = (taker_account, maker.account) if taker_side == BUY else (maker.account, taker_account)
        buyer_is_maker = taker_side == SELL
        buyer_fees = self.fee_schedule(buyer)
        seller_fees = self.fee_schedule(seller)
        buyer_bps = buyer_fees.maker_bps if buyer_is_maker else buyer_fees.taker_bps
        if self.fee_asset == "quote":
            buyer_fee, buyer_fee_asset = _fee(notional, buyer_bps, inst.asset_precision), inst.quote
        else:
            buyer_fee, buyer_fee_asset = _fee(qty, buyer_bps, inst.asset_precision), inst.base
        seller_fee = _fee(notional, seller_fees.taker_bps if buyer_is_maker else seller_fees.maker_bps,
                          inst.asset_precision)
        ledger = self.ledger
        ledger.settle(seller, inst.base, qty, buyer)
        ledger.settle(buyer, inst.quote, notional, seller)
        if taker_side == BUY and taker_limit_ticks is not None and taker_limit_ticks > ticks:
            ledger.unlock(buyer, inst.quote, inst.notional(taker_limit_ticks - ticks, lots))  # price improvement
        if buyer_fee_asset == inst.quote and buyer_fee > 0:  # out of the buy order's fee reserve
            self._spend_reserve(taker_order if taker_side == BUY else maker.order_id, buyer, inst.quote, buyer_fee)
        ledger.charge_fee(buyer, buyer_fee_asset, buyer_fee)
        ledger.charge_fee(seller, inst.quote, seller_fee)
        state.book.reduce(maker, lots)
        self.update_id += 1

        trade_id = next(self._trade_ids)
        state.trades.append(Trade(trade_id, inst.symbol, inst.price(ticks), qty, now, buyer_is_maker))
        maker_order = self._orders[maker.order_id]
        self._orders[maker.order_id] = self._filled(maker_order, qty, notional, now, closed=maker.remaining_lots == 0)
        if maker.remaining_lots == 0:
            self._remember_closed(maker.order_id)
        taker = self._orders[taker_order]
        self._orders[taker_order] = self._filled(taker, qty, notional, now, closed=False)
        for oid in (maker.order_id, taker_order):
            if oid in self._leg_of:  # an OCO leg's first fill expires its sibling (never on the book: a stop)
                self._activate_leg(oid)
        fills = []
        for account, order_id, side, is_maker in (
            (maker.account, maker.order_id, SELL if taker_side == BUY else BUY, True),
            (taker_account, taker_order, taker_side, False),
        ):
            fee, fee_asset = (buyer_fee, buyer_fee_asset) if side == BUY else (seller_fee, inst.quote)
            fills.append(VenueFill(trade_id, order_id, account, inst.symbol, side, inst.price(ticks), qty, notional,
                              fee, fee_asset, is_maker, now))
        state.fills.extend(fills)
        return fills[1]

    @staticmethod
    def _filled(order: Order, qty: Decimal, notional: Decimal, now: int, *, closed: bool) -> Order:
        executed = order.executed_qty + qty
        status: OrderStatus = "FILLED" if closed else "PARTIALLY_FILLED"
        return replace(order, executed_qty=executed, cumulative_quote_qty=order.cumulative_quote_qty + notional,
                       status=status, update_time_ms=now)

    def fee_reserve(self, order_id: int) -> Decimal:
        """Quote still locked for an open buy's fees (``fee_asset="quote"``; zero otherwise and once closed)."""
        return self._fee_reserve.get(order_id, ZERO)

    def _spend_reserve(self, order_id: int, account: str, asset: str, fee: Decimal) -> None:
        """Unlock ``fee`` of the order's fee reserve, to be charged (fee_asset quote)."""
        left = self._fee_reserve.get(order_id, ZERO)
        if fee > left:  # the reserve is the larger rate rounded up: a fill's fee never exceeds it
            raise InsufficientBalance(f"fee of {fee} {asset} exceeds the reserve {left} of order {order_id}")
        self._fee_reserve[order_id] = left - fee
        self.ledger.unlock(account, asset, fee)

    def _remember_closed(self, order_id: int) -> None:
        closed = self._orders[order_id]
        left = self._fee_reserve.pop(order_id, ZERO)
        if left > 0:  # the fee reserve a closed buy did not spend
            self.ledger.unlock(closed.account, self.instrument(closed.symbol).quote, left)
        queue = self._closed.setdefault(closed.account, deque())
        queue.append(order_id)
        while len(queue) > self._max_closed:  # this account's oldest closed order is forgotten
            old = self._orders.pop(queue.popleft(), None)
            if old is not None:
                self._client_ids.pop((old.account, old.client_order_id), None)
                self._by_account[old.account].pop(old.order_id, None)

    # ------------------------------------------------------------ cancelling
    def cancel(self, account: str, symbol: str, *, order_id: int | None = None,
               client_order_id: str | None = None) -> Order:
        """Cancel an open order, unlocking what it reserved; CancelRejected (``-2011``) otherwise."""
        state = self._state(symbol)
        oid = self._resolve(account, order_id, client_order_id)
        order = self._orders.get(oid) if oid is not None else None
        if order is None or order.account != account or order.symbol != symbol or not order.is_open:
            raise CancelRejected("Unknown order sent.")
        inst = state.instrument
        list_id = self._leg_of.get(order.order_id)
        if list_id is not None:  # a leg of an intact OCO: the whole list is canceled, its shared lock released
            lock = self._list_locks.pop(list_id)
            for oid in self._lists[list_id].order_ids:
                self._leg_of.pop(oid, None)
                self._drop_leg(state, oid, "CANCELED")
            self.ledger.unlock(account, lock.asset, lock.amount)
            return self._orders[order.order_id]
        if order.order_id in state.stops:  # a stop still waiting: locked as a limit order, not on the book
            del state.stops[order.order_id]
            need, asset = self._limit_need(inst, order.side, inst.price_ticks(order.price),  # type: ignore[arg-type]
                                           inst.qty_lots(order.remaining_qty))
            self.ledger.unlock(account, asset, need)
        else:
            resting = state.book.remove(order.order_id)
            if resting.side == BUY:
                self.ledger.unlock(account, inst.quote, inst.notional(resting.price_ticks, resting.remaining_lots))
            else:
                self.ledger.unlock(account, inst.base, inst.qty(resting.remaining_lots))
            self.update_id += 1
        order = replace(order, status="CANCELED", update_time_ms=self.clock())
        self._orders[order.order_id] = order
        self._remember_closed(order.order_id)
        return order

    def cancel_all(self, account: str, symbol: str) -> list[Order]:
        """Cancel every open order of ``account`` on ``symbol`` (an OCO's legs go together)."""
        out = []
        for o in self.open_orders(account, symbol):
            if self._orders[o.order_id].is_open:
                out.append(self.cancel(account, symbol, order_id=o.order_id))
            else:  # the sibling of an OCO leg canceled just before
                out.append(self._orders[o.order_id])
        return out

    # ---------------------------------------------------------------- replay
    def requote(self, account: str, symbol: str, quoted: Iterable[int],
                levels: Iterable[tuple[Side, int, int]]) -> list[int]:
        """Replace the synthetic liquidity's quotes ``quoted`` (order ids of ``account``) with ``levels``.

        ``levels``: ``(side, price ticks, lots)`` in the order the market
        maker places them (prices and sizes already through the instrument's
        filters). The book, the balances and every later fill are those of
        cancelling each order of ``quoted`` still resting and then submitting
        each level as a ``LIMIT_MAKER`` in that order (a level that would
        take a resting order is left out), at a fraction of the cost:

        * an order of ``quoted`` resting untouched at a level's price and
          size, last in its price's queue, stays: a new one would queue just
          there, with the same lock;
        * a replaced order is dropped, not remembered as canceled: the
          liquidity account has no API key, so nobody asks about it, and
          the venue does not hold thousands of them.

        Returns the ids of the orders now quoting, in level order (the
        ``quoted`` of the next call).
        """
        state = self._state(symbol)
        book, inst, ledger = state.book, state.instrument, self.ledger
        levels = list(levels)
        wanted = {(side, ticks): lots for side, ticks, lots in levels}
        kept: dict[tuple[Side, int], int] = {}
        with decimal.localcontext(DECIMAL_CONTEXT):
            freed = {inst.base: ZERO, inst.quote: ZERO}
            for oid in quoted:
                resting = book.get(oid)
                if resting is None or resting.account != account:
                    continue  # filled or canceled since it was placed
                key = (resting.side, resting.price_ticks)
                order = self._orders[oid]
                if wanted.get(key) == resting.remaining_lots and not order.executed_qty and book.is_last(resting):
                    kept[key] = oid
                    continue
                book.remove(oid)
                self.update_id += 1
                need, asset = self._limit_need(inst, resting.side, resting.price_ticks, resting.remaining_lots)
                freed[asset] += need + self._fee_reserve.pop(oid, ZERO)
                del self._orders[oid]
                self._client_ids.pop((account, order.client_order_id), None)
                self._by_account[account].pop(oid, None)
            for asset, amount in freed.items():
                if amount:
                    ledger.unlock(account, asset, amount)
            # the levels that rest: the liquidity's own levels never cross each other (bids below asks), so
            # whether one would take depends only on the book as it is now
            new: list[tuple[Side, int, int, Decimal]] = []
            locks = {inst.base: ZERO, inst.quote: ZERO}
            for side, ticks, lots in levels:
                if (side, ticks) in kept:
                    continue
                opposite = book.best(SELL if side == BUY else BUY)
                if opposite is not None and (opposite <= ticks if side == BUY else opposite >= ticks):
                    continue  # would take: a LIMIT_MAKER is rejected
                need, asset = self._limit_need(inst, side, ticks, lots)
                reserve = self._fee_reserve_for(account, inst, side, need)
                locks[asset] += need + reserve
                new.append((side, ticks, lots, reserve))
            for asset, amount in locks.items():  # InsufficientBalance before any order rests
                if amount:
                    ledger.lock(account, asset, amount)
            for side, ticks, lots, reserve in new:
                oid = self._record(account, symbol, side, "LIMIT_MAKER", "GTC", inst, ticks, lots, None, None,
                                   reserve).order_id
                book.add(RestingOrder(oid, account, side, ticks, lots))
                self.update_id += 1
                kept[(side, ticks)] = oid
        return [kept[(side, ticks)] for side, ticks, _ in levels if (side, ticks) in kept]

    def tape_print(self, symbol: str, *, aggressor: Side, price: Decimal, qty: Decimal, counterparty: str,
                   exclude: frozenset[str] = frozenset(), through_only: bool = True) -> list[VenueFill]:
        """A historical trade ``qty @ price`` (aggressor side ``aggressor``) fills resting orders it trades through.

        The print acts as an IOC order of ``counterparty`` (the tape account,
        which must hold the funds) against resting orders not owned by
        accounts in ``exclude`` (the synthetic liquidity), priced strictly
        better than ``price`` (``through_only``) or at least as good. Fills
        are at the resting orders' prices; at most ``qty`` is filled. The
        print itself is appended to the public tape (after the fills it
        caused, which are public trades too), its price snapped to the
        nearest tick and its size to whole lots (at least one). Returns the
        resting side's fills.
        """
        state = self._state(symbol)
        inst = state.instrument
        ticks = int((price / inst.tick_size).to_integral_value(ROUND_HALF_EVEN))  # snapped to the nearest tick
        lots = max(1, int(qty // inst.step_size))
        limit = ticks + (1 if aggressor == SELL else -1) * (1 if through_only else 0)
        plan = self._plan(state, aggressor, limit, lots, None, eligible=lambda o: o.account not in exclude)
        maker_fills: list[VenueFill] = []
        if plan:
            need = (sum((inst.notional(o.price_ticks, n) for o, n in plan), ZERO) if aggressor == BUY
                    else inst.qty(sum(n for _, n in plan)))
            asset = inst.quote if aggressor == BUY else inst.base
            self.ledger.lock(counterparty, asset, need)
            now = self.clock()
            oid = next(self._order_ids)
            self._orders[oid] = Order(oid, f"tape{oid}", counterparty, symbol, aggressor, "MARKET", "GTC", None,
                                      inst.qty(sum(n for _, n in plan)), ZERO, ZERO, ZERO, "NEW", now, now)
            self._by_account.setdefault(counterparty, {})[oid] = None
            with decimal.localcontext(DECIMAL_CONTEXT):
                for maker, n in plan:
                    self._execute(state, taker_order=oid, taker_account=counterparty, taker_side=aggressor,
                                  maker=maker, lots=n, taker_limit_ticks=None)
                    maker_fills.append(state.fills[-2])
            self._orders[oid] = replace(self._orders[oid], status="FILLED")
            self._remember_closed(oid)
        state.trades.append(Trade(next(self._trade_ids), symbol, inst.price(ticks), inst.qty(lots), self.clock(),
                                  aggressor == SELL))
        self._run_triggers(state)
        return maker_fills
