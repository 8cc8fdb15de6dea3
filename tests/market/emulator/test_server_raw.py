"""The emulator's HTTP layer without ccxt: signing rules, error bodies, headers, the replay driver."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from market.emulator import MarketSpec, Venue
from market.emulator.server import EmulatorServer, ServerConfig
from tests.market.emulator.conftest import DEPOSITS, KEYS, XRP_ETH


def call(server: EmulatorServer, method: str, path: str, params: dict | None = None, *, key: str | None = None,
         secret: str | None = None, in_body: bool = False) -> tuple[int, dict, object]:
    """One request; signed when ``secret`` is given (params in the query, or the form body)."""
    query = urlencode(params or {})
    if secret is not None:
        query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    url = server.url + path + ("" if in_body or not query else "?" + query)
    data = query.encode() if in_body else None
    req = urllib.request.Request(url, data=data, method=method)
    if key is not None:
        req.add_header("X-MBX-APIKEY", key)
    if in_body:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def ts() -> int:
    return int(time.time() * 1000)


def test_signed_post_in_the_body_and_binance_error_bodies(server: EmulatorServer) -> None:
    order = {"symbol": "XRPETH", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "100",
             "price": "0.00100000", "newClientOrderId": "raw-1", "newOrderRespType": "RESULT", "timestamp": ts()}
    status, headers, body = call(server, "POST", "/api/v3/order", order, key="alice-key", secret="alice-secret",
                                 in_body=True)
    assert status == 200 and body["status"] == "NEW" and body["clientOrderId"] == "raw-1"
    assert set(body) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime", "price", "origQty",
                         "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status", "timeInForce", "type",
                         "side", "workingTime", "selfTradePreventionMode"}
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    too_big = dict(order, quantity="90000000", newClientOrderId="raw-2", timestamp=ts())
    status, _, body = call(server, "POST", "/api/v3/order", too_big, key="alice-key", secret="alice-secret",
                           in_body=True)
    assert (status, body["code"]) == (400, -2010)
    off_tick = dict(order, price="0.000000015", newClientOrderId="raw-3", timestamp=ts())
    status, _, body = call(server, "POST", "/api/v3/order", off_tick, key="alice-key", secret="alice-secret",
                           in_body=True)
    assert (status, body) == (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
    status, _, body = call(server, "DELETE", "/api/v3/order",
                           {"symbol": "XRPETH", "origClientOrderId": "raw-1", "timestamp": ts()},
                           key="alice-key", secret="alice-secret")
    assert status == 200 and body["status"] == "CANCELED" and body["origClientOrderId"] == "raw-1"
    status, _, body = call(server, "GET", "/api/v3/order", {"symbol": "XRPETH", "orderId": 10**9,
                                                            "timestamp": ts()}, key="alice-key", secret="alice-secret")
    assert (status, body["code"]) == (400, -2013)


def test_key_and_parameter_failures(server: EmulatorServer) -> None:
    status, _, body = call(server, "GET", "/api/v3/account", {"timestamp": ts()}, secret="alice-secret")
    assert (status, body["code"]) == (401, -2014)
    status, _, body = call(server, "GET", "/api/v3/account", {"timestamp": ts()}, key="alice-key")
    assert (status, body["code"]) == (400, -1102)  # no signature
    status, _, body = call(server, "GET", "/api/v3/account", {"timestamp": ts(), "recvWindow": 70000},
                           key="alice-key", secret="alice-secret")
    assert (status, body["code"]) == (400, -1131)
    status, _, body = call(server, "GET", "/api/v3/depth", {"symbol": "NOPE"})
    assert (status, body["code"]) == (400, -1121)
    status, _, body = call(server, "GET", "/api/v3/klines", {"symbol": "XRPETH", "interval": "7m"})
    assert (status, body["code"]) == (400, -1120)
    status, _, body = call(server, "GET", "/api/v3/ticker/bookTicker", {"symbol": "XRPETH"})
    assert status == 200 and set(body) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}


@pytest.mark.parametrize("speed", [math.inf, 600.0])
def test_the_server_drives_the_replay_on_its_clock(speed: float, xrp_eth_bars, xrp_eth_trades) -> None:
    bars = xrp_eth_bars.take(slice(0, 30))
    trades = xrp_eth_trades[xrp_eth_trades["timestamp"] < bars.to_frame()["timestamp"].iloc[-1]]
    venue = Venue([MarketSpec(XRP_ETH, bars, trades)], keys=KEYS, deposits=DEPOSITS)
    start = venue.now_ms
    with EmulatorServer(venue, ServerConfig(replay_speed=speed)) as srv:
        t0 = time.monotonic()
        time.sleep(0.5)
        with srv.lock:
            elapsed = time.monotonic() - t0
            now = venue.now_ms
            done = venue.done
        status, _, book = call(srv, "GET", "/api/v3/depth", {"symbol": "XRPETH", "limit": 5})
    assert status == 200 and len(book["bids"]) == 5
    if math.isinf(speed):
        assert done  # as fast as possible: 30 minutes of history replayed within half a second
    else:
        assert not done
        # 600x: about 300 s of replay in 0.5 s of wall time (events are discrete, so allow slack)
        assert 0.5 * 600_000 * 0.5 <= now - start <= elapsed * 600_000 * 1.2 + 5_000


def test_injected_latency_delays_every_response(xrp_eth_bars, xrp_eth_trades) -> None:
    from market.emulator.server import FaultConfig
    from tests.market.emulator.conftest import make_venue

    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    with EmulatorServer(venue, ServerConfig(faults=FaultConfig(latency_ms=150))) as srv:
        t0 = time.perf_counter()
        status, _, body = call(srv, "GET", "/api/v3/ping")
        assert (status, body) == (200, {}) and time.perf_counter() - t0 >= 0.15
