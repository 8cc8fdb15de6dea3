"""A Binance-Spot-compatible HTTP server on loopback, wrapping one :class:`~market.emulator.venue.Venue`.

Speaks the subset of ``https://api.binance.com`` that ccxt's ``binance``
class uses for spot trading (see :data:`ROUTES`): public market data
(``ping time exchangeInfo klines depth trades aggTrades ticker/24hr
ticker/bookTicker ticker/price``) and signed trading (``order`` POST/GET/DELETE,
``openOrders`` GET/DELETE, ``allOrders``, ``myTrades``, ``account``), with
order types LIMIT, LIMIT_MAKER, MARKET, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT
(``stopPrice``), and OCO order lists (``orderList/oco`` POST, the older
``order/oco`` POST, ``orderList`` GET/DELETE; see :mod:`market.emulator.matching`).

Binance behaviour kept:

* **Signing**: ``X-MBX-APIKEY`` header + HMAC-SHA256 (hex) of the query
  string followed by the form body, without ``signature``. Unknown key ->
  401 ``-2015``; missing key -> 401 ``-2014``; bad signature -> 400
  ``-1022``; ``timestamp`` more than 1000 ms ahead of server time, or older
  than ``recvWindow`` (default 5000 ms, at most 60000) -> 400 ``-1021``.
* **Errors** as ``{"code", "msg"}`` with HTTP 400 (codes in
  :mod:`market.emulator.errors`).
* **Weight-based rate limit** per fixed wall-clock minute (Binance's weights
  per endpoint); every response carries ``X-MBX-USED-WEIGHT-1M``; over the
  limit -> HTTP 429, ``Retry-After`` (seconds to the window's end) and
  ``-1003``.

WebSocket market streams (trade, diff depth, kline) for ccxt.pro live at
:attr:`EmulatorServer.ws_url` (see :mod:`market.emulator._ws`). The user-data stream
(``executionReport``, ``outboundAccountPosition``) is served two ways, as Binance does: listen keys
(``POST/PUT/DELETE /api/v3/userDataStream``, API-key header, not signed; 60 minutes without keepalive
expires a key: ``-1125``) with ``/ws/<listenKey>``, and the WebSocket API's
``userDataStream.subscribe.signature`` at :attr:`EmulatorServer.ws_api_url` (what ccxt.pro uses for spot);
see :mod:`market.emulator._binance_user_ws`.

Time: ``/api/v3/time`` and the signature window use the *wall* clock (ccxt
signs with its own wall clock); everything the venue reports (orders, fills,
trades, klines) is in venue (replay) time.

The server binds 127.0.0.1 only (any other host is refused). Use it as a
context manager (runs its own event loop in a thread; for sync clients) or
``await start()`` / ``await stop()`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable
from urllib.parse import parse_qsl

import numpy as np
from aiohttp import web

from market.emulator import _binance as fmt
from market.emulator._params import HttpError, authenticate, decimal_param, int_param, required
from market.emulator._binance_user import ListenKeys, api_key_only
from market.emulator._binance_user_ws import LISTEN_KEY_PATH, WS_API_PATH, UserDataHub
from market.emulator._ws import StreamHub
from market.emulator.book import BUY, SELL, Instrument
from market.emulator.errors import BadParameter, EmulatorError
from market.emulator.matching import STOP_ORDER_TYPES, OcoLeg
from market.emulator.faults import FaultInjector, RandomFaults
from market.emulator.replay import ReplayClock
from market.emulator.venue import ApiKey, Venue

__all__ = ["RateLimitConfig", "FaultConfig", "ServerConfig", "EmulatorServer", "ROUTES", "BINANCE_INTERVALS"]

_LOOPBACK = ("127.0.0.1",)
#: the kline intervals Binance Spot accepts
BINANCE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")


@dataclass(frozen=True)
class RateLimitConfig:
    """``weight_per_minute``: REQUEST_WEIGHT allowed per wall-clock minute (Binance spot: 6000)."""

    weight_per_minute: int = 6000


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection (0 disables each); see :mod:`market.emulator.faults` for the kinds.

    Attributes:
        latency_ms: delay added before every response, ms.
        fail_every: every Nth request (counting all) answers HTTP 503 with an HTML page.
        lose_order_response_every: every Nth ``POST /api/v3/order`` is executed but its
            connection is closed without a response ("accepted, response lost").
        random: seeded random faults (5xx, 429, timeout, lost response, dropped WebSocket) at a rate.
        hang_ms: how long a ``timeout`` fault holds a request before processing it, ms.

    Scripted faults are added at run time: ``server.faults.script("lost_response", "POST", "/api/v3/order")``.
    """

    latency_ms: int = 0
    fail_every: int = 0
    lose_order_response_every: int = 0
    random: RandomFaults = RandomFaults()
    hang_ms: int = 15_000


