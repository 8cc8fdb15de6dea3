"""An exchange connection's settings and the venue differences per API dialect. Pure (no Ray, no ccxt).

:class:`ExchangeConfig` is what an :class:`actors.exchange.ExchangeActor` is built from (it holds no
secret). :data:`DIALECTS` is the table of what differs between the venues' APIs as the ExchangeActor
uses them through ccxt (the way freqtrade keeps ``_ft_has`` per exchange): the request parameter that
names an order by our client id, the form a client id must take, the "trades from id" parameter, and
whether market data streams over WebSocket. A venue not in the table is refused by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from actors.exchange_core import ResolutionPolicy, client_order_id
from raytrader.errors import InputError

__all__ = ["ExchangeConfig", "ExchangeConfigError", "UnknownClientOrder", "Dialect", "DIALECTS", "dialect_of",
           "venue_client_id"]


@dataclass(frozen=True)
class Dialect:
    """What one venue API needs that another does not (see the module docstring).

    Attributes:
        name: the dialect (``binance``, ``coinbase``).
        create_client_id: the ccxt ``params`` key that sets our client id on a new order.
        query_client_id: the ccxt ``params`` key that looks an order up (or cancels it) by client id.
        client_id_form: ``free`` (any string the namespace rules allow) or ``uuid`` (Coinbase ``client_oid``).
        fills_from_id_param: request parameter for "trades from id" (Binance ``fromId``), or None.
        websocket: market data and fills can stream over WebSocket (else REST polling only).
        fee_asset: ``received`` (Binance) or ``quote`` (Coinbase: fees always in the quote asset).
    """

    name: str
    create_client_id: str
    query_client_id: str
    client_id_form: str
    fills_from_id_param: str | None
    websocket: bool
    fee_asset: str


_BINANCE = Dialect("binance", "clientOrderId", "origClientOrderId", "free", "fromId", True, "received")
_COINBASE = Dialect("coinbase", "clientOrderId", "clientOrderId", "uuid", None, False, "quote")

#: ccxt exchange id -> its dialect
DIALECTS: dict[str, Dialect] = {"binance": _BINANCE, "binanceus": _BINANCE, "coinbaseexchange": _COINBASE}


def dialect_of(exchange_id: str) -> Dialect:
    """The dialect of a ccxt exchange id; ExchangeConfigError naming the ids known."""
    try:
        return DIALECTS[exchange_id]
    except KeyError:
        raise ExchangeConfigError(f"ExchangeConfig.exchange_id {exchange_id!r}: no venue table for it; known: "
                                  f"{', '.join(sorted(DIALECTS))}") from None


def venue_client_id(dialect: Dialect, ours: str) -> str:
    """The client id sent to the venue for our deterministic id ``ours``: itself, or (``uuid`` venues) the
    UUID derived from it by name (so a restart derives the same one, and the mapping is one-to-one)."""
    if dialect.client_id_form == "uuid":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"raytrader:{ours}"))
    return ours


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
