"""A Coinbase-Exchange-dialect server: the same :class:`~market.emulator.venue.Venue` behind another edge.

Speaks the subset of ``https://api.exchange.coinbase.com`` that ccxt's
``coinbaseexchange`` class uses for spot trading (see :data:`COINBASE_ROUTES`):
public ``time currencies products products/{id} products/{id}/candles
/book /ticker /stats /trades`` and signed ``accounts orders`` (POST, GET,
DELETE, by id and by ``client:{client_oid}``), ``fills`` and ``fees``.

Coinbase behaviour kept:

* **Signing**: ``CB-ACCESS-KEY``, ``CB-ACCESS-PASSPHRASE``,
  ``CB-ACCESS-TIMESTAMP`` (seconds) and ``CB-ACCESS-SIGN`` = base64 of
  HMAC-SHA256, keyed by the base64-decoded secret, of ``timestamp + METHOD +
  request path (with query) + body``. Missing headers -> 400; unknown key ->
  401 ``Invalid API Key``; wrong passphrase -> 401 ``Invalid Passphrase``;
  bad signature -> 401 ``invalid signature``; a timestamp more than 30 s from
  server time -> 400 ``request timestamp expired``.
* **Errors** as ``{"message": ...}`` with HTTP 400 / 401 / 404 / 429, in the
  words ccxt's ``coinbaseexchange`` maps to its exception classes
  (``Insufficient funds``, ``NotFound``, ``Order already done``, ...).
* **Rate limits** per wall-clock second: public and private requests counted
  apart (Coinbase: 10 and 15 per second); over -> 429 ``Public rate limit
  exceeded`` / ``Private rate limit exceeded``.
* **Client order ids** (``client_oid``) must be UUIDs; **fees** are charged in
  the quote asset on both sides (the venue must be built with
  ``VenueConfig(fee_asset="quote")``, which :func:`coinbase_venue_config` gives).

WebSocket feed at :attr:`CoinbaseServer.ws_url`: ``matches``, ``level2``, ``ticker``
and the authenticated ``user`` channel (pushed fills); see :mod:`market.emulator._coinbase_ws`.

Stop orders: ``stop`` = ``loss`` (triggers when the last trade price falls to
``stop_price``) or ``entry`` (rises to it), limit orders only, both fields
together; they are the engine's stop orders (:mod:`market.triggers`: a
``loss`` sell is a STOP_LOSS SELL, a ``loss`` buy a TAKE_PROFIT BUY, an
``entry`` buy a STOP_LOSS BUY, an ``entry`` sell a TAKE_PROFIT SELL), listed
with status ``active`` until they trigger. A stop the last trade already
reached is refused (400 ``Stop price would trigger immediately.``).

Not served (yet): ``GTT`` time in force (400). A canceled order stays queryable (real Coinbase
forgets canceled orders that never filled).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Callable
from urllib.parse import parse_qsl

import numpy as np
from aiohttp import web

from market.emulator import _coinbase as cb
from market.emulator._coinbase_ws import CoinbaseStreamHub
from market.emulator.book import BUY, SELL, Instrument
from market.emulator.errors import (
    CancelRejected,
    EmulatorError,
    FilterFailure,
    InsufficientBalance,
    UnknownOrder,
    UnknownSymbol,
)
from market.emulator.matching import Order
from market.emulator.server import EmulatorServer, ServerConfig
from market.emulator.venue import ApiKey, Venue, VenueConfig

__all__ = ["CoinbaseRateLimits", "CoinbaseServer", "COINBASE_ROUTES", "coinbase_venue_config"]

_SIGN_WINDOW_S = 30.0


def coinbase_venue_config(config: VenueConfig | None = None) -> VenueConfig:
    """``config`` (default settings when None) with Coinbase's fee rule (fees in the quote asset on both sides)."""
    return replace(config if config is not None else VenueConfig(), fee_asset="quote")


@dataclass(frozen=True)
class CoinbaseRateLimits:
    """Requests per wall-clock second (Coinbase Exchange: public 10, private 15)."""

    public_per_s: int = 10
    private_per_s: int = 15


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


