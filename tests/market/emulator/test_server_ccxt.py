"""The real ccxt ``binance`` client (sync and async) against the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from decimal import Decimal as D

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_market import test_market as check_market
from ccxt.test.exchange.base.test_ohlcv import test_ohlcv as check_ohlcv
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_order_book import test_order_book as check_order_book
from ccxt.test.exchange.base.test_ticker import test_ticker as check_ticker
from ccxt.test.exchange.base.test_trade import test_trade as check_trade

from market.emulator.client import ccxt_config, point_at
from market.emulator.server import EmulatorServer, FaultConfig, RateLimitConfig, ServerConfig
from market.emulator.venue import Venue
from tests.market.binance_klines_server import _symbol_info as reference_symbol_info
from tests.market.emulator.conftest import make_venue

SYM = "XRP/ETH"


def client(server: EmulatorServer, key: str = "alice-key", secret: str = "alice-secret", **extra) -> ccxt.binance:
    exchange = point_at(ccxt.binance(ccxt_config(key, secret, **extra)), server.url)
    exchange.load_markets()
    return exchange


def now_ms() -> int:
    return int(time.time() * 1000)


def test_load_markets_reads_filters_and_matches_binance_field_set(server: EmulatorServer) -> None:
    ex = client(server)
    market = ex.market(SYM)
    check_market(ex, {}, "loadMarkets", market)
    assert market["id"] == "XRPETH" and market["spot"]
    assert market["precision"]["price"] == 1e-8 and market["precision"]["amount"] == 1
    assert market["limits"]["amount"]["min"] == 1 and market["limits"]["cost"]["min"] == 0.001
    info = ex.publicGetExchangeInfo()["symbols"][0]
    assert set(info) == set(reference_symbol_info("XRPETH", "XRP", "ETH"))  # same keys as the proven fixture


def test_fetch_ohlcv_serves_the_bundled_bars_up_to_venue_time(server: EmulatorServer, xrp_eth_bars) -> None:
    ex = client(server)
    rows = ex.fetch_ohlcv(SYM, "1m", limit=1000)
    venue = server.venue
    expected = xrp_eth_bars.slice(None, venue.now_ms - 60_000 + 1)  # closed bars only: no lookahead
    assert len(rows) == len(expected) > 20  # the sample has gaps: reported, never filled
    assert [r[0] for r in rows] == expected.timestamp.tolist()
    assert [r[4] for r in rows] == expected.close.tolist()  # bit for bit
    for row in rows:
        check_ohlcv(ex, {}, "fetchOHLCV", row, SYM, now_ms())
    five = ex.fetch_ohlcv(SYM, "5m")  # resampled from the 1m bars
    assert five and all(r[0] % 300_000 == 0 and r[0] <= venue.now_ms for r in five)
    assert max(r[2] for r in five) == max(r[2] for r in rows) and sum(r[5] for r in five) == pytest.approx(
        sum(r[5] for r in rows))


def test_order_book_ticker_and_trades_come_from_the_replay(server: EmulatorServer) -> None:
    ex = client(server)
    book = ex.fetch_order_book(SYM, 5)
    # Binance spot /depth carries no timestamp (only lastUpdateId), so ccxt leaves it None
    check_order_book(ex, {"timestamp": True, "datetime": True}, "fetchOrderBook", book, SYM)
    assert len(book["bids"]) == len(book["asks"]) == 5
    bid, ask = book["bids"][0][0], book["asks"][0][0]
    last = float(server.venue.replays[SYM].last_price)
    assert bid < last < ask and (ask - bid) / last == pytest.approx(10e-4, abs=2e-5)  # 10 bps spread
    assert [q for _, q in book["asks"]] == [2000, 3000, 4500, 6750, 10125]  # depth profile x1.5
    ticker = ex.fetch_ticker(SYM)
    check_ticker(ex, {}, "fetchTicker", ticker, SYM)
    assert ticker["last"] == last and ticker["bid"] == bid and ticker["ask"] == ask
    trades = ex.fetch_trades(SYM, limit=20)
    assert len(trades) == 20
    for trade in trades:
        check_trade(ex, {}, "fetchTrades", trade, SYM, now_ms(), True)
    assert trades[-1]["price"] == last


def test_limit_order_rests_then_fills_when_the_tape_trades_through_it(server: EmulatorServer, xrp_eth_trades) -> None:
    ex = client(server, "bob-key", "bob-secret")
    venue = server.venue
    with server.lock:
        t0 = venue.now_ms
        ask = venue.engine.depth(SYM, 1)[1][0][0]
    ts = xrp_eth_trades["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    window = xrp_eth_trades[(ts > t0) & (ts <= t0 + 20 * 60_000) & (xrp_eth_trades["side"] == "sell")]
    low = D(str(window["price"].min()))
    price = low + D("0.00000001")  # one tick above the lowest sell print ahead: it will trade through
    assert price < ask
    before = ex.fetch_balance()
    order = ex.create_order(SYM, "limit", "buy", 10, float(price), {"clientOrderId": "bob-rest-1"})
    check_order(ex, {}, "createOrder", order, SYM, now_ms())
    assert order["status"] == "open" and order["clientOrderId"] == "bob-rest-1"
    assert [o["id"] for o in ex.fetch_open_orders(SYM)] == [order["id"]]
    locked = ex.fetch_balance()
    assert locked["ETH"]["used"] == pytest.approx(10 * float(price))
    with server.lock:
        venue.advance_to(t0 + 20 * 60_000)
    done = ex.fetch_order(order["id"], SYM)
    check_order(ex, {}, "fetchOrder", done, SYM, now_ms())
    assert done["filled"] > 0 and done["average"] == float(price)  # filled at its own limit price, never worse
    mine = ex.fetch_my_trades(SYM)
    for trade in mine:
        check_trade(ex, {}, "fetchMyTrades", trade, SYM, now_ms(), False)
    assert mine[-1]["takerOrMaker"] == "maker" and mine[-1]["fee"]["currency"] == "XRP"
    assert mine[-1]["fee"]["cost"] == pytest.approx(mine[-1]["amount"] * 0.001)  # 10 bps maker
    after = ex.fetch_balance()
    check_balance(ex, {}, "fetchBalance", after)
    filled = done["filled"]
    assert after["XRP"]["total"] == pytest.approx(before["XRP"]["total"] + filled * 0.999)
    assert after["ETH"]["total"] == pytest.approx(before["ETH"]["total"] - filled * float(price))
    if done["status"] == "open":
        ex.cancel_order(order["id"], SYM)
    assert ex.fetch_open_orders(SYM) == []


def test_market_order_walks_the_synthetic_book(server: EmulatorServer) -> None:
    ex = client(server)
    book = ex.fetch_order_book(SYM, 5)
    order = ex.create_order(SYM, "market", "buy", 4000)
    check_order(ex, {}, "createOrder", order, SYM, now_ms())
    assert order["status"] == "closed" and order["filled"] == 4000
    assert [t["price"] for t in order["trades"]] == [book["asks"][0][0], book["asks"][1][0]]  # slippage emerges
    assert order["average"] > book["asks"][0][0]
    assert order["fee"]["currency"] == "XRP" and order["fee"]["cost"] == pytest.approx(4.0)  # 10 bps taker
    ask = ex.fetch_order_book(SYM, 1)["asks"][0][0]
    by_cost = ex.create_order(SYM, "market", "buy", 100, ask)  # ccxt sends quoteOrderQty = amount x price
    assert by_cost["status"] == "closed" and by_cost["cost"] <= 100 * ask + 1e-12 and by_cost["filled"] == 100
    best_bid = ex.fetch_order_book(SYM, 1)["bids"][0][0]
    sell = ex.create_order(SYM, "market", "sell", 1000)
    assert sell["status"] == "closed" and [t["price"] for t in sell["trades"]] == [best_bid]


def test_limit_lifecycle_open_fetch_cancel(server: EmulatorServer) -> None:
    ex = client(server)
    order = ex.create_order(SYM, "limit", "sell", 100, 0.002, {"clientOrderId": "alice-sell-1"})
    assert order["status"] == "open"
    by_client_id = ex.fetch_order(None, SYM, {"origClientOrderId": "alice-sell-1"})
    assert by_client_id["id"] == order["id"]
    assert order["id"] in [o["id"] for o in ex.fetch_open_orders(SYM)]
    canceled = ex.cancel_order(order["id"], SYM)
    check_order(ex, {}, "cancelOrder", canceled, SYM, now_ms())
    assert canceled["status"] == "canceled"
    assert ex.fetch_order(order["id"], SYM)["status"] == "canceled"
    history = {o["id"]: o["status"] for o in ex.fetch_orders(SYM)}  # allOrders
    assert history[order["id"]] == "canceled"


def test_trading_errors_carry_binance_codes(server: EmulatorServer) -> None:
    ex = client(server)
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):  # -2010, mapped by message
        ex.create_order(SYM, "limit", "buy", 100000, 0.0013)
    with pytest.raises(ccxt.ExchangeError, match="-1013.*NOTIONAL"):
        ex.create_order(SYM, "limit", "buy", 1, 0.0001)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order("987654321", SYM)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order("987654321", SYM)
    ex.create_order(SYM, "limit", "buy", 10, 0.001, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="-2010.*Duplicate"):
        ex.create_order(SYM, "limit", "buy", 10, 0.001, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.BadSymbol):
        ex.fetch_order_book("DOGE/ETH")
    ex.cancel_all_orders(SYM)
    assert ex.fetch_open_orders(SYM) == []


def test_authentication_failures(server: EmulatorServer) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client(server, "alice-key", "wrong-secret").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client(server, "nobody", "x").fetch_balance()


def test_stale_and_future_timestamps_are_refused(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    with EmulatorServer(venue, wall_ms=lambda: now_ms() + 120_000) as ahead_server:  # client clock 2 min behind
        ex = client(ahead_server)
        with pytest.raises(ccxt.InvalidNonce, match="-1021.*recvWindow"):
            ex.fetch_balance()
        ex.options["recvWindow"] = 59_000
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            ex.fetch_balance()
    with EmulatorServer(venue, wall_ms=lambda: now_ms() - 5_000) as behind_server:  # client clock 5 s ahead
        with pytest.raises(ccxt.InvalidNonce, match="-1021.*ahead"):
            client(behind_server).fetch_balance()


def test_weight_rate_limit_answers_429_with_retry_after(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    frozen = 1_700_000_010_000  # 30 s into a wall-clock minute
    cfg = ServerConfig(rate_limit=RateLimitConfig(weight_per_minute=40))
    with EmulatorServer(venue, cfg, wall_ms=lambda: frozen) as srv:
        ex = client(srv)  # exchangeInfo: weight 20
        ex.fetch_order_book(SYM, 5)  # 5
        ex.fetch_order_book(SYM, 5)  # 5
        ex.fetch_ticker(SYM)  # 2
        with pytest.raises(ccxt.DDoSProtection, match="429"):
            ex.fetch_order_book(SYM, 500)  # 25 > 40
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(srv.url + "/api/v3/ping")
        assert info.value.code == 429 and info.value.headers["Retry-After"] == "30"
        assert b"-1003" in info.value.read()


def test_accepted_order_whose_response_is_lost_is_found_by_client_id(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    cfg = ServerConfig(faults=FaultConfig(lose_order_response_every=1))
    with EmulatorServer(venue, cfg) as srv:
        ex = client(srv)
        with pytest.raises(ccxt.NetworkError):
            ex.create_order(SYM, "limit", "buy", 10, 0.001, {"clientOrderId": "lost-1"})
        found = ex.fetch_order(None, SYM, {"origClientOrderId": "lost-1"})
        assert found["status"] == "open" and found["amount"] == 10
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):  # a blind retry cannot double the order
            ex.create_order(SYM, "limit", "buy", 10, 0.001, {"clientOrderId": "lost-1"})


def test_every_nth_request_fails_with_503(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = make_venue(xrp_eth_bars, xrp_eth_trades)
    with EmulatorServer(venue, ServerConfig(faults=FaultConfig(fail_every=2))) as srv:
        ex = client(srv)  # request 1 succeeds
        with pytest.raises(ccxt.ExchangeNotAvailable):
            ex.fetch_ticker(SYM)  # request 2
        assert ex.fetch_ticker(SYM)["last"] > 0  # request 3


def test_server_refuses_non_loopback_hosts(xrp_eth_bars, xrp_eth_trades) -> None:
    from market.emulator.errors import BadParameter

    with pytest.raises(BadParameter, match="loopback"):
        EmulatorServer(Venue.__new__(Venue), ServerConfig(host="0.0.0.0"))


def test_async_ccxt_client_trades_against_the_emulator(server: EmulatorServer) -> None:
    async def main() -> tuple[dict, dict, list]:
        ex = point_at(ccxt_async.binance(ccxt_config("alice-key", "alice-secret")), server.url)
        try:
            await ex.load_markets()
            book = await ex.fetch_order_book(SYM, 5)
            order = await ex.create_order(SYM, "limit", "sell", 50, book["asks"][0][0] * 1.01)
            balance = await ex.fetch_balance()
            canceled = await ex.cancel_order(order["id"], SYM)
            ohlcv = await ex.fetch_ohlcv(SYM, "1m", limit=5)
            return balance, canceled, ohlcv
        finally:
            await ex.close()

    balance, canceled, ohlcv = asyncio.run(main())
    assert balance["XRP"]["used"] >= 50 and canceled["status"] == "canceled" and len(ohlcv) == 5
