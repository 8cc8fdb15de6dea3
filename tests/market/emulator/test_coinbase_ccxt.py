"""The real ccxt ``coinbaseexchange`` client against the Coinbase-dialect emulator on 127.0.0.1.

The same venue core (matching engine, replay of the bundled XRP/ETH bars and trades) as the Binance
dialect; every structure ccxt parses is checked with the validators shipped in the ccxt wheel.
"""

from __future__ import annotations

import base64
import time
import uuid
from decimal import Decimal as D
from typing import Iterator

import ccxt
import pytest
from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_market import test_market as check_market
from ccxt.test.exchange.base.test_ohlcv import test_ohlcv as check_ohlcv
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_order_book import test_order_book as check_order_book
from ccxt.test.exchange.base.test_ticker import test_ticker as check_ticker
from ccxt.test.exchange.base.test_trade import test_trade as check_trade

from market.emulator import ApiKey, MarketSpec, Venue
from market.emulator.client import coinbase_config, point_at
from market.emulator.coinbase import CoinbaseRateLimits, CoinbaseServer, coinbase_venue_config
from market.emulator.server import ServerConfig
from tests.market.emulator.conftest import DEPOSITS, WARMUP_MS, XRP_ETH

SYM = "XRP/ETH"
SECRET = base64.b64encode(b"carol-secret-bytes").decode()
KEYS = [ApiKey("alice-key", SECRET, "alice", passphrase="alice-pass"),
        ApiKey("bob-key", SECRET, "bob", passphrase="bob-pass")]


@pytest.fixture(scope="module")
def server(xrp_eth_bars, xrp_eth_trades) -> Iterator[CoinbaseServer]:
    venue = Venue([MarketSpec(XRP_ETH, xrp_eth_bars, xrp_eth_trades)], keys=KEYS, deposits=DEPOSITS,
                  config=coinbase_venue_config())
    venue.advance_to(venue.start_ms + WARMUP_MS)
    with CoinbaseServer(venue, ServerConfig(), limits=CoinbaseRateLimits(1000, 1000)) as srv:
        yield srv


def client(server: CoinbaseServer, key: str = "alice-key", password: str = "alice-pass",
           secret: str = SECRET) -> ccxt.coinbaseexchange:
    exchange = point_at(ccxt.coinbaseexchange(coinbase_config(key, secret, password)), server.url)
    exchange.load_markets()
    return exchange


def now_ms() -> int:
    return int(time.time() * 1000)


def test_load_markets_and_currencies(server: CoinbaseServer) -> None:
    ex = client(server)
    market = ex.market(SYM)
    check_market(ex, {}, "loadMarkets", market)
    assert market["id"] == "XRP-ETH" and market["spot"] and market["active"]
    assert market["precision"]["price"] == 1e-8 and market["precision"]["amount"] == 1
    assert market["limits"]["cost"]["min"] == 0.001
    assert set(ex.currencies) == {"XRP", "ETH"}
    assert abs(ex.fetch_time() - now_ms()) < 5_000  # /time answers wall time (ccxt signs with its own clock)


def test_candles_are_the_bundled_bars_closed_up_to_venue_time(server: CoinbaseServer, xrp_eth_bars) -> None:
    ex = client(server)
    rows = ex.fetch_ohlcv(SYM, "1m", limit=300)
    expected = xrp_eth_bars.slice(None, server.venue.now_ms - 60_000 + 1)  # closed bars only: no lookahead
    assert len(rows) == min(len(expected), 300) > 20
    tail = expected.slice(int(rows[0][0]), None)
    assert [r[0] for r in rows] == tail.timestamp.tolist()  # ccxt sorts Coinbase's newest-first rows
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == list(zip(tail.open, tail.high, tail.low, tail.close))  # bit for bit
    for row in rows:
        check_ohlcv(ex, {}, "fetchOHLCV", row, SYM, now_ms())
    since = int(tail.timestamp[0])
    window = ex.fetch_ohlcv(SYM, "1m", since=since, limit=10)  # ccxt asks for start..start + 9 minutes
    assert [r[0] for r in window] == [t for t in tail.timestamp.tolist() if since <= t <= since + 9 * 60_000]
    assert 0 < len(window) < 10  # the real sample has missing minutes there: reported as they are, never filled
    with pytest.raises(ccxt.ExchangeError, match="Unsupported granularity"):
        ex.publicGetProductsIdCandles({"id": "XRP-ETH", "granularity": 120})


