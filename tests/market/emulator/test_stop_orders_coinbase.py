"""Stop orders on the Coinbase-dialect emulator through the real ccxt ``coinbaseexchange`` client.

``stop=loss`` triggers when the last trade falls to ``stop_price``, ``stop=entry`` when it rises to it; an
untriggered stop is listed ``active`` (ccxt: ``open``) and cancels like any order.
"""

from __future__ import annotations

import base64
import time
import uuid
from decimal import Decimal as D
from typing import Iterator

import ccxt
import pytest
from ccxt.test.exchange.base.test_order import test_order as check_order

from market.emulator import ApiKey, MarketSpec, Venue
from market.emulator.client import coinbase_config, point_at
from market.emulator.coinbase import CoinbaseRateLimits, CoinbaseServer, coinbase_venue_config
from market.emulator.server import ServerConfig
from tests.market.emulator.conftest import DEPOSITS, WARMUP_MS, XRP_ETH

SYM = "XRP/ETH"
TICK = D("0.00000001")
SECRET = base64.b64encode(b"dave-secret-bytes").decode()
KEYS = [ApiKey("alice-key", SECRET, "alice", passphrase="alice-pass")]


@pytest.fixture(scope="module")
def server(xrp_eth_bars, xrp_eth_trades) -> Iterator[CoinbaseServer]:
    venue = Venue([MarketSpec(XRP_ETH, xrp_eth_bars, xrp_eth_trades)], keys=KEYS, deposits=DEPOSITS,
                  config=coinbase_venue_config())
    venue.advance_to(venue.start_ms + WARMUP_MS)
    with CoinbaseServer(venue, ServerConfig(), limits=CoinbaseRateLimits(1000, 1000)) as srv:
        yield srv


def client(server: CoinbaseServer) -> ccxt.coinbaseexchange:
    exchange = point_at(ccxt.coinbaseexchange(coinbase_config("alice-key", SECRET, "alice-pass")), server.url)
    exchange.load_markets()
    return exchange


def now_ms() -> int:
    return int(time.time() * 1000)


def test_stop_loss_sell_waits_active_then_the_replay_triggers_and_fills_it(server: CoinbaseServer,
                                                                           xrp_eth_trades) -> None:
    ex = client(server)
    with server.lock:
        t0 = server.venue.now_ms
        last = server.venue.engine.last_price(SYM)
    ts = xrp_eth_trades["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    low = D(str(xrp_eth_trades[(ts > t0) & (ts <= t0 + 30 * 60_000)]["price"].min()))
    assert low < last
    stop = low + TICK
    limit = (stop * D("0.98")).quantize(TICK)
    oid = str(uuid.uuid4())
    order = ex.create_order(SYM, "limit", "sell", 100, float(limit),
                            {"stop": "loss", "stopPrice": float(stop), "clientOrderId": oid})
    check_order(ex, {}, "createOrder", order, SYM, now_ms())
    assert order["info"]["status"] == "active" and order["status"] == "open"
    assert order["info"]["stop"] == "loss" and order["triggerPrice"] == float(stop)
    assert order["id"] in [o["id"] for o in ex.fetch_open_orders(SYM)]
    with server.lock:
        server.venue.advance_to(t0 + 30 * 60_000)
    done = ex.fetch_order(order["id"], SYM)
    check_order(ex, {}, "fetchOrder", done, SYM, now_ms())
    assert done["status"] == "closed" and done["filled"] == 100
    assert float(limit) <= done["cost"] / done["filled"] <= float(stop)


def test_entry_stop_is_cancelable_and_bad_stop_params_are_refused(server: CoinbaseServer) -> None:
    ex = client(server)
    with server.lock:
        last = server.venue.engine.last_price(SYM)
    far = (last * D("1.5")).quantize(TICK)
    order = ex.create_order(SYM, "limit", "buy", 10, float(far), {"stop": "entry", "stopPrice": float(far)})
    assert order["info"]["status"] == "active"
    ex.cancel_order(order["id"], SYM)
    assert ex.fetch_order(order["id"], SYM)["status"] == "canceled"
    with pytest.raises(ccxt.ExchangeError, match="stop and stop_price"):
        ex.create_order(SYM, "limit", "buy", 10, float(far), {"stop": "entry"})
    with pytest.raises(ccxt.ExchangeError, match="Invalid stop"):
        ex.create_order(SYM, "limit", "buy", 10, float(far), {"stop": "up", "stopPrice": float(far)})
    with pytest.raises(ccxt.ExchangeError, match="Stop price would trigger immediately"):
        ex.create_order(SYM, "limit", "sell", 10, float(last), {"stop": "loss", "stopPrice": float(last)})
