"""The Binance dialect's user-data stream: listen keys over REST, ``/ws/<listenKey>``, the WebSocket API's
``userDataStream.subscribe.signature``, and the real ccxt.pro ``binance`` client reading our fills and orders
from it (checked with the validators in the ccxt wheel)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal as D
from typing import Any, Iterator

import aiohttp
import ccxt
import pytest
from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_trade import test_trade as check_trade

from market.emulator._binance_user import ListenKeys
from market.emulator.client import ccxt_config, point_at
from market.emulator.server import EmulatorServer, ServerConfig
from tests.market.emulator.conftest import make_venue
from tests.market.emulator.test_server_raw import call

SYM = "XRP/ETH"


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def server(xrp_eth_bars, xrp_eth_trades) -> Iterator[EmulatorServer]:
    with EmulatorServer(make_venue(xrp_eth_bars, xrp_eth_trades), ServerConfig()) as srv:
        yield srv


def listen_key(server: EmulatorServer, api_key: str = "alice-key") -> str:
    status, _, body = call(server, "POST", "/api/v3/userDataStream", key=api_key)
    assert status == 200
    return body["listenKey"]


def signed_order(server: EmulatorServer, account: str, **params: Any) -> dict:
    status, _, body = call(server, "POST", "/api/v3/order", {**params, "timestamp": now_ms()},
                           key=f"{account}-key", secret=f"{account}-secret")
    assert status == 200, body
    return body


async def read_events(ws: aiohttp.ClientWebSocketResponse, until: Any, timeout: float = 20.0,
                      quiet_s: float = 0.0) -> list[dict]:
    """Events from ``ws`` until ``until(events)`` holds (or the deadline: the caller's assertions then fail),
    then any that follow within ``quiet_s`` of each other (the rest of the hub's batch)."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = until(events)
        if done and not quiet_s:
            break
        try:
            msg = await ws.receive(timeout=quiet_s if done else max(0.05, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        events.append(json.loads(msg.data))
    return events


def test_listen_keys_are_created_kept_alive_and_closed_with_binances_answers(server: EmulatorServer) -> None:
    path = "/api/v3/userDataStream"
    assert call(server, "POST", path)[2] == {"code": -2014, "msg": "API-key format invalid."}
    status, _, body = call(server, "POST", path, key="nobody")
    assert (status, body["code"]) == (401, -2015)
    key = listen_key(server)
    assert len(key) == 60 and key.isalnum()
    assert listen_key(server) == key  # one active key per account: POST returns it again (and extends it)
    bobs = listen_key(server, "bob-key")
    assert bobs != key
    status, headers, body = call(server, "PUT", path, {"listenKey": key}, key="alice-key")
    assert (status, body) == (200, {}) and int(headers["X-MBX-USED-WEIGHT-1M"]) >= 2
    status, _, body = call(server, "PUT", path, {}, key="alice-key")
    assert (status, body["code"]) == (400, -1102)
    for bad, api_key in (("x" * 60, "alice-key"), (bobs, "alice-key")):  # unknown; another account's
        status, _, body = call(server, "PUT", path, {"listenKey": bad}, key=api_key)
        assert (status, body) == (400, {"code": -1125, "msg": "This listenKey does not exist."})
    assert call(server, "DELETE", path, {"listenKey": key}, key="alice-key")[:3:2] == (200, {})
    status, _, body = call(server, "PUT", path, {"listenKey": key}, key="alice-key")
    assert (status, body["code"]) == (400, -1125)
    assert listen_key(server) != key  # closed: the next POST opens a new one
    # the real ccxt client calls the same endpoints and maps -1125 to its error class
    ex = point_at(ccxt.binance(ccxt_config("alice-key", "alice-secret")), server.url)
    fresh = ex.publicPostUserDataStream()["listenKey"]
    assert ex.publicPutUserDataStream({"listenKey": fresh}) == {}
    with pytest.raises(ccxt.AuthenticationError, match="-1125"):
        ex.publicPutUserDataStream({"listenKey": "y" * 60})


def test_a_key_expires_after_sixty_minutes_without_keepalive() -> None:
    clock = [1_000_000]
    keys = ListenKeys(lambda: clock[0])
    key = keys.open("alice")
    clock[0] += 59 * 60_000
    keys.keepalive("alice", key)  # valid until 59 + 60 minutes
    clock[0] += 60 * 60_000 - 1
    assert keys.account_of(key) == "alice" and keys.expire() == []
    clock[0] += 1
    assert keys.account_of(key) is None and keys.expire() == [key]
    with pytest.raises(Exception, match="This listenKey does not exist.") as err:
        keys.keepalive("alice", key)
    assert err.value.code == -1125


def test_an_expired_key_closes_its_stream_and_is_refused(server: EmulatorServer) -> None:
    keys = server.user_streams.keys
    key = listen_key(server, "bob-key")

    async def run() -> tuple[list[dict], bool, int, dict]:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(server.url.replace("http", "ws") + f"/ws/{key}") as ws:
                real = keys.clock
                keys.clock = lambda: real() + 61 * 60_000  # the server's clock, an hour and a minute on
                try:
                    events = await read_events(ws, lambda ev: bool(ev))
                    end = await ws.receive(timeout=10)  # then the socket closes
                finally:
                    keys.clock = real
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(server.url.replace("http", "ws") + f"/ws/{key}")
            async with http.get(server.url + f"/ws/{key}") as resp:  # what the refused upgrade says
                return events, end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), resp.status, \
                    await resp.json()

    events, closed, status, body = asyncio.run(run())
    assert [e["e"] for e in events] == ["listenKeyExpired"] and events[0]["listenKey"] == key and closed
    assert (status, body) == (400, {"code": -1125, "msg": "This listenKey does not exist."})
    status, _, body = call(server, "PUT", "/api/v3/userDataStream", {"listenKey": key}, key="bob-key")
    assert (status, body["code"]) == (400, -1125)


def test_the_listen_key_stream_pushes_every_order_update_and_the_balances(server: EmulatorServer) -> None:
    """A resting order then canceled (NEW, CANCELED), a market order (NEW, TRADE..., last FILLED) and an IOC
    that cannot fill (NEW, EXPIRED): each event as Binance sends it, the fills equal to the venue's records,
    ``I`` counting 1, 2, 3, ... and the balances after them equal to the ledger's."""
    venue = server.venue
    key = listen_key(server)
    with server.lock:
        bid = venue.engine.depth(SYM, 1)[0][0][0]
    low = f"{bid - D('0.00001'):.8f}"

    async def run() -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(server.url.replace("http", "ws") + f"/ws/{key}") as ws:
                await asyncio.sleep(0.2)  # subscribed before anything happens
                rest = await asyncio.to_thread(signed_order, server, "alice", symbol="XRPETH", side="BUY",
                                               type="LIMIT", timeInForce="GTC", quantity="100", price=low,
                                               newClientOrderId="us-rest")
                status, _, _ = await asyncio.to_thread(
                    call, server, "DELETE", "/api/v3/order", {"symbol": "XRPETH", "orderId": rest["orderId"],
                                                              "timestamp": now_ms()},
                    key="alice-key", secret="alice-secret")
                assert status == 200
                await asyncio.to_thread(signed_order, server, "alice", symbol="XRPETH", side="BUY", type="MARKET",
                                        quantity="3000", newClientOrderId="us-mkt")
                await asyncio.to_thread(signed_order, server, "alice", symbol="XRPETH", side="BUY", type="LIMIT",
                                        timeInForce="IOC", quantity="10", price=low, newClientOrderId="us-ioc")
                return await read_events(ws, lambda ev: any(e.get("x") == "EXPIRED" for e in ev), timeout=20,
                                         quiet_s=0.5)

    events = asyncio.run(run())
    reports = [e for e in events if e["e"] == "executionReport"]
    by_order: dict[str, list[dict]] = {}
    for e in reports:
        by_order.setdefault(e["C"] or e["c"], []).append(e)
    assert [(e["x"], e["X"]) for e in by_order["us-rest"]] == [("NEW", "NEW"), ("CANCELED", "CANCELED")]
    assert by_order["us-rest"][0]["w"] is True and by_order["us-rest"][1]["c"] != "us-rest"
    assert [(e["x"], e["X"]) for e in by_order["us-ioc"]] == [("NEW", "NEW"), ("EXPIRED", "EXPIRED")]
    market = by_order["us-mkt"]
    assert market[0]["x"] == "NEW" and all(e["x"] == "TRADE" for e in market[1:]) and len(market) >= 2
    assert [e["X"] for e in market[1:]] == ["PARTIALLY_FILLED"] * (len(market) - 2) + ["FILLED"]
    with server.lock:
        fills = [f for f in venue.engine.fills("alice", SYM) if f.order_id == market[0]["i"]]
        balances = {b.asset: b for b in venue.engine.ledger.balances("alice")}
    assert [(e["t"], D(e["l"]), D(e["L"]), D(e["n"]), e["N"], e["m"]) for e in market[1:]] == [
        (f.trade_id, f.qty, f.price, f.commission, f.commission_asset, f.is_maker) for f in fills]
    assert D(market[-1]["z"]) == sum(f.qty for f in fills) == D("3000")
    assert D(market[-1]["Z"]) == sum(f.quote_qty for f in fills)
    assert D(market[-1]["n"]) > 0 and market[-1]["N"] == "XRP"  # the buyer pays its fee in what it receives
    assert [e["I"] for e in events] == list(range(events[0]["I"], events[0]["I"] + len(events)))
    assert all(e["E"] >= e.get("T", 0) for e in reports) and all(e["s"] == "XRPETH" for e in reports)
    last = {}
    for e in events:
        if e["e"] == "outboundAccountPosition":
            last.update({b["a"]: (D(b["f"]), D(b["l"])) for b in e["B"]})
    assert last == {a: (balances[a].free, balances[a].locked) for a in last} and set(last) >= {"ETH", "XRP"}


def test_ccxt_pro_watches_our_trades_orders_and_balance_over_the_websocket_api(server: EmulatorServer) -> None:
    """ccxt.pro ``binance`` (spot user data over the WebSocket API, signed subscription) reads the pushes; the
    wheel's validators accept the trades, orders and balance; the pushed trades equal ``fetch_my_trades``."""
    import ccxt.pro as ccxtpro

    async def run() -> None:
        ex = point_at(ccxtpro.binance(ccxt_config("bob-key", "bob-secret")), server.url, server.ws_url)
        try:
            await ex.load_markets()
            trades_task = asyncio.ensure_future(ex.watch_my_trades(SYM))
            orders_task = asyncio.ensure_future(ex.watch_orders(SYM))
            balance_task = asyncio.ensure_future(ex.watch_balance())
            await asyncio.sleep(0.5)  # subscribed before the order
            order = await ex.create_order(SYM, "market", "sell", 2000, None, {"clientOrderId": "ccxt-push-1"})
            trades = await asyncio.wait_for(trades_task, 30)
            orders = await asyncio.wait_for(orders_task, 30)
            balance = await asyncio.wait_for(balance_task, 30)
            deadline = time.monotonic() + 20
            while sum(t["amount"] for t in ex.myTrades) < 2000 and time.monotonic() < deadline:
                await asyncio.wait_for(ex.watch_my_trades(SYM), 20)
            pushed = list(ex.myTrades)
            for t in pushed:
                check_trade(ex, {}, "watchMyTrades", t, SYM, now_ms(), False)
            for o in orders:
                check_order(ex, {}, "watchOrders", o, SYM, now_ms())
            check_balance(ex, {}, "watchBalance", balance)
            assert trades and {t["order"] for t in pushed} == {order["id"]}
            rest = await ex.fetch_my_trades(SYM, params={"orderId": order["id"]})
            assert [(t["id"], t["amount"], t["price"], t["fee"]["cost"], t["fee"]["currency"], t["takerOrMaker"])
                    for t in pushed] == [(t["id"], t["amount"], t["price"], t["fee"]["cost"], t["fee"]["currency"],
                                          t["takerOrMaker"]) for t in rest]
            final = ex.orders.hashmap[SYM][order["id"]]
            assert final["status"] == "closed" and final["filled"] == 2000 and final["clientOrderId"] == "ccxt-push-1"
            assert {o["clientOrderId"] for o in orders} == {"ccxt-push-1"}
            with server.lock:
                xrp = server.venue.engine.ledger.balance("bob", "XRP")
            assert balance["XRP"]["free"] == float(xrp.free)
            bad = point_at(ccxtpro.binance(ccxt_config("bob-key", "wrong-secret")), server.url, server.ws_url)
            try:
                await bad.load_markets()
                # refused with -1022 (test_the_websocket_api_answers_errors_as_binance reads the answer); ccxt 4.5.90
                # turns it into AuthenticationError, then its own clean-up deletes the subscription flag a second
                # time and a KeyError('spot') escapes instead: either way the subscription fails
                with pytest.raises((ccxt.AuthenticationError, KeyError)):
                    await asyncio.wait_for(bad.watch_my_trades(SYM), 30)
            finally:
                await bad.close()
        finally:
            await ex.close()

    asyncio.run(run())


def test_the_websocket_api_answers_errors_as_binance(server: EmulatorServer) -> None:
    async def run() -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(server.ws_api_url) as ws:
                out = []
                stamp = now_ms()
                good = {"apiKey": "alice-key", "timestamp": stamp}
                sig = hmac.new(b"alice-secret", f"apiKey=alice-key&timestamp={stamp}".encode(), hashlib.sha256)
                for req in ({"id": "a", "method": "userDataStream.subscribe.signature",
                             "params": {**good, "signature": "0" * 64}},
                            {"id": "b", "method": "userDataStream.subscribe.signature",
                             "params": {"apiKey": "nobody", "timestamp": stamp, "signature": sig.hexdigest()}},
                            {"id": "c", "method": "userDataStream.subscribe.signature",
                             "params": {**good, "timestamp": stamp - 60_000, "signature": hmac.new(
                                 b"alice-secret", f"apiKey=alice-key&timestamp={stamp - 60_000}".encode(),
                                 hashlib.sha256).hexdigest()}},
                            {"id": "d", "method": "userDataStream.subscribe.signature",
                             "params": {**good, "signature": sig.hexdigest()}},
                            {"id": "e", "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 7}},
                            {"id": "f", "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}},
                            {"id": "g", "method": "no.such.method"}):
                    await ws.send_str(json.dumps(req))
                    out.append(json.loads((await ws.receive(timeout=10)).data))
                return out

    a, b, c, d, e, f, g = asyncio.run(run())
    assert (a["status"], a["error"]["code"]) == (400, -1022)
    assert (b["status"], b["error"]["code"]) == (401, -2015)
    assert (c["status"], c["error"]["code"]) == (400, -1021)
    assert d == {"id": "d", "status": 200, "result": {"subscriptionId": 0}}
    assert (e["status"], f) == (400, {"id": "f", "status": 200, "result": {}})
    assert g["id"] == "g" and g["status"] == 400


def test_account_events_follow_a_partial_fill_then_a_cancel() -> None:
    """The pure core on a bare engine: a resting sell partly taken by another account's buy, then canceled,
    reads NEW, TRADE (PARTIALLY_FILLED, z = 40), CANCELED (z still 40); the taker's own stream is separate;
    nothing from before the first ``collect`` is reported."""
    from market.emulator._binance_user import AccountEvents
    from market.emulator.matching import MatchingEngine
    from tests.market.emulator.conftest import XRP_ETH

    clock = [1_000]
    engine = MatchingEngine([XRP_ETH], clock=lambda: clock[0])
    for account in ("maker", "taker"):
        engine.ledger.deposit(account, "XRP", D("1000"))
        engine.ledger.deposit(account, "ETH", D("10"))
    engine.submit("maker", SYM, "SELL", "LIMIT", qty=D("5"), price=D("0.001"), client_order_id="before")
    events = AccountEvents(engine, "maker")
    assert events.collect(clock[0]) == []  # the order placed before subscribing is not news
    clock[0] = 2_000
    rest = engine.submit("maker", SYM, "SELL", "LIMIT", qty=D("100"), price=D("0.00100001"), client_order_id="s1")
    clock[0] = 3_000
    engine.submit("taker", SYM, "BUY", "LIMIT", qty=D("45"), price=D("0.00100001"), time_in_force="IOC")
    clock[0] = 4_000
    engine.cancel("maker", SYM, order_id=rest.order.order_id)
    out = events.collect(clock[0])
    reports = [e for e in out if e["e"] == "executionReport" and e["i"] == rest.order.order_id]
    assert [(e["x"], e["X"], e["z"], e["T"]) for e in reports] == [
        ("NEW", "NEW", "0.00000000", 2_000), ("TRADE", "PARTIALLY_FILLED", "40.00000000", 3_000),
        ("CANCELED", "CANCELED", "40.00000000", 4_000)]
    # "before" (5 at 0.001) is the better price: the buy took it first, then 40 of s1
    before = [e for e in out if e["e"] == "executionReport" and e["i"] != rest.order.order_id]
    assert [(e["x"], e["X"], e["l"]) for e in before] == [("TRADE", "FILLED", "5.00000000")]
    assert reports[1]["m"] is True and reports[1]["N"] == "ETH" and D(reports[1]["n"]) > 0
    assert reports[2]["C"] == "s1" and reports[2]["c"] != "s1"
    assert out[-1]["e"] == "outboundAccountPosition"
    assert [e["I"] for e in out] == list(range(1, len(out) + 1))
    assert events.collect(clock[0]) == []  # reported once


def test_a_stop_order_reads_new_with_its_stop_price_then_its_fill_once_triggered() -> None:
    """A STOP_LOSS_LIMIT sell: NEW with ``P`` = its stop and ``w`` false (not on the book); a print at the stop
    triggers it and its fill is pushed as a TRADE (no event of the trigger itself)."""
    from market.emulator._binance_user import AccountEvents
    from market.emulator.matching import MatchingEngine
    from tests.market.emulator.conftest import XRP_ETH

    clock = [1_000]
    engine = MatchingEngine([XRP_ETH], clock=lambda: clock[0])
    for account in ("maker", "taker", "other"):
        engine.ledger.deposit(account, "XRP", D("1000"))
        engine.ledger.deposit(account, "ETH", D("10"))
    engine.submit("other", SYM, "SELL", "LIMIT", qty=D("10"), price=D("0.001"))
    engine.submit("taker", SYM, "BUY", "LIMIT", qty=D("10"), price=D("0.001"))  # last price 0.001
    events = AccountEvents(engine, "maker")
    clock[0] = 2_000
    stop = engine.submit("maker", SYM, "SELL", "STOP_LOSS_LIMIT", qty=D("5"), price=D("0.00094"),
                         stop_price=D("0.00095"), client_order_id="stop-1").order
    placed = [e for e in events.collect(clock[0]) if e["e"] == "executionReport"]
    assert [(e["x"], e["o"], e["P"], e["p"], e["w"]) for e in placed] == [
        ("NEW", "STOP_LOSS_LIMIT", "0.00095000", "0.00094000", False)]
    clock[0] = 3_000
    engine.submit("taker", SYM, "BUY", "LIMIT", qty=D("20"), price=D("0.00095"))
    engine.submit("other", SYM, "SELL", "LIMIT", qty=D("5"), price=D("0.00095"))  # prints at the stop
    filled = [e for e in events.collect(clock[0]) if e["e"] == "executionReport"]
    assert [(e["x"], e["X"], e["i"], e["l"], e["L"]) for e in filled] == [
        ("TRADE", "FILLED", stop.order_id, "5.00000000", "0.00095000")]