def test_book_ticker_and_trades_come_from_the_replay(server: CoinbaseServer) -> None:
    ex = client(server)
    book = ex.fetch_order_book(SYM)
    check_order_book(ex, {"timestamp": True, "datetime": True}, "fetchOrderBook", book, SYM)
    assert 1 < len(book["bids"]) <= 50 and 1 < len(book["asks"]) <= 50 and book["nonce"] > 0
    bid, ask = book["bids"][0][0], book["asks"][0][0]
    last = float(server.venue.replays[SYM].last_price)
    assert bid < last < ask
    ticker = ex.fetch_ticker(SYM)
    check_ticker(ex, {}, "fetchTicker", ticker, SYM)
    assert ticker["last"] == last and ticker["bid"] == bid and ticker["ask"] == ask
    trades = ex.fetch_trades(SYM, limit=20)
    assert len(trades) == 20
    for trade in trades:
        check_trade(ex, {}, "fetchTrades", trade, SYM, now_ms(), True)
    with server.lock:
        tape = server.venue.engine.trades(SYM, 20)
    # Coinbase reports the maker's side; ccxt turns it back into the taker's: it must equal the engine's aggressor
    assert [(t["id"], t["side"]) for t in trades] == [
        (str(t.trade_id), "sell" if t.buyer_is_maker else "buy") for t in tape]


