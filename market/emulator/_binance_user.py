"""Binance Spot user-data stream, the pure part: listen keys, and an account's changes as Binance events.

No I/O and no clock of its own (the hub in :mod:`market.emulator._binance_user_ws` passes the times in).

Listen keys (:class:`ListenKeys`), as ``POST/PUT/DELETE /api/v3/userDataStream`` serve them:

* ``open(account)`` returns the account's active key, or a new one (60 characters, ``[A-Za-z0-9]``); either
  way the key is valid for ``ttl_ms`` (Binance: 60 minutes) from now. One active key per account, as on Binance.
* ``keepalive(account, key)`` extends it to ``now + ttl_ms``; ``close(account, key)`` ends it. A key that is
  unknown, expired, closed, or another account's raises :class:`ListenKeyMissing` (``-1125`` "This listenKey
  does not exist.").
* ``expire()`` removes and returns the keys whose validity ended (their sockets get ``listenKeyExpired``).

Events (:class:`AccountEvents`, one per account with a subscriber): each ``collect(now_ms)`` compares the
engine's orders, fills and balances of the account with what it reported last time and returns, in the
engine's order, Binance's events for what changed since:

* ``executionReport`` for every order update: ``x`` = ``NEW`` (the order was accepted), ``TRADE`` (one per
  fill: last fill ``l``/``L``/``Y``, commission ``n``/``N``, trade id ``t``, maker ``m``; cumulative ``z``/``Z``
  after it; ``X`` ``PARTIALLY_FILLED`` or, at the last fill of a filled order, ``FILLED``), ``CANCELED``,
  ``EXPIRED`` (IOC/FOK remainder, a market order out of liquidity), ``REJECTED`` (an order the engine records
  as rejected; the engine refuses bad orders synchronously, with a REST error and no event, as Binance does
  outside cancel-replace). A stop order reads NEW (``P`` its stop price, ``w`` false) when placed; its
  trigger sends no event of its own, its fills do. Every field ccxt's ``binance`` (ccxt.pro ``parse_ws_order`` / ``parse_ws_trade``)
  reads is there; for ``CANCELED``, ``C`` is the order's client id and ``c`` the cancel's (Binance's rule).
* ``outboundAccountPosition`` after the execution reports: ``B`` lists the assets whose free or locked amount
  changed (``f``, ``l``), ``u`` is the update time.

``E`` (event time) is venue time, as on the market streams; ``I`` (Binance: "ignore", in practice an
increasing execution id) numbers this account's events 1, 2, 3, ... so a reader can check it saw them all.
Prices and quantities are strings with 8 decimals, as the REST answers.

The first ``collect`` after construction reports only what changed after it: a subscriber hears of
changes from the moment it subscribed (what happened before is REST's to tell, as on Binance).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from market.emulator._binance import fmt
from market.emulator._params import HttpError, authenticate
from market.emulator.book import Instrument
from market.emulator.errors import EmulatorError
from market.emulator.matching import MatchingEngine, Order, VenueFill
from market.emulator.venue import ApiKey

__all__ = ["LISTEN_KEY_TTL_MS", "ListenKeyMissing", "ListenKeys", "AccountEvents", "execution_report",
           "api_key_only", "ws_api_authenticate"]

#: a listen key's validity without a keepalive (Binance: 60 minutes), ms
LISTEN_KEY_TTL_MS = 60 * 60_000
_KEY_CHARS = string.ascii_letters + string.digits
_TERMINAL = ("CANCELED", "EXPIRED", "REJECTED")


class ListenKeyMissing(EmulatorError):
    """The listen key is unknown, expired, closed or another account's (``-1125``)."""

    code = -1125

    def __init__(self) -> None:
        super().__init__("This listenKey does not exist.")


@dataclass
class _Key:
    account: str
    expires_ms: int