@dataclass(frozen=True)
class ServerConfig:
    """Server settings.

    Attributes:
        host: must be ``127.0.0.1``.
        port: 0 picks a free port.
        replay_speed: None = the server never advances the replay (the owner calls
            ``venue.advance_to``); 1.0 = real time; N = N x; ``math.inf`` = as fast as possible.
        max_recv_window_ms: largest accepted ``recvWindow`` (Binance: 60000).
        default_recv_window_ms: ``recvWindow`` when the request sends none (Binance: 5000).
        max_ahead_ms: how far a ``timestamp`` may be ahead of server time (Binance: 1000).
    """

    host: str = "127.0.0.1"
    port: int = 0
    replay_speed: float | None = None
    max_recv_window_ms: int = 60_000
    default_recv_window_ms: int = 5_000
    max_ahead_ms: int = 1_000
    rate_limit: RateLimitConfig = RateLimitConfig()
    faults: FaultConfig = FaultConfig()


@dataclass(frozen=True)
class _Route:
    handler: str
    weight: int | Callable[[dict[str, str]], int]
    signed: bool = False
    keyed: bool = False  # API key only, not signed (the listen-key endpoints)


def _depth_weight(params: dict[str, str]) -> int:
    try:
        limit = int(params.get("limit", 100))
    except ValueError:
        return 5
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


#: (method, path) -> handler name, request weight, signed?
ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/api/v3/ping"): _Route("ping", 1),
    ("GET", "/api/v3/time"): _Route("time", 1),
    ("GET", "/api/v3/exchangeInfo"): _Route("exchange_info", 20),
    ("GET", "/api/v3/klines"): _Route("klines", 2),
    ("GET", "/api/v3/depth"): _Route("depth", _depth_weight),
    ("GET", "/api/v3/trades"): _Route("trades", 25),
    ("GET", "/api/v3/aggTrades"): _Route("agg_trades", 2),
    ("GET", "/api/v3/ticker/24hr"): _Route("ticker_24hr", lambda p: 2 if "symbol" in p else 80),
    ("GET", "/api/v3/ticker/bookTicker"): _Route("book_ticker", lambda p: 2 if "symbol" in p else 4),
    ("GET", "/api/v3/ticker/price"): _Route("ticker_price", lambda p: 2 if "symbol" in p else 4),
    ("POST", "/api/v3/order"): _Route("new_order", 1, True),
    ("POST", "/api/v3/orderList/oco"): _Route("new_oco", 1, True),
    ("POST", "/api/v3/order/oco"): _Route("new_oco_legacy", 1, True),
    ("GET", "/api/v3/orderList"): _Route("query_order_list", 4, True),
    ("DELETE", "/api/v3/orderList"): _Route("cancel_order_list", 1, True),
    ("GET", "/api/v3/order"): _Route("query_order", 4, True),
    ("DELETE", "/api/v3/order"): _Route("cancel_order", 1, True),
    ("GET", "/api/v3/openOrders"): _Route("open_orders", lambda p: 6 if "symbol" in p else 80, True),
    ("DELETE", "/api/v3/openOrders"): _Route("cancel_open_orders", 1, True),
    ("GET", "/api/v3/allOrders"): _Route("all_orders", 20, True),
    ("GET", "/api/v3/myTrades"): _Route("my_trades", 20, True),
    ("GET", "/api/v3/account"): _Route("account", 20, True),
    ("POST", "/api/v3/userDataStream"): _Route("user_stream_open", 2, keyed=True),
    ("PUT", "/api/v3/userDataStream"): _Route("user_stream_keepalive", 2, keyed=True),
    ("DELETE", "/api/v3/userDataStream"): _Route("user_stream_close", 2, keyed=True),
}


