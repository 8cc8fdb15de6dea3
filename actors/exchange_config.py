"""An exchange connection's settings and the venue differences per API dialect. Pure (no Ray, no ccxt).

:class:`ExchangeConfig` is what an :class:`actors.exchange.ExchangeActor` is built from (it holds no
secret). :data:`DIALECTS` is the table of what differs between the venues' APIs as the ExchangeActor
uses them through ccxt (the way freqtrade keeps ``_ft_has`` per exchange): the request parameter that
names an order by our client id, the form a client id must take, the "trades from id" parameter, the
times in force it serves, and whether market data streams over WebSocket. A venue not in the table is
refused by name.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from actors.exchange_core import ResolutionPolicy, client_order_id
from actors.messages import OrderIntent
from raytrader.errors import InputError

__all__ = ["ExchangeConfig", "ExchangeConfigError", "UnknownClientOrder", "Dialect", "DIALECTS", "dialect_of",
           "venue_client_id", "our_client_id", "time_in_force_params"]


@dataclass(frozen=True)
class Dialect:
    """What one venue API needs that another does not (see the module docstring).

    Attributes:
        name: the dialect (``binance``, ``coinbase``).
        create_client_id: the ccxt ``params`` key that sets our client id on a new order.
        query_client_id: the ccxt ``params`` key that looks an order up (or cancels it) by client id.
        client_id_form: ``free`` (any string the namespace rules allow) or ``uuid`` (Coinbase ``client_oid``).
        fills_from_id_param: request parameter for "trades from id" (Binance ``fromId``), or None: our fills
            are then fetched by time (from the newest fill's timestamp, ms) and deduplicated by trade id.
        streamed: the market-data kinds the venue streams over WebSocket; the others are polled over REST
            (Coinbase Exchange has no candle channel: ``bars`` are polled).
        fee_asset: ``received`` (Binance) or ``quote`` (Coinbase: fees always in the quote asset).
        sign_window_ms: how long a signed request stays valid at the venue when the venue fixes it (Coinbase:
            30 s from ``CB-ACCESS-TIMESTAMP``), ms; None: the client chooses it (Binance ``recvWindow``, the
            ExchangeConfig's ``resolution.recv_window_ms``). Bounds the absent-order rule.
        user_stream: the venue pushes our own fills over an authenticated WebSocket channel that ccxt.pro reads
            with ``watch_my_trades``; REST polling then only fills gaps.
        pushed_fees: a pushed fill carries the fee the venue charged (Binance ``executionReport`` ``n``/``N``):
            it is recorded as it arrives; else (Coinbase ``match``: a fee *rate* only) a push makes the actor
            fetch the symbol's fills over REST at once.
        order_stream: the venue pushes every order update (Binance ``executionReport``: NEW, TRADE, CANCELED,
            EXPIRED) that ccxt.pro reads with ``watch_orders``: the actor's order states follow without a REST
            query (the background sync still checks open orders).
        time_in_force: the times in force a plain limit order may take there, sent as ccxt's unified
            ``time_in_force_param`` (ccxt 4.5: ``binance`` passes ``timeInForce`` through, defaulting it to GTC
            for a limit order; ``coinbaseexchange`` sends it as ``time_in_force``). Coinbase's ``GTT`` (with
            ``cancel_after``) is not used here.
    """

    name: str
    create_client_id: str
    query_client_id: str
    client_id_form: str
    fills_from_id_param: str | None
    streamed: tuple[str, ...]
    fee_asset: str
    sign_window_ms: int | None
    user_stream: bool
    pushed_fees: bool = False
    order_stream: bool = False
    time_in_force: tuple[str, ...] = ("GTC", "IOC", "FOK")
    time_in_force_param: str = "timeInForce"

    @property
    def websocket(self) -> bool:
        """Every market-data kind streams over WebSocket."""
        return set(self.streamed) == {"trades", "book", "bars"}


_BINANCE = Dialect("binance", "clientOrderId", "origClientOrderId", "free", "fromId", ("trades", "book", "bars"),
                   "received", None, user_stream=True, pushed_fees=True, order_stream=True)
_COINBASE = Dialect("coinbase", "clientOrderId", "clientOrderId", "uuid", None, ("trades", "book"), "quote",
                    30_000, True)

#: ccxt exchange id -> its dialect
DIALECTS: dict[str, Dialect] = {"binance": _BINANCE, "binanceus": _BINANCE, "coinbaseexchange": _COINBASE}


def dialect_of(exchange_id: str) -> Dialect:
    """The dialect of a ccxt exchange id; ExchangeConfigError naming the ids known."""
    try:
        return DIALECTS[exchange_id]
    except KeyError:
        raise ExchangeConfigError(f"ExchangeConfig.exchange_id {exchange_id!r}: no venue table for it; known: "
                                  f"{', '.join(sorted(DIALECTS))}") from None


# A uuid-form client id carries our id itself, so it maps back without any state (a restarted actor reads the
# venue's orders back into our ids): RFC 9562 version 8 (vendor-defined); its 122 free bits hold the 96-bit
# digest of our id (client_order_id's 24 hex chars) and a 26-bit tag of the namespace.
_TAG_BITS, _LOW62 = 26, (1 << 62) - 1


def _namespace_tag(namespace: str) -> int:
    return int.from_bytes(hashlib.blake2b(namespace.encode(), digest_size=4).digest(), "big") >> (32 - _TAG_BITS)


def _uuid8(payload: int) -> uuid.UUID:
    """A version-8, RFC-variant UUID holding the 122-bit ``payload``."""
    value = ((payload >> 74) << 80) | (8 << 76) | (((payload >> 62) & 0xFFF) << 64) | (0b10 << 62) | (payload & _LOW62)
    return uuid.UUID(int=value)


def _payload(u: uuid.UUID) -> int:
    i = u.int
    return ((i >> 80) << 74) | (((i >> 64) & 0xFFF) << 62) | (i & _LOW62)


def venue_client_id(dialect: Dialect, ours: str) -> str:
    """The client id sent to the venue for our deterministic id ``ours`` (``exchange_core.client_order_id``).

    ``free`` venues: ``ours`` itself. ``uuid`` venues: a version-8 UUID that encodes ``ours`` (same id in, same
    UUID out, one-to-one; :func:`our_client_id` reads it back). An id not of our form becomes a name-based
    UUID (version 5), which does not map back.
    """
    if dialect.client_id_form != "uuid":
        return ours
    namespace, _, digest = ours.partition("-")
    if len(digest) == 24 and all(c in "0123456789abcdef" for c in digest) and namespace:
        return str(_uuid8((int(digest, 16) << _TAG_BITS) | _namespace_tag(namespace)))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"raytrader:{ours}"))


def our_client_id(dialect: Dialect, namespace: str, venue_id: str) -> str:
    """Our client order id for the id a venue reports: the inverse of :func:`venue_client_id` for ids of
    ``namespace``; any other id (an order placed by someone else, another namespace) is returned as it is."""
    if dialect.client_id_form != "uuid" or not venue_id:
        return venue_id
    try:
        u = uuid.UUID(venue_id)
    except ValueError:
        return venue_id
    if u.version != 8:
        return venue_id
    payload = _payload(u)
    if payload & ((1 << _TAG_BITS) - 1) != _namespace_tag(namespace):
        return venue_id
    return f"{namespace}-{payload >> _TAG_BITS:024x}"


def time_in_force_params(dialect: Dialect, intent: OrderIntent) -> dict[str, str]:
    """The ccxt ``create_order`` params that carry ``intent.time_in_force``: set for a plain limit order (a
    market order is immediate and a stop-limit order takes the venue's default, GTC: the intent allows no
    other); ExchangeConfigError naming the field when the dialect does not serve the value."""
    if intent.type != "limit" or intent.stop_price is not None:
        return {}
    if intent.time_in_force not in dialect.time_in_force:
        raise ExchangeConfigError(f"OrderIntent.time_in_force {intent.time_in_force!r}: the {dialect.name} dialect "
                                  f"serves {', '.join(dialect.time_in_force)}")
    return {dialect.time_in_force_param: intent.time_in_force}


class ExchangeConfigError(InputError):
    """An :class:`ExchangeConfig` field (named in the message) is invalid, or a call names an unconfigured symbol."""


class UnknownClientOrder(InputError):
    """The venue does not know this client order id for this symbol."""


@dataclass(frozen=True)
class ExchangeConfig:
    """One venue connection. Holds no secret (only the key-store entry's name).

    Attributes:
        venue: our name for the venue (``binance``, ``binanceus-paper``); stamped on every message.
        exchange_id: the ccxt.pro class (``binance``).
        symbols: unified symbols to stream and trade (``("XRP/ETH",)``).
        base_url: REST base of an emulator (``http://127.0.0.1:9001``); None = the venue's own URLs (live).
        ws_url: WebSocket base of an emulator (``EmulatorServer.ws_url``); None = the venue's own.
        key_name: key-store entry to trade with; None = market data only.
        keystore_home: folder of the key store (``raytrader keys`` uses the cluster home).
        namespace: prefix of client order ids (account/strategy; 1..11 of A-Z a-z 0-9 _).
        streams: which of ``trades``, ``book``, ``bars`` to stream per symbol.
        bar_timeframe: kline interval streamed (ccxt form, ``1m``).
        book_depth: levels per side in published book snapshots.
        timeout_ms: ccxt request timeout, ms.
        buffer: events kept per stream for ``poll``.
        poll_s: period of the background fill sync and unknown-order resolution, seconds.
        reconnect_s: wait after a stream error before re-subscribing, seconds.
        rest_poll_s: period of the REST poll for market data the venue does not stream (its dialect's
            ``streamed``), seconds.
        resolution: bounds of the unknown-outcome protocol, and (``resolution.recv_window_ms``) the
            Binance ``recvWindow`` the client signs with, ms (it bounds the absent-order rule).
    """

    venue: str
    exchange_id: str = "binance"
    symbols: tuple[str, ...] = ()
    base_url: str | None = None
    ws_url: str | None = None
    key_name: str | None = None
    keystore_home: str | None = None
    namespace: str = "rt"
    streams: tuple[str, ...] = ("trades", "book", "bars")
    bar_timeframe: str = "1m"
    book_depth: int = 10
    timeout_ms: int = 10_000
    buffer: int = 10_000
    poll_s: float = 0.5
    reconnect_s: float = 0.2
    rest_poll_s: float = 1.0
    resolution: ResolutionPolicy = field(default_factory=ResolutionPolicy)

    def __post_init__(self) -> None:
        if not self.venue:
            raise ExchangeConfigError("ExchangeConfig.venue is empty")
        if not self.exchange_id.isidentifier():
            raise ExchangeConfigError(f"ExchangeConfig.exchange_id {self.exchange_id!r}: expected a ccxt id")
        dialect_of(self.exchange_id)  # raises for a venue with no table entry
        if isinstance(self.symbols, str) or any("/" not in s for s in self.symbols):
            raise ExchangeConfigError(f"ExchangeConfig.symbols {self.symbols!r}: expected unified symbols")
        bad = [s for s in self.streams if s not in ("trades", "book", "bars")]
        if bad:
            raise ExchangeConfigError(f"ExchangeConfig.streams: unknown kind(s) {bad}; use trades, book, bars")
        if self.key_name is not None and not self.keystore_home:
            raise ExchangeConfigError("ExchangeConfig.keystore_home is required with key_name")
        if (self.ws_url is None) != (self.base_url is None):
            raise ExchangeConfigError("ExchangeConfig.base_url and ws_url: give both (emulator) or neither (live)")
        client_order_id(self.namespace, "check")  # raises on a bad namespace
        if self.book_depth < 1 or self.buffer < 1 or self.timeout_ms < 1 or self.resolution.recv_window_ms < 1:
            raise ExchangeConfigError("ExchangeConfig: book_depth, buffer, timeout_ms, resolution.recv_window_ms must be >= 1")