class ListenKeys:
    """Listen keys per account (module docstring); ``clock()`` is the time in UTC ms (the server's wall clock by
    default; a test may replace it to make keys expire)."""

    def __init__(self, clock: Callable[[], int], ttl_ms: int = LISTEN_KEY_TTL_MS) -> None:
        self.clock = clock
        self.ttl_ms = ttl_ms
        self._keys: dict[str, _Key] = {}

    def _live(self, key: str) -> _Key | None:
        entry = self._keys.get(key)
        return entry if entry is not None and entry.expires_ms > self.clock() else None

    def open(self, account: str) -> str:
        """The account's active key (extended) or a new one."""
        now = self.clock()
        for key, entry in self._keys.items():
            if entry.account == account and entry.expires_ms > now:
                entry.expires_ms = now + self.ttl_ms
                return key
        key = "".join(secrets.choice(_KEY_CHARS) for _ in range(60))
        self._keys[key] = _Key(account, now + self.ttl_ms)
        return key

    def keepalive(self, account: str, key: str) -> None:
        entry = self._live(key)
        if entry is None or entry.account != account:
            raise ListenKeyMissing()
        entry.expires_ms = self.clock() + self.ttl_ms

    def close(self, account: str, key: str) -> None:
        entry = self._live(key)
        if entry is None or entry.account != account:
            raise ListenKeyMissing()
        del self._keys[key]

    def account_of(self, key: str) -> str | None:
        """The account of a live key, else None."""
        entry = self._live(key)
        return None if entry is None else entry.account

    def expire(self) -> list[str]:
        """Remove and return the keys whose validity has ended."""
        now = self.clock()
        gone = [k for k, e in self._keys.items() if e.expires_ms <= now]
        for key in gone:
            del self._keys[key]
        return gone


def api_key_only(lookup: Callable[[str], ApiKey | None], header: str) -> ApiKey:
    """An API-key (not signed) endpoint's check: missing -> 401 ``-2014``, unknown -> 401 ``-2015``."""
    if not header:
        raise HttpError(401, -2014, "API-key format invalid.")
    key = lookup(header)
    if key is None:
        raise HttpError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return key


def ws_api_authenticate(lookup: Callable[[str], ApiKey | None], params: Any, *, now_ms: int,
                        default_recv_window_ms: int, max_recv_window_ms: int, max_ahead_ms: int) -> ApiKey:
    """A signed WebSocket-API request's key (``userDataStream.subscribe.signature``): the signature is the hex
    HMAC-SHA256 of the other params sorted by name as ``k=v`` joined by ``&``; then the REST checks
    (:func:`market.emulator._params.authenticate`: key, signature, timestamp, recvWindow). HttpError otherwise."""
    if not isinstance(params, dict):
        raise HttpError(400, -1102, "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.")
    flat = {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()}
    payload = "&".join(f"{k}={v}" for k, v in sorted(flat.items()) if k != "signature")
    return authenticate(lookup, flat.get("apiKey", ""), payload, "", flat, now_ms=now_ms,
                        default_recv_window_ms=default_recv_window_ms, max_recv_window_ms=max_recv_window_ms,
                        max_ahead_ms=max_ahead_ms)


