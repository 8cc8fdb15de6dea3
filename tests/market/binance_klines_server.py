"""A loopback HTTP server speaking the Binance spot endpoints ccxt needs for OHLCV.

Endpoints (GET, JSON, as ``https://api.binance.com`` answers them):

* ``/api/v3/ping`` -> ``{}``
* ``/api/v3/time`` -> ``{"serverTime": <ms>}``
* ``/api/v3/exchangeInfo`` -> the spot exchange information, one entry per
  served market, with the real response's field set (filters, permission
  sets, self-trade-prevention modes) so that ccxt's ``parse_market`` reads it.
* ``/api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=`` -> rows
  ``[openTime, "open", "high", "low", "close", "volume", closeTime,
  "quoteAssetVolume", trades, "takerBuyBase", "takerBuyQuote", "0"]``
  with numbers as strings, like Binance. Bars with ``startTime <= openTime
  <= endTime``; without ``startTime`` the *last* ``limit`` bars up to
  ``endTime`` (or up to the newest bar); ``limit`` defaults to 500 and is
  capped at 1000. An unknown symbol gets HTTP 400 ``{"code": -1121}``, an
  unknown interval ``{"code": -1120}``, like Binance. An interval coarser
  than the stored bars is served resampled (``market.resample``).

The bars served are real ones (bundled samples) under whatever symbol the
test gives them. Prices are written in the shortest positional decimal that
round-trips the float64 exactly, so a download equals the source bit for
bit. Every request is recorded in :attr:`KlinesServer.requests`.
``fail_status`` makes every endpoint (or those in ``fail_paths``) answer that
HTTP status with an HTML error page instead, to exercise error handling.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from market.bars import Bars
from raytrader.errors import InputError
from market.resample import resample
from market.timeframe import parse_timeframe

__all__ = ["KlinesServer", "BINANCE_INTERVALS"]

BINANCE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")


def _num(x: float) -> str:
    return np.format_float_positional(float(x), unique=True, trim="-")


def _symbol_info(market_id: str, base: str, quote: str) -> dict:
    return {
        "symbol": market_id,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000000.00000000", "tickSize": "0.00000001"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00000000"},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
             "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
            {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
             "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
            {"filterType": "NOTIONAL", "minNotional": "0.00010000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
    }


@dataclass
class KlinesServer:
    """Serve ``markets`` (unified symbol -> bars) on ``http://127.0.0.1:<port>``.

    Use as a context manager; :attr:`url` is the base to pass as ``api_url``.
    """

    markets: dict[str, Bars]
    fail_status: int | None = None
    fail_paths: tuple[str, ...] = ()
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id: dict[str, tuple[str, str, Bars]] = {}
        for symbol, bars in self.markets.items():
            base, quote = symbol.split("/")
            self._by_id[base + quote] = (base, quote, bars)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> "KlinesServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.05), name="klines-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server with 'with KlinesServer(...) as server'"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def count(self, path: str) -> int:
        """Requests received for ``path`` (e.g. ``/api/v3/klines``)."""
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    # --------------------------------------------------------------- handling
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append((parts.path, params))
        if self.fail_status is not None and (not self.fail_paths or parts.path in self.fail_paths):
            self._send_text(handler, self.fail_status, "<html><body><h1>Internal Server Error</h1></body></html>")
            return
        routes = {
            "/api/v3/ping": lambda: (200, {}),
            "/api/v3/time": lambda: (200, {"serverTime": int(time.time() * 1000)}),
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/klines": lambda: self._klines(params),
        }
        route = routes.get(parts.path)
        if route is None:
            self._send(handler, 404, {"code": -1000, "msg": f"no route {parts.path}"})
            return
        status, body = route()
        self._send(handler, status, body)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json;charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _send_text(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _exchange_info(self) -> tuple[int, dict]:
        return 200, {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(mid, base, quote) for mid, (base, quote, _) in self._by_id.items()],
        }

    def _klines(self, params: dict[str, str]) -> tuple[int, object]:
        market_id = params.get("symbol", "")
        if not market_id:
            return 400, {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}
        if market_id not in self._by_id:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        interval = params.get("interval", "")
        if interval not in BINANCE_INTERVALS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        try:
            limit = int(params.get("limit", 500))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        limit = max(1, min(limit, 1000))
        bars = self._bars_for(market_id, interval)
        if bars is None:
            return 200, []
        ts = bars.timestamp
        lo = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, end, side="right"))
        if start is None:
            lo = max(lo, hi - limit)
        else:
            hi = min(hi, lo + limit)
        tf_ms = bars.timeframe_ms
        rows = []
        for i in range(lo, max(lo, hi)):
            t, o, h, low, c, v = (int(ts[i]), bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i])
            rows.append([
                t, _num(o), _num(h), _num(low), _num(c), _num(v), t + tf_ms - 1,
                _num(v * c), 100 + i % 50, _num(v / 2), _num(v * c / 2), "0",
            ])
        return 200, rows

    def _bars_for(self, market_id: str, interval: str) -> Bars | None:
        bars = self._by_id[market_id][2]
        if interval == bars.timeframe:
            return bars
        try:
            target = parse_timeframe(interval)
        except InputError:
            return None
        if target.ms > bars.timeframe_ms and target.ms % bars.timeframe_ms == 0:
            try:
                return resample(bars, interval)
            except InputError:
                return None
        return None