class EmulatorServer:
    """Serves ``venue`` on ``http://127.0.0.1:<port>`` (see the module docstring).

    ``lock`` guards the venue: hold it when touching the venue from another
    thread while the server runs. ``requests`` records ``(method, path)`` of
    every request received. ``faults`` (a :class:`~market.emulator.faults.FaultInjector`)
    takes scripted faults from any thread and counts what it injected.

    A dialect (:class:`market.emulator.coinbase.CoinbaseServer`) subclasses it and replaces the edge
    (:meth:`_answer`, :meth:`_fault_429`, :attr:`ORDER_POST`, :meth:`_make_streams`, :attr:`STREAM_PATHS`);
    the venue, replay, faults and lifecycle stay.
    """

    #: the request whose response ``lose_order_response_every`` loses
    ORDER_POST: tuple[str, str] = ("POST", "/api/v3/order")
    #: where the WebSocket feed is served (ccxt.pro appends a stream index to Binance's)
    STREAM_PATHS: tuple[str, ...] = ("/stream/ws", "/stream/ws/{index}")
    #: the Binance user-data stream (listen-key streams and the WebSocket API); a dialect without it sets False
    USER_DATA_STREAM: bool = True

    def _make_streams(self) -> StreamHub:
        """The WebSocket feed of this dialect."""
        return StreamHub(self.venue, self.lock)

    def __init__(self, venue: Venue, config: ServerConfig = ServerConfig(),
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        if config.host not in _LOOPBACK:
            raise BadParameter(f"the emulator binds loopback only (127.0.0.1), got host {config.host!r}")
        self.venue = venue
        self.config = config
        self.wall_ms = wall_ms
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        self.faults = FaultInjector(config.faults.random)
        self._window = (-1, 0)  # (minute index, weight used)
        self._count = 0
        self._order_posts = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._replay_task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.streams: StreamHub | None = None
        self.user_streams: UserDataHub | None = None  # listen keys, executionReport/outboundAccountPosition

    # ------------------------------------------------------------ lifecycle
    @property
    def ws_url(self) -> str:
        """Base of the WebSocket streams (``ws://127.0.0.1:<port>/stream/ws``)."""
        return self.url.replace("http://", "ws://") + "/stream/ws"

    @property
    def ws_api_url(self) -> str:
        """The WebSocket API (``ws://127.0.0.1:<port>/ws-api/v3``; Binance's ``wss://ws-api.binance.com:443/ws-api/v3``)."""
        return self.url.replace("http://", "ws://") + WS_API_PATH

    async def _drop_all(self) -> int:
        hubs = [h for h in (self.streams, self.user_streams) if h is not None]
        return sum([await h.drop_all() for h in hubs])

    def drop_streams(self) -> int:
        """Close every WebSocket connection (market and user-data) now (from any thread); returns how many were open."""
        if self.streams is None:
            return 0
        if self._loop is not None and threading.current_thread() is not self._thread:
            return asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop).result(timeout=10)
        raise RuntimeError("inside the server's loop, await server.streams.drop_all() instead")

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application()
        self.streams = self._make_streams()
        for path in self.STREAM_PATHS:
            app.router.add_get(path, self.streams.handle)
        if self.USER_DATA_STREAM:
            cfg = self.config
            self.user_streams = UserDataHub(self.venue, self.lock, self.wall_ms,
                                            (cfg.default_recv_window_ms, cfg.max_recv_window_ms, cfg.max_ahead_ms))
            app.router.add_get(LISTEN_KEY_PATH, self.user_streams.handle_listen)
            app.router.add_get(WS_API_PATH, self.user_streams.handle_api)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.streams.start()
        if self.user_streams is not None:
            self.user_streams.start()
        if self.config.replay_speed is not None:
            self._replay_task = asyncio.create_task(self._drive_replay(self.config.replay_speed))

    async def stop(self) -> None:
        if self._replay_task is not None:
            self._replay_task.cancel()
            try:
                await self._replay_task
            except asyncio.CancelledError:
                pass
            self._replay_task = None
        if self.streams is not None:
            await self.streams.stop()
        if self.user_streams is not None:
            await self.user_streams.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = None

    def __enter__(self) -> "EmulatorServer":
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the caller below
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="emulator-server", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if errors:
            raise errors[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    async def _drive_replay(self, speed: float) -> None:
        """Advance the venue along a :class:`ReplayClock`; yields to requests between chunks."""
        clock = ReplayClock(self.venue.now_ms, time.monotonic(), speed)
        while not self.venue.done:
            with self.lock:
                self.venue.advance_to(clock.replay_ms(time.monotonic()), max_events=200)
                nxt = self.venue.next_event_ms()
            if nxt is None:
                break
            delay = 0.0 if math.isinf(speed) else min(0.05, max(0.0, clock.wall_s(nxt) - time.monotonic()))
            await asyncio.sleep(delay)

    # ------------------------------------------------------------ dispatch
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        self.requests.append((method, path))
        self._count += 1
        faults = self.config.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        raw_body = (await request.text()) if request.can_read_body else ""  # the venue holds the whole request
        kind = self.faults.decide(method, path)
        if kind == "5xx" or (faults.fail_every and self._count % faults.fail_every == 0):
            return self._html(503, "503 Service Unavailable")
        if kind == "429":
            return self._fault_429()
        if kind == "timeout":
            await asyncio.sleep(faults.hang_ms / 1000)  # then processed: a stale signature is refused below
        if kind == "drop_ws" and self.streams is not None:
            asyncio.get_running_loop().create_task(self._drop_all())
        resp = self._answer(request, method, path, raw_body)
        lose_every = faults.lose_order_response_every
        if lose_every and (method, path) == self.ORDER_POST and resp.status == 200:
            self._order_posts += 1
            if self._order_posts % lose_every == 0:
                kind = "lost_response"
        if kind == "lost_response":
            if request.transport is not None:
                request.transport.close()  # whatever the venue did stands; the client never hears of it
            return web.Response(status=504)
        if kind == "5xx_executed":
            return self._html(500, "500 Internal Server Error")
        return resp

    def _answer(self, request: web.Request, method: str, path: str, raw_body: str) -> web.Response:
        """The venue's answer to one request (rate limit, signature, handler), with no fault applied."""
        route = ROUTES.get((method, path))
        if route is None:
            return self._json(404, {"code": -1000, "msg": f"Unknown endpoint {method} {path}."}, None)
        raw_query = request.query_string
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        weight = route.weight(params) if callable(route.weight) else route.weight
        used = self._spend(weight)
        if used > self.config.rate_limit.weight_per_minute:
            retry = max(1, math.ceil((60_000 - self.wall_ms() % 60_000) / 1000))
            limit = self.config.rate_limit.weight_per_minute
            resp = self._json(429, {"code": -1003, "msg": f"Too much request weight used; current limit is {limit} "
                                    "request weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                                    "avoid polling the API."}, used)
            resp.headers["Retry-After"] = str(retry)
            return resp
        try:
            key = self._authenticate(request, raw_query, raw_body, params) if route.signed else None
            if route.keyed:
                key = api_key_only(self.venue.account_for, request.headers.get("X-MBX-APIKEY", ""))
            with self.lock:
                status, body = getattr(self, "_h_" + route.handler)(params, key)
        except HttpError as exc:
            return self._json(exc.status, {"code": exc.code, "msg": exc.msg}, used)
        except EmulatorError as exc:
            return self._json(400, {"code": exc.code, "msg": exc.msg}, used)
        return self._json(status, body, used)

    def _fault_429(self) -> web.Response:
        """An injected ``429`` in this dialect's words."""
        resp = self._json(429, {"code": -1003, "msg": "Too many requests; current limit is exceeded. "
                                "Please use WebSocket Streams for live updates to avoid polling the API."}, None)
        resp.headers["Retry-After"] = "1"
        return resp

    @staticmethod
    def _html(status: int, title: str) -> web.Response:
        return web.Response(status=status, text=f"<html><body><h1>{title}</h1></body></html>",
                            content_type="text/html")

    def _spend(self, weight: int) -> int:
        minute = self.wall_ms() // 60_000
        index, used = self._window
        used = (used if index == minute else 0) + weight
        self._window = (minute, used)
        return used

    @staticmethod
    def _json(status: int, body: object, used: int | None) -> web.Response:
        resp = web.Response(status=status, text=json.dumps(body, separators=(",", ":")),
                            content_type="application/json")
        if used is not None:
            resp.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        return resp

    def _authenticate(self, request: web.Request, raw_query: str, raw_body: str, params: dict[str, str]) -> ApiKey:
        cfg = self.config
        return authenticate(self.venue.account_for, request.headers.get("X-MBX-APIKEY", ""), raw_query, raw_body,
                            params, now_ms=self.wall_ms(), default_recv_window_ms=cfg.default_recv_window_ms,
                            max_recv_window_ms=cfg.max_recv_window_ms, max_ahead_ms=cfg.max_ahead_ms)

    # ------------------------------------------------------------ handlers (venue lock held)
    def _inst(self, params: dict[str, str]) -> Instrument:
        return self.venue.engine.instrument(self.venue.symbol(required(params, "symbol")))

    def _h_ping(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        return 200, {}

    def _h_time(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        return 200, {"serverTime": self.wall_ms()}

    def _h_exchange_info(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        return 200, fmt.exchange_info(self.venue, self.wall_ms(), self.config.rate_limit.weight_per_minute)

    def _h_klines(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        inst = self._inst(params)
        interval = required(params, "interval")
        if interval not in BINANCE_INTERVALS:
            raise BadParameter("Invalid interval.", code=-1120)
        limit = max(1, min(int_param(params, "limit", 500) or 500, 1000))
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        bars = self.venue.bars(inst.symbol, interval)
        ts = bars.timestamp
        lo = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, end, side="right"))
        if start is None:
            lo = max(lo, hi - limit)
        else:
            hi = min(hi, lo + limit)
        return 200, fmt.kline_rows(bars, lo, max(lo, hi))

    def _h_depth(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        inst = self._inst(params)
        limit = max(1, min(int_param(params, "limit", 100) or 100, 5000))
        bids, asks = self.venue.engine.depth(inst.symbol, limit)
        return 200, fmt.depth(self.venue.engine.update_id, bids, asks)

    def _h_trades(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        inst = self._inst(params)
        limit = max(1, min(int_param(params, "limit", 500) or 500, 1000))
        return 200, [fmt.public_trade(t) for t in self.venue.engine.trades(inst.symbol, limit)]

    def _h_agg_trades(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        inst = self._inst(params)
        limit = max(1, min(int_param(params, "limit", 500) or 500, 1000))
        from_id, start, end = int_param(params, "fromId"), int_param(params, "startTime"), int_param(params, "endTime")
        trades = self.venue.engine.trades(inst.symbol, 5000)
        trades = [t for t in trades if (from_id is None or t.trade_id >= from_id)
                  and (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)]
        trades = trades[:limit] if (from_id is not None or start is not None) else trades[-limit:]
        return 200, [fmt.agg_trade(t) for t in trades]

    def _touch(self, symbol: str) -> tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]:
        bids, asks = self.venue.engine.depth(symbol, 1)
        return (bids[0] if bids else None), (asks[0] if asks else None)

    def _ticker(self, symbol: str) -> dict:
        inst = self.venue.engine.instrument(symbol)
        bid, ask = self._touch(symbol)
        trades = self.venue.engine.trades(symbol, 1)
        return fmt.ticker_24hr(self.venue.ticker_24h(symbol), inst, bid, ask, trades[-1].qty if trades else Decimal(0))

    def _h_ticker_24hr(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        if "symbol" in params:
            return 200, self._ticker(self._inst(params).symbol)
        return 200, [self._ticker(s) for s in self.venue.markets]

    def _h_book_ticker(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        symbols = [self._inst(params).symbol] if "symbol" in params else list(self.venue.markets)
        out = [fmt.book_ticker(self.venue.engine.instrument(s), *self._touch(s)) for s in symbols]
        return 200, out[0] if "symbol" in params else out

    def _h_ticker_price(self, params: dict[str, str], key: ApiKey | None) -> tuple[int, object]:
        symbols = [self._inst(params).symbol] if "symbol" in params else list(self.venue.markets)
        out = [{"symbol": self.venue.engine.instrument(s).market_id,
                "price": fmt.fmt(self.venue.ticker_24h(s).last)} for s in symbols]
        return 200, out[0] if "symbol" in params else out

    def _h_new_order(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        side = required(params, "side")
        otype = required(params, "type")
        if side not in (BUY, SELL):
            raise BadParameter("Invalid side.", code=-1117)
        if otype not in ("LIMIT", "MARKET", "LIMIT_MAKER", *STOP_ORDER_TYPES):
            raise BadParameter(f"Order type {otype} is not supported by this emulator.", code=-1116)
        tif = params.get("timeInForce")
        if (otype == "LIMIT" or otype in STOP_ORDER_TYPES) and tif is None:
            raise BadParameter("Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
        resp_type = params.get("newOrderRespType", "FULL")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BadParameter("Invalid newOrderRespType.", code=-1136)
        report = self.venue.engine.submit(
            key.account, inst.symbol, side, otype, qty=decimal_param(params, "quantity"), price=decimal_param(params, "price"),
            quote_qty=decimal_param(params, "quoteOrderQty"), time_in_force=tif or "GTC",
            client_order_id=params.get("newClientOrderId") or None, stop_price=decimal_param(params, "stopPrice"),
        )
        if resp_type == "ACK":
            return 200, fmt.order_ack(report.order, inst)
        if resp_type == "RESULT":
            return 200, fmt.order_result(report.order, inst)
        return 200, fmt.order_full(report.order, inst, report.fills)

    # ------------------------------------------------------------ OCO order lists
    def _oco_leg(self, params: dict[str, str], prefix: str) -> OcoLeg:
        """One leg of ``POST /api/v3/orderList/oco`` (``above*`` / ``below*`` parameters)."""
        otype = required(params, prefix + "Type")
        if otype not in ("LIMIT_MAKER", *STOP_ORDER_TYPES):
            raise BadParameter(f"{prefix}Type {otype} is not supported by this emulator (LIMIT_MAKER, "
                               "STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT).", code=-1116)
        price = decimal_param(params, prefix + "Price")
        if price is None:
            raise BadParameter(f"Mandatory parameter '{prefix}Price' was not sent, was empty/null, or malformed.")
        stop = decimal_param(params, prefix + "StopPrice")
        if otype in STOP_ORDER_TYPES:
            if stop is None:
                raise BadParameter(f"Mandatory parameter '{prefix}StopPrice' was not sent, was empty/null, or "
                                   "malformed.")
            tif = required(params, prefix + "TimeInForce")
        else:
            if stop is not None:
                raise BadParameter(f"Parameter '{prefix}StopPrice' sent when not required.", code=-1106)
            tif = "GTC"
        return OcoLeg(otype, price, stop, tif, params.get(prefix + "ClientOrderId") or None)  # type: ignore[arg-type]

    def _place_oco(self, params: dict[str, str], key: ApiKey, legs: list[OcoLeg]) -> tuple[int, object]:
        inst = self._inst(params)
        side = required(params, "side")
        if side not in (BUY, SELL):
            raise BadParameter("Invalid side.", code=-1117)
        qty = decimal_param(params, "quantity")
        if qty is None:
            raise BadParameter("Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        engine = self.venue.engine
        lst, orders = engine.submit_oco(key.account, inst.symbol, side, qty, legs,
                                        list_client_id=params.get("listClientOrderId") or None)
        reports = [fmt.order_result(o, inst) for o in orders]
        return 200, fmt.order_list(lst, orders, inst, lst.time_ms, reports=reports)

    def _h_new_oco(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        """``POST /api/v3/orderList/oco``: an above and a below leg."""
        return self._place_oco(params, key, [self._oco_leg(params, "above"), self._oco_leg(params, "below")])

    def _h_new_oco_legacy(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        """``POST /api/v3/order/oco`` (deprecated by Binance, still served): a LIMIT_MAKER and a STOP_LOSS_LIMIT."""
        price = decimal_param(params, "price")
        stop = decimal_param(params, "stopPrice")
        stop_limit = decimal_param(params, "stopLimitPrice")
        for name, value in (("price", price), ("stopPrice", stop)):
            if value is None:
                raise BadParameter(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        if stop_limit is None:
            raise BadParameter("STOP_LOSS (market) legs are not supported by this emulator: send 'stopLimitPrice'.",
                               code=-1116)
        tif = required(params, "stopLimitTimeInForce")
        legs = [OcoLeg("LIMIT_MAKER", price, None, "GTC", params.get("limitClientOrderId") or None),  # type: ignore[arg-type]
                OcoLeg("STOP_LOSS_LIMIT", stop_limit, stop, tif, params.get("stopClientOrderId") or None)]  # type: ignore[arg-type]
        return self._place_oco(params, key, legs)

    @staticmethod
    def _list_ref(params: dict[str, str], client_field: str) -> tuple[int | None, str | None]:
        list_id = int_param(params, "orderListId")
        client = params.get(client_field) or None
        if list_id is None and client is None:
            raise BadParameter(f"Param '{client_field}' or 'orderListId' must be sent, but both were empty/null!")
        return list_id, client

    def _h_query_order_list(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        list_id, client = self._list_ref(params, "origClientOrderId")
        engine = self.venue.engine
        if list_id is None:
            lst = next((x for x in engine.order_lists(key.account) if x.client_list_id == client), None)
            if lst is None:
                raise BadParameter("Order list does not exist.", code=-2011)
        else:
            lst = engine.order_list(key.account, list_id)
        orders = engine.list_orders(lst)
        inst = engine.instrument(lst.symbol)
        return 200, fmt.order_list(lst, orders, inst, max((o.update_time_ms for o in orders), default=lst.time_ms))

    def _h_cancel_order_list(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        list_id, client = self._list_ref(params, "listClientOrderId")
        lst, orders = self.venue.engine.cancel_list(key.account, inst.symbol, order_list_id=list_id,
                                                    list_client_id=client)
        reports = [fmt.order_cancel(o, inst, o.client_order_id) for o in orders]
        return 200, fmt.order_list(lst, orders, inst, self.venue.now_ms, reports=reports)

    def _ids(self, params: dict[str, str]) -> tuple[int | None, str | None]:
        order_id = int_param(params, "orderId")
        coid = params.get("origClientOrderId") or None
        if order_id is None and coid is None:
            raise BadParameter("Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
                               code=-1102)
        return order_id, coid

    def _h_query_order(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        order_id, coid = self._ids(params)
        order = self.venue.engine.get_order(key.account, inst.symbol, order_id=order_id, client_order_id=coid)
        return 200, fmt.order_query(order, inst)

    def _h_cancel_order(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        order_id, coid = self._ids(params)
        order = self.venue.engine.cancel(key.account, inst.symbol, order_id=order_id, client_order_id=coid)
        return 200, fmt.order_cancel(order, inst, coid or order.client_order_id)

    def _h_open_orders(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        symbol = self._inst(params).symbol if "symbol" in params else None
        engine = self.venue.engine
        return 200, [fmt.order_query(o, engine.instrument(o.symbol)) for o in engine.open_orders(key.account, symbol)]

    def _h_cancel_open_orders(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        orders = self.venue.engine.cancel_all(key.account, inst.symbol)
        return 200, [fmt.order_cancel(o, inst, o.client_order_id) for o in orders]

    def _h_all_orders(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        limit = max(1, min(int_param(params, "limit", 500) or 500, 1000))
        start, end, from_id = int_param(params, "startTime"), int_param(params, "endTime"), int_param(params, "orderId")
        orders = [o for o in self.venue.engine.orders(key.account, inst.symbol)
                  if (start is None or o.time_ms >= start) and (end is None or o.time_ms <= end)
                  and (from_id is None or o.order_id >= from_id)]
        orders = orders[:limit] if (start is not None or from_id is not None) else orders[-limit:]
        return 200, [fmt.order_query(o, inst) for o in orders]

    def _h_my_trades(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        inst = self._inst(params)
        limit = max(1, min(int_param(params, "limit", 500) or 500, 1000))
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        from_id, order_id = int_param(params, "fromId"), int_param(params, "orderId")
        fills = [f for f in self.venue.engine.fills(key.account, inst.symbol)
                 if (start is None or f.time_ms >= start) and (end is None or f.time_ms <= end)
                 and (from_id is None or f.trade_id >= from_id) and (order_id is None or f.order_id == order_id)]
        fills = fills[:limit] if (start is not None or from_id is not None) else fills[-limit:]
        return 200, [fmt.my_trade(f, inst) for f in fills]

    def _h_account(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        omit = params.get("omitZeroBalances", "false").lower() == "true"
        return 200, fmt.account(self.venue, key.account, self.venue.now_ms, omit)

    # ------------------------------------------------------------ user-data stream (listen keys; API key, not signed)
    def _listen_keys(self) -> ListenKeys:
        if self.user_streams is None:
            raise RuntimeError("the user-data stream is served while the server runs")
        return self.user_streams.keys

    def _h_user_stream_open(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        return 200, {"listenKey": self._listen_keys().open(key.account)}

    def _h_user_stream_keepalive(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        self._listen_keys().keepalive(key.account, required(params, "listenKey"))
        return 200, {}

    def _h_user_stream_close(self, params: dict[str, str], key: ApiKey) -> tuple[int, object]:
        self._listen_keys().close(key.account, required(params, "listenKey"))
        return 200, {}