def test_a_limit_order_by_client_oid_rests_fills_from_the_tape_and_charges_fees_in_quote(
        server: CoinbaseServer, xrp_eth_trades) -> None:
    ex = client(server, "bob-key", "bob-pass")
    venue = server.venue
    with server.lock:
        t0 = venue.now_ms
        ask = venue.engine.depth(SYM, 1)[1][0][0]
    ts = xrp_eth_trades["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    window = xrp_eth_trades[(ts > t0) & (ts <= t0 + 20 * 60_000) & (xrp_eth_trades["side"] == "sell")]
    price = D(str(window["price"].min())) + D("0.00000001")  # one tick above the lowest sell print ahead
    assert price < ask
    before = ex.fetch_balance()
    check_balance(ex, {}, "fetchBalance", before)
    cid = str(uuid.uuid4())
    order = ex.create_order(SYM, "limit", "buy", 10, float(price), {"clientOrderId": cid})
    check_order(ex, {}, "createOrder", order, SYM, now_ms())
    assert order["status"] == "open" and order["clientOrderId"] == cid
    assert [o["id"] for o in ex.fetch_open_orders(SYM)] == [order["id"]]
    locked = ex.fetch_balance()
    assert locked["ETH"]["used"] == pytest.approx(10 * float(price) * 1.001)  # notional + its 10 bps fee reserve
    with server.lock:
        venue.advance_to(t0 + 20 * 60_000)
    done = ex.fetch_order(None, SYM, {"clientOrderId": cid})  # looked up by client_oid
    check_order(ex, {}, "fetchOrder", done, SYM, now_ms())
    assert done["id"] == order["id"] and done["status"] == "closed" and done["filled"] == 10
    mine = ex.fetch_my_trades(SYM)
    for trade in mine:
        check_trade(ex, {}, "fetchMyTrades", trade, SYM, now_ms(), False)
    assert {t["order"] for t in mine} == {order["id"]} and all(t["side"] == "buy" for t in mine)
    assert all(t["takerOrMaker"] == "maker" and t["fee"]["currency"] == "ETH" for t in mine)
    fees = sum(t["fee"]["cost"] for t in mine)  # 10 bps maker of each fill's notional, rounded down to 1e-8 ETH
    assert 0 <= 10 * float(price) * 0.001 - fees < 1e-8 * len(mine) and done["fee"]["cost"] == pytest.approx(fees)
    after = ex.fetch_balance()
    assert after["XRP"]["total"] == pytest.approx(before["XRP"]["total"] + 10)  # the whole quantity arrives
    assert after["ETH"]["total"] == pytest.approx(before["ETH"]["total"] - 10 * float(price) - fees)
    assert after["ETH"]["used"] == 0  # the unspent fee reserve went back when the order closed


def test_market_orders_by_size_and_by_funds_and_cancels(server: CoinbaseServer) -> None:
    ex = client(server)
    by_size = ex.create_order(SYM, "market", "sell", 100)
    assert by_size["filled"] == 100 and by_size["status"] == "closed"
    by_funds = ex.create_order(SYM, "market", "buy", None, None, {"cost": 0.05})
    assert by_funds["status"] == "closed" and 0 < by_funds["cost"] <= 0.05
    far = ex.create_order(SYM, "limit", "buy", 10, 0.0001, {"clientOrderId": str(uuid.uuid4())})
    other = ex.create_order(SYM, "limit", "buy", 10, 0.0001)
    ex.cancel_order(far["id"], SYM)
    assert ex.fetch_order(far["id"])["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):  # "Order already done"
        ex.cancel_order(far["id"], SYM)
    ex.cancel_all_orders(SYM)
    assert ex.fetch_open_orders(SYM) == [] and ex.fetch_order(other["id"])["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(str(uuid.UUID(int=10**9)))


def test_bad_requests_get_coinbase_errors_that_ccxt_maps(server: CoinbaseServer) -> None:
    ex = client(server)
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYM, "limit", "buy", 10**7, 0.001)
    with pytest.raises(ccxt.InvalidOrder):  # "size is too small ..." (below the lot)
        ex.privatePostOrders({"product_id": "XRP-ETH", "side": "buy", "type": "limit", "size": "0.5",
                              "price": "0.001"})
    with pytest.raises(ccxt.ExchangeError, match="client_oid"):
        ex.create_order(SYM, "limit", "buy", 10, 0.0001, {"clientOrderId": "not-a-uuid"})
    with pytest.raises(ccxt.ExchangeError, match="stop and stop_price must be sent together"):  # no ``stop``
        ex.create_order(SYM, "limit", "sell", 10, 0.002, {"stopPrice": 0.0019})
    assert ex.fetch_open_orders(SYM) == []  # nothing refused was placed


def test_signing_is_checked(server: CoinbaseServer) -> None:
    with pytest.raises(ccxt.AuthenticationError):
        client(server, password="wrong").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        client(server, secret=base64.b64encode(b"another").decode()).fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        client(server, key="nobody").fetch_balance()
    stale = client(server)
    stale.nonce = lambda: stale.seconds() - 120  # signed two minutes ago: a replayed request
    with pytest.raises(ccxt.ExchangeError, match="timestamp expired"):
        stale.fetch_balance()


def test_rate_limits_per_second_answer_429(xrp_eth_bars, xrp_eth_trades) -> None:
    venue = Venue([MarketSpec(XRP_ETH, xrp_eth_bars, xrp_eth_trades)], keys=KEYS, deposits=DEPOSITS,
                  config=coinbase_venue_config())
    venue.advance_to(venue.start_ms + WARMUP_MS)
    with CoinbaseServer(venue, ServerConfig(), limits=CoinbaseRateLimits(public_per_s=3, private_per_s=3)) as srv:
        ex = point_at(ccxt.coinbaseexchange(coinbase_config(enableRateLimit=False)), srv.url)
        with pytest.raises(ccxt.RateLimitExceeded):
            for _ in range(20):  # far more than 3 in any one second
                ex.publicGetTime()


def test_ccxt_pro_streams_matches_level2_ticker_and_pushes_our_own_fills(server: CoinbaseServer) -> None:
    """ccxt.pro coinbaseexchange on the feed: public matches equal the venue's tape, the level2 book equals the
    venue's, and our own fill arrives on the authenticated user channel with our order id (pushed, not polled)."""
    import asyncio

    import ccxt.pro as ccxtpro

    venue = server.venue

    def advance(minutes: int) -> None:
        with server.lock:
            venue.advance_to(venue.now_ms + minutes * 60_000)

    async def run() -> None:
        ex = point_at(ccxtpro.coinbaseexchange(coinbase_config("bob-key", SECRET, "bob-pass")), server.url,
                      server.ws_url)
        try:
            await ex.load_markets()
            book = await asyncio.wait_for(ex.watch_order_book(SYM), 30)
            with server.lock:
                bids, asks = venue.engine.depth(SYM, 50)
            assert book["bids"][0] == [float(bids[0][0]), float(bids[0][1])]
            assert book["asks"][0] == [float(asks[0][0]), float(asks[0][1])]
            trades_task = asyncio.ensure_future(ex.watch_trades(SYM))
            ticker_task = asyncio.ensure_future(ex.watch_ticker(SYM))
            mine_task = asyncio.ensure_future(ex.watch_my_trades(SYM))
            await asyncio.sleep(0.5)  # subscribed before anything trades
            await asyncio.to_thread(advance, 3)
            trades = await asyncio.wait_for(trades_task, 30)
            with server.lock:
                tape = {t.trade_id: t for t in venue.engine.trades(SYM, 5000)}
            for t in trades:
                check_trade(ex, {}, "watchTrades", t, SYM, now_ms(), True)
                ours = tape[int(t["id"])]
                assert t["price"] == float(ours.price) and t["side"] == ("sell" if ours.buyer_is_maker else "buy")
            ticker = await asyncio.wait_for(ticker_task, 30)
            assert ticker["last"] == float(venue.replays[SYM].last_price)
            order = await ex.create_order(SYM, "market", "buy", 20)  # takes from the synthetic asks at once
            mine = await asyncio.wait_for(mine_task, 30)
            assert {t["order"] for t in mine} == {order["id"]}
            assert sum(t["amount"] for t in mine) == 20 and all(t["side"] == "buy" for t in mine)
            assert all(t["takerOrMaker"] == "taker" and t["fee"]["currency"] == "ETH" for t in mine)
            with server.lock:
                _, asks = venue.engine.depth(SYM, 50)
            top = [float(asks[0][0]), float(asks[0][1])]
            deadline = time.monotonic() + 30
            while ex.orderbooks[SYM]["asks"][0] != top and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # the l2update our order caused reaches the local book
            assert ex.orderbooks[SYM]["asks"][0] == top
            bad = point_at(ccxtpro.coinbaseexchange(coinbase_config("bob-key", SECRET, "wrong")), server.url,
                           server.ws_url)
            try:
                await bad.load_markets()
                with pytest.raises(ccxt.AuthenticationError):
                    await asyncio.wait_for(bad.watch_my_trades(SYM), 30)
            finally:
                await bad.close()
        finally:
            await ex.close()

    asyncio.run(run())