def execution_report(order: Order, inst: Instrument, *, event_ms: int, seq: int, x: str, X: str,
                     cum_qty: Decimal, cum_quote: Decimal, fill: VenueFill | None = None) -> dict:
    """One ``executionReport`` (Binance Spot field set; ``fill`` for ``x=TRADE``)."""
    canceled = x == "CANCELED"
    stop = getattr(order, "stop_price", None)  # stop orders (STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT) carry these
    working_since = getattr(order, "working_time_ms", order.time_ms)
    if fill is not None:
        when, working = fill.time_ms, X == "PARTIALLY_FILLED" and order.type != "MARKET"
    else:
        when = order.time_ms if x == "NEW" else order.update_time_ms
        working = (x == "NEW" and order.type != "MARKET" and order.time_in_force == "GTC"
                   and working_since is not None and stop is None)
    return {
        "e": "executionReport", "E": event_ms, "s": inst.market_id,
        "c": f"cancel-{order.order_id}" if canceled else order.client_order_id, "S": order.side, "o": order.type,
        "f": order.time_in_force, "q": fmt(order.orig_qty), "p": fmt(order.price), "P": fmt(stop),
        "F": fmt(Decimal(0)), "g": getattr(order, "order_list_id", -1), "C": order.client_order_id if canceled else "", "x": x, "X": X, "r": "NONE",
        "i": order.order_id, "l": fmt(fill.qty if fill else Decimal(0)), "z": fmt(cum_qty),
        "L": fmt(fill.price if fill else Decimal(0)), "n": fmt(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None, "T": when, "t": fill.trade_id if fill else -1, "I": seq,
        "w": working, "m": bool(fill.is_maker) if fill else False, "M": fill is not None, "O": order.time_ms,
        "Z": fmt(cum_quote), "Y": fmt(fill.quote_qty if fill else Decimal(0)), "Q": fmt(order.quote_qty),
        "W": working_since if working_since is not None else order.time_ms, "V": "NONE",
    }


@dataclass
class _Seen:
    """What the last report said of an open order: cumulative quantity and quote, and its status."""

    qty: Decimal
    quote: Decimal
    status: str


class AccountEvents:
    """Binance user-data events of one account, by difference with what was last reported (module docstring).

    Call under the venue lock; ``collect`` is O(orders of the account) per call.
    """

    def __init__(self, engine: MatchingEngine, account: str) -> None:
        self.engine = engine
        self.account = account
        self.seq = 0
        self._fills_seen: dict[str, int] = {}
        self._open: dict[int, _Seen] = {}
        self._max_order_id = 0
        for inst in engine.instruments:
            self._fills_seen[inst.symbol] = len(engine.fills(account, inst.symbol))
            for o in engine.orders(account, inst.symbol):
                self._max_order_id = max(self._max_order_id, o.order_id)
                if o.is_open:
                    self._open[o.order_id] = _Seen(o.executed_qty, o.cumulative_quote_qty, o.status)
        self._balances = self._balance_map()

    def _balance_map(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {b.asset: (b.free, b.locked) for b in self.engine.ledger.balances(self.account)}

    def collect(self, now_ms: int) -> list[dict]:
        """The events since the last call, oldest first (module docstring)."""
        groups: list[tuple[tuple[int, int], list[Callable[[int], dict]]]] = []
        newest = self._max_order_id
        for inst in self.engine.instruments:
            symbol = inst.symbol
            fills = self.engine.fills(self.account, symbol)
            by_order: dict[int, list[VenueFill]] = {}
            for f in fills[self._fills_seen.get(symbol, 0):]:
                by_order.setdefault(f.order_id, []).append(f)
            self._fills_seen[symbol] = len(fills)
            for o in self.engine.orders(self.account, symbol):
                if o.order_id <= self._max_order_id and o.order_id not in self._open:
                    continue
                newest = max(newest, o.order_id)
                group = self._order_events(o, inst, by_order.get(o.order_id, []), now_ms)
                if group[1]:
                    groups.append(group)
        self._max_order_id = newest
        groups.sort(key=lambda g: g[0])
        out = []
        for make in (m for _, makers in groups for m in makers):
            self.seq += 1
            out.append(make(self.seq))
        balances = self._balance_map()
        changed = [(a, fl) for a, fl in sorted(balances.items()) if self._balances.get(a) != fl]
        self._balances = balances
        if changed:
            self.seq += 1
            out.append({"e": "outboundAccountPosition", "E": now_ms, "u": now_ms, "I": self.seq,
                        "B": [{"a": a, "f": fmt(f), "l": fmt(lk)} for a, (f, lk) in changed]})
        return out

    def _order_events(self, o: Order, inst: Instrument, fills: list[VenueFill],
                      now_ms: int) -> tuple[tuple[int, int], list[Callable[[int], dict]]]:
        """One order's changes: ``((time of the first, order id), event makers in order)``. An order's events
        stay together (NEW, its fills, its end), and orders follow each other by that key: a new order's
        immediate fills and expiry come before the next order's NEW, as the engine made them."""
        seen = self._open.pop(o.order_id, None)
        out: list[tuple[int, Callable[[int], dict]]] = []

        def report(x: str, X: str, qty: Decimal, quote: Decimal, fill: VenueFill | None = None) -> Callable[[int], dict]:
            return lambda seq: execution_report(o, inst, event_ms=now_ms, seq=seq, x=x, X=X, cum_qty=qty,
                                                cum_quote=quote, fill=fill)

        if seen is None:
            seen = _Seen(Decimal(0), Decimal(0), "NEW")
            if o.status != "REJECTED":
                out.append((o.time_ms, report("NEW", "NEW", seen.qty, seen.quote)))
        qty, quote = seen.qty, seen.quote
        for f in sorted(fills, key=lambda f: f.trade_id):
            qty, quote = qty + f.qty, quote + f.quote_qty
            last = o.status == "FILLED" and qty >= o.executed_qty
            out.append((f.time_ms, report("TRADE", "FILLED" if last else "PARTIALLY_FILLED", qty, quote, f)))
        if o.status in _TERMINAL and seen.status != o.status:
            out.append((o.update_time_ms, report(o.status, o.status, qty, quote)))
        if o.is_open:
            self._open[o.order_id] = _Seen(qty, quote, o.status)
        return (min((t for t, _ in out), default=0), o.order_id), [make for _, make in out]