#: (method, path pattern) -> (handler, signed?); ``{id}``/``{client_oid}`` match one path segment
COINBASE_ROUTES: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "/time"): ("time", False),
    ("GET", "/currencies"): ("currencies", False),
    ("GET", "/products"): ("products", False),
    ("GET", "/products/{id}"): ("product", False),
    ("GET", "/products/{id}/candles"): ("candles", False),
    ("GET", "/products/{id}/book"): ("book", False),
    ("GET", "/products/{id}/ticker"): ("ticker", False),
    ("GET", "/products/{id}/stats"): ("stats", False),
    ("GET", "/products/{id}/trades"): ("trades", False),
    ("GET", "/accounts"): ("accounts", True),
    ("GET", "/fees"): ("fees", True),
    ("GET", "/fills"): ("fills", True),
    ("POST", "/orders"): ("new_order", True),
    ("GET", "/orders"): ("list_orders", True),
    ("DELETE", "/orders"): ("cancel_all", True),
    ("GET", "/orders/client:{client_oid}"): ("get_order", True),
    ("DELETE", "/orders/client:{client_oid}"): ("cancel_order", True),
    ("GET", "/orders/{id}"): ("get_order", True),
    ("DELETE", "/orders/{id}"): ("cancel_order", True),
}


def _compile(pattern: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")


_MATCHERS = [(method, _compile(pattern), handler, signed)
             for (method, pattern), (handler, signed) in COINBASE_ROUTES.items()]


def _decimal(body: dict, name: str) -> Decimal | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise _Refused(400, f"Invalid {name}") from None
    if not out.is_finite() or out <= 0:
        raise _Refused(400, f"Invalid {name}")
    return out


class CoinbaseServer(EmulatorServer):
    """Serves ``venue`` in the Coinbase Exchange dialect on ``http://127.0.0.1:<port>`` (module docstring)."""

    ORDER_POST = ("POST", "/orders")
    STREAM_PATHS = ("/ws",)
    USER_DATA_STREAM = False  # our fills come on the feed's ``user`` channel

    def _make_streams(self) -> CoinbaseStreamHub:  # type: ignore[override]
        return CoinbaseStreamHub(self.venue, self.lock, self.wall_ms)

    @property
    def ws_url(self) -> str:
        """The WebSocket feed (``ws://127.0.0.1:<port>/ws``; Coinbase's ``wss://ws-feed.exchange.coinbase.com``)."""
        return self.url.replace("http://", "ws://") + "/ws"

    def __init__(self, venue: Venue, config: ServerConfig | None = None,
                 wall_ms: Callable[[], int] | None = None, limits: CoinbaseRateLimits | None = None) -> None:
        config = config if config is not None else ServerConfig()
        if wall_ms is None:
            super().__init__(venue, config)
        else:
            super().__init__(venue, config, wall_ms)
        self.limits = limits if limits is not None else CoinbaseRateLimits()
        self._second: dict[bool, tuple[int, int]] = {False: (-1, 0), True: (-1, 0)}

    # ------------------------------------------------------------ edge
    def _fault_429(self) -> web.Response:
        return self._cb_json(429, {"message": "Private rate limit exceeded"})

    @staticmethod
    def _cb_json(status: int, body: object) -> web.Response:
        return web.Response(status=status, text=json.dumps(body, separators=(",", ":")),
                            content_type="application/json")

    def _over_limit(self, signed: bool) -> bool:
        second = self.wall_ms() // 1000
        index, used = self._second[signed]
        used = (used if index == second else 0) + 1
        self._second[signed] = (second, used)
        return used > (self.limits.private_per_s if signed else self.limits.public_per_s)

    def _answer(self, request: web.Request, method: str, path: str, raw_body: str) -> web.Response:
        found = next(((match, handler, signed) for m, pattern, handler, signed in _MATCHERS
                      if m == method and (match := pattern.match(path)) is not None), None)
        if found is None:
            return self._cb_json(404, {"message": "NotFound"})
        match, handler, signed = found
        if self._over_limit(signed):
            return self._cb_json(429, {"message": ("Private" if signed else "Public") + " rate limit exceeded"})
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        try:
            key = self._cb_authenticate(request, raw_body) if signed else None
            body = {}
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    raise _Refused(400, "Invalid JSON body") from None
                if not isinstance(body, dict):
                    raise _Refused(400, "Invalid JSON body")
            with self.lock:
                status, out = getattr(self, "_cb_" + handler)(match.groupdict(), params, body, key)
        except _Refused as exc:
            return self._cb_json(exc.status, {"message": exc.message})
        except InsufficientBalance:
            return self._cb_json(400, {"message": "Insufficient funds"})
        except FilterFailure as exc:
            if "PRICE" in exc.msg:
                return self._cb_json(400, {"message": "price too precise"})
            return self._cb_json(400, {"message": f"size is too small or too precise ({exc.msg})"})
        except UnknownSymbol:
            return self._cb_json(404, {"message": "NotFound"})
        except EmulatorError as exc:
            return self._cb_json(400, {"message": exc.msg})
        return self._cb_json(status, out)

    def _cb_authenticate(self, request: web.Request, raw_body: str) -> ApiKey:
        h = request.headers
        names = ("CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE")
        missing = [n for n in names if not h.get(n)]
        if missing:
            raise _Refused(400, f"{missing[0]} header is required")
        key = self.venue.account_for(h["CB-ACCESS-KEY"])
        if key is None:
            raise _Refused(401, "Invalid API Key")
        if not hmac.compare_digest(h["CB-ACCESS-PASSPHRASE"].encode(), key.passphrase.encode()):
            raise _Refused(401, "Invalid Passphrase")
        try:
            stamp = float(h["CB-ACCESS-TIMESTAMP"])
        except ValueError:
            raise _Refused(400, "invalid timestamp") from None
        if not math.isfinite(stamp) or abs(stamp - self.wall_ms() / 1000) > _SIGN_WINDOW_S:
            raise _Refused(400, "request timestamp expired")
        try:
            secret = base64.b64decode(key.secret, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(401, "invalid signature") from None
        what = (h["CB-ACCESS-TIMESTAMP"] + request.method + request.raw_path + raw_body).encode()
        expected = base64.b64encode(hmac.new(secret, what, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, h["CB-ACCESS-SIGN"]):
            raise _Refused(401, "invalid signature")
        return key

    # ------------------------------------------------------------ helpers (venue lock held)
    def _product(self, pid: str | None) -> Instrument:
        if not pid:
            raise _Refused(400, "product_id is required")
        base, sep, quote = pid.partition("-")
        symbol = f"{base}/{quote}" if sep else ""
        if symbol not in self.venue.markets:
            raise _Refused(404, "NotFound")
        return self.venue.engine.instrument(symbol)

    def _fee_paid(self, o: Order) -> Decimal:
        return sum((f.commission for f in self.venue.engine.fills(o.account, o.symbol) if f.order_id == o.order_id),
                   Decimal(0))

    def _order_json(self, o: Order) -> dict:
        client = o.client_order_id if cb.order_number(o.client_order_id) is not None else None
        return cb.order(o, self.venue.engine.instrument(o.symbol), self._fee_paid(o), client)

    def _find(self, key: ApiKey, path: dict[str, str], product: str | None) -> Order:
        engine = self.venue.engine
        symbols = [self._product(product).symbol] if product else list(self.venue.markets)
        for symbol in symbols:
            try:
                if "client_oid" in path:
                    return engine.get_order(key.account, symbol, client_order_id=path["client_oid"])
                number = cb.order_number(path["id"])
                if number is None:
                    raise _Refused(400, "Invalid order id")
                return engine.get_order(key.account, symbol, order_id=number)
            except UnknownOrder:
                continue
        raise _Refused(404, "NotFound")

    # ------------------------------------------------------------ public handlers
    def _cb_time(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        now = self.wall_ms()
        return 200, {"iso": cb.iso(now), "epoch": now / 1000}

    def _cb_currencies(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        assets: dict[str, int] = {}
        for inst in self.venue.engine.instruments:
            assets.setdefault(inst.base, inst.asset_precision)
            assets.setdefault(inst.quote, inst.asset_precision)
        return 200, [cb.currency(a, p) for a, p in sorted(assets.items())]

    def _cb_products(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        return 200, [cb.product(i) for i in self.venue.engine.instruments]

    def _cb_product(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        return 200, cb.product(self._product(path["id"]))

    def _cb_candles(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        inst = self._product(path["id"])
        try:
            granularity = int(params.get("granularity", "60"))
        except ValueError:
            granularity = -1
        if granularity not in cb.GRANULARITIES:
            raise _Refused(400, "Unsupported granularity")
        bars = self.venue.bars(inst.symbol, cb.GRANULARITIES[granularity])
        ts = bars.timestamp
        start, end = (self._iso_ms(params, name) for name in ("start", "end"))
        lo = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, end, side="right"))
        if start is not None and end is not None and (end - start) // (granularity * 1000) + 1 > 300:
            raise _Refused(400, "granularity too small for the requested time range. Count of aggregations "
                                "requested exceeds 300")
        lo = max(lo, hi - 300)
        return 200, cb.candles(bars, lo, max(lo, hi))

    @staticmethod
    def _iso_ms(params: dict, name: str) -> int | None:
        text = params.get(name)
        if not text:
            return None
        try:
            stamp = np.datetime64(text.rstrip("Z"), "ms")
        except ValueError:
            raise _Refused(400, f"Invalid {name}") from None
        return int(stamp.astype("int64"))

    def _cb_book(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        inst = self._product(path["id"])
        level = params.get("level", "1")
        if level not in ("1", "2"):
            raise _Refused(400, "Invalid level (this emulator serves levels 1 and 2)")
        bids, asks = self.venue.engine.depth(inst.symbol, 1 if level == "1" else 50)
        return 200, cb.book(self.venue.engine.update_id, bids, asks, self.venue.now_ms)

    def _cb_ticker(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        inst = self._product(path["id"])
        bids, asks = self.venue.engine.depth(inst.symbol, 1)
        trades = self.venue.engine.trades(inst.symbol, 1)
        return 200, cb.ticker(trades[-1] if trades else None, bids[0][0] if bids else None,
                              asks[0][0] if asks else None, self.venue.ticker_24h(inst.symbol), self.venue.now_ms)

    def _cb_stats(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        return 200, cb.stats(self.venue.ticker_24h(self._product(path["id"]).symbol))

    def _cb_trades(self, path: dict, params: dict, body: dict, key: ApiKey | None) -> tuple[int, object]:
        inst = self._product(path["id"])
        limit = self._limit(params, 100, 1000)
        return 200, [cb.public_trade(t) for t in reversed(self.venue.engine.trades(inst.symbol, limit))]

    @staticmethod
    def _limit(params: dict, default: int, most: int) -> int:
        try:
            return max(1, min(int(params.get("limit", default)), most))
        except ValueError:
            raise _Refused(400, "Invalid limit") from None

    # ------------------------------------------------------------ signed handlers
    def _cb_accounts(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        return 200, cb.accounts(self.venue, key.account)

    def _cb_fees(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        return 200, cb.fees(self.venue.engine.fee_schedule(key.account))

    def _cb_fills(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        limit = self._limit(params, 100, 1000)
        engine = self.venue.engine
        if params.get("order_id"):
            o = self._find(key, {"id": params["order_id"]}, params.get("product_id"))
            fills = [f for f in engine.fills(key.account, o.symbol) if f.order_id == o.order_id]
        elif params.get("product_id"):
            fills = list(engine.fills(key.account, self._product(params["product_id"]).symbol))
        else:
            raise _Refused(400, "Either order_id or product_id is required")
        start = self._iso_ms(params, "start_date")
        end = self._iso_ms(params, "end_date")
        fills = [f for f in fills if (start is None or f.time_ms >= start) and (end is None or f.time_ms <= end)]
        return 200, [cb.fill(f, engine.instrument(f.symbol)) for f in reversed(fills)][:limit]

    def _cb_new_order(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        inst = self._product(body.get("product_id"))
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise _Refused(400, "Invalid side")
        otype = body.get("type", "limit")
        if otype not in ("limit", "market"):
            raise _Refused(400, "Invalid order type")
        stop, stop_price = body.get("stop"), _decimal(body, "stop_price")
        if (stop is None) != (stop_price is None):
            raise _Refused(400, "stop and stop_price must be sent together")
        if stop is not None and stop not in ("loss", "entry"):
            raise _Refused(400, "Invalid stop: expected loss or entry")
        if stop is not None and otype != "limit":
            raise _Refused(400, "stop orders must be limit orders on this emulator")
        client_oid = body.get("client_oid") or None
        if client_oid is not None and cb.order_number(str(client_oid)) is None:
            raise _Refused(400, "Invalid client_oid: expected a UUID")
        size, price, funds = _decimal(body, "size"), _decimal(body, "price"), _decimal(body, "funds")
        engine_side = BUY if side == "buy" else SELL
        if otype == "limit":
            if size is None or price is None:
                raise _Refused(400, "size and price are required for limit orders")
            tif = body.get("time_in_force", "GTC")
            if tif not in ("GTC", "IOC", "FOK"):
                raise _Refused(400, f"Invalid time_in_force {tif!r} (this emulator serves GTC, IOC, FOK)")
            post_only = body.get("post_only") in (True, "true", "True")
            if post_only and tif != "GTC":
                raise _Refused(400, "post_only is only valid with GTC")
            if post_only and stop is not None:
                raise _Refused(400, "post_only is not valid with stop orders")
            otype_engine = "LIMIT_MAKER" if post_only else "LIMIT"
            if stop is not None:  # loss: the price falls to stop_price; entry: it rises to it
                otype_engine = "STOP_LOSS_LIMIT" if (stop == "loss") == (side == "sell") else "TAKE_PROFIT_LIMIT"
            report = self.venue.engine.submit(key.account, inst.symbol, engine_side, otype_engine,  # type: ignore[arg-type]
                                              qty=size, price=price, time_in_force=tif, client_order_id=client_oid,
                                              stop_price=stop_price)
        else:
            if (size is None) == (funds is None):
                raise _Refused(400, "market orders need exactly one of size and funds")
            report = self.venue.engine.submit(key.account, inst.symbol, engine_side, "MARKET", qty=size,
                                              quote_qty=funds, client_order_id=client_oid)
        return 200, self._order_json(report.order)

    @staticmethod
    def _statuses(params: dict) -> set[str] | None:
        """The order statuses a listing asks for (``open`` covers ``pending``/``active``); None = all."""
        wanted = params.get("status") or "open"
        if wanted == "all":
            return None
        if wanted not in ("open", "pending", "active", "done", "rejected"):
            raise _Refused(400, f"Invalid status {wanted!r}")
        return {"open", "pending", "active"} if wanted in ("open", "pending", "active") else {wanted}

    def _cb_list_orders(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        engine = self.venue.engine
        symbols = [self._product(params["product_id"]).symbol] if params.get("product_id") else list(self.venue.markets)
        statuses = self._statuses(params)
        limit = self._limit(params, 100, 1000)
        orders = [o for s in symbols for o in engine.orders(key.account, s)]
        bodies = [self._order_json(o) for o in sorted(orders, key=lambda o: (o.time_ms, o.order_id), reverse=True)]
        if statuses is not None:
            bodies = [b for b in bodies if b["status"] in statuses]
        return 200, bodies[:limit]

    def _cb_get_order(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        return 200, self._order_json(self._find(key, path, params.get("product_id")))

    def _cb_cancel_order(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        product = params.get("product_id")
        if product and "/" in product:  # ccxt sends the unified symbol here ("the request will be more performant")
            product = product.replace("/", "-")
        o = self._find(key, path, product)
        if not o.is_open:
            raise _Refused(400, "Order already done")
        try:
            self.venue.engine.cancel(key.account, o.symbol, order_id=o.order_id)
        except CancelRejected:
            raise _Refused(400, "Order already done") from None
        return 200, cb.order_uuid(o.order_id)

    def _cb_cancel_all(self, path: dict, params: dict, body: dict, key: ApiKey) -> tuple[int, object]:
        product = params.get("product_id")
        if product and "/" in product:
            product = product.replace("/", "-")
        symbols = [self._product(product).symbol] if product else list(self.venue.markets)
        canceled = [o for s in symbols for o in self.venue.engine.cancel_all(key.account, s)]
        return 200, [cb.order_uuid(o.order_id) for o in canceled]
