"""Stop-limit, take-profit-limit and OCO orders through the real ccxt ``binance`` client on 127.0.0.1.

The venue replays the real XRP/ETH trades; levels are chosen from the trades ahead so the replay crosses them.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import ccxt
import pytest
from ccxt.test.exchange.base.test_order import test_order as check_order

from market.emulator.client import ccxt_config, point_at
from market.emulator.server import EmulatorServer

SYM = "XRP/ETH"
TICK = D("0.00000001")


def client(server: EmulatorServer, key: str = "alice-key", secret: str = "alice-secret") -> ccxt.binance:
    exchange = point_at(ccxt.binance(ccxt_config(key, secret)), server.url)
    exchange.load_markets()
    return exchange


def now_ms() -> int:
    return int(time.time() * 1000)


def ahead(server: EmulatorServer, trades, minutes: int) -> tuple[int, D, D, D]:
    """(venue time, last price, lowest trade price and highest *buy-aggressor* trade price in the next ``minutes``).

    The high is a buy print's: only a buyer's print trades through a resting sell (market/emulator/replay.py), and
    the highest print of a window can be a seller's (from the first half hour: 0.00141965 sold, 0.00141954 bought).
    """
    with server.lock:
        t0 = server.venue.now_ms
        last = server.venue.engine.last_price(SYM)
    ts = trades["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    window = trades[(ts > t0) & (ts <= t0 + minutes * 60_000)]
    bought = window[window["side"] == "buy"]
    return t0, last, D(str(window["price"].min())), D(str(bought["price"].max()))


def test_exchange_info_lists_the_stop_types_and_oco(server: EmulatorServer) -> None:
    ex = client(server)
    info = ex.market(SYM)["info"]
    assert {"STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"} <= set(info["orderTypes"]) and info["ocoAllowed"] is True


def test_stop_loss_limit_waits_untriggered_then_the_replay_triggers_and_fills_it(server: EmulatorServer,
                                                                                 xrp_eth_trades) -> None:
    ex = client(server)
    t0, last, low, _ = ahead(server, xrp_eth_trades, 30)
    assert low < last, "the tape ahead must fall below the last price"
    stop = low + TICK  # crossed by the lowest print ahead
    limit = (stop * D("0.98")).quantize(TICK)  # marketable once triggered
    order = ex.create_order(SYM, "limit", "sell", 100, float(limit), {"stopPrice": float(stop),
                                                                        "clientOrderId": "stop-1"})
    check_order(ex, {}, "createOrder", order, SYM, now_ms())
    assert order["info"]["type"] == "STOP_LOSS_LIMIT" and "workingTime" not in order["info"]
    assert order["status"] == "open" and order["triggerPrice"] == float(stop)
    fetched = ex.fetch_order(order["id"], SYM)
    check_order(ex, {}, "fetchOrder", fetched, SYM, now_ms())
    assert fetched["info"]["status"] == "NEW" and fetched["info"]["isWorking"] is False
    assert fetched["info"]["workingTime"] == -1 and fetched["timestamp"] == order["timestamp"]
    assert order["id"] in [o["id"] for o in ex.fetch_open_orders(SYM)]
    assert ex.fetch_balance()["XRP"]["used"] == 100  # locked while it waits
    with server.lock:
        server.venue.advance_to(t0 + 30 * 60_000)
    done = ex.fetch_order(order["id"], SYM)
    check_order(ex, {}, "fetchOrder", done, SYM, now_ms())
    assert done["status"] == "closed" and done["filled"] == 100 and done["info"]["isWorking"] is True
    assert done["info"]["workingTime"] > order["info"]["transactTime"]  # the trigger came later, in venue time
    assert done["average"] <= float(stop) and done["average"] >= float(limit)
    assert ex.fetch_balance()["XRP"]["used"] == 0


def test_take_profit_limit_is_cancelable_before_its_trigger(server: EmulatorServer) -> None:
    ex = client(server)
    with server.lock:
        last = server.venue.engine.last_price(SYM)
    tp = (last * D("1.5")).quantize(TICK)  # a SELL take-profit far above the market
    order = ex.create_order(SYM, "limit", "sell", 50, float(tp), {"takeProfitPrice": float(tp)})
    assert order["info"]["type"] == "TAKE_PROFIT_LIMIT" and order["takeProfitPrice"] == float(tp)
    canceled = ex.cancel_order(order["id"], SYM)
    check_order(ex, {}, "cancelOrder", canceled, SYM, now_ms())
    assert canceled["status"] == "canceled" and ex.fetch_order(order["id"], SYM)["status"] == "canceled"


def test_stop_errors_carry_binance_codes(server: EmulatorServer) -> None:
    ex = client(server)
    with server.lock:
        last = server.venue.engine.last_price(SYM)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="Stop price would trigger immediately"):
        ex.create_order(SYM, "limit", "sell", 10, float(last), {"stopPrice": float(last + TICK)})
    with pytest.raises(ccxt.BadRequest, match="-1102.*timeInForce"):
        ex.privatePostOrder({"symbol": "XRPETH", "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "10",
                             "price": str(last), "stopPrice": str(last - TICK)})
    with pytest.raises(ccxt.BadRequest, match="-1102.*stopPrice"):
        ex.privatePostOrder({"symbol": "XRPETH", "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "10",
                             "price": str(last), "timeInForce": "GTC"})


def test_oco_limit_leg_fill_expires_the_stop_leg(server: EmulatorServer, xrp_eth_trades) -> None:
    ex = client(server)
    t0, last, low, high = ahead(server, xrp_eth_trades, 30)
    assert high > last
    above = max(high - TICK, last + TICK)  # a buy print above it trades through the limit maker
    below = (low * D("0.5")).quantize(TICK)  # never reached
    answer = ex.privatePostOrderListOco({
        "symbol": "XRPETH", "side": "SELL", "quantity": "20", "aboveType": "LIMIT_MAKER", "abovePrice": str(above),
        "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": str(below), "belowPrice": str(below),
        "belowTimeInForce": "GTC", "listClientOrderId": "oco-list-1"})
    assert answer["contingencyType"] == "OCO" and answer["listOrderStatus"] == "EXECUTING"
    assert answer["listClientOrderId"] == "oco-list-1"
    limit_id, stop_id = (str(o["orderId"]) for o in answer["orders"])
    assert [r["type"] for r in answer["orderReports"]] == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    assert ex.fetch_balance()["XRP"]["used"] == 20  # the quantity once, not per leg
    with server.lock:
        server.venue.advance_to(t0 + 30 * 60_000)
    limit_leg, stop_leg = ex.fetch_order(limit_id, SYM), ex.fetch_order(stop_id, SYM)
    check_order(ex, {}, "fetchOrder", limit_leg, SYM, now_ms())
    # ccxt parses Binance's EXPIRED as "expired", which its own validator does not list: skip that one key
    check_order(ex, {"status": True}, "fetchOrder", stop_leg, SYM, now_ms())
    assert limit_leg["filled"] > 0 and stop_leg["status"] == "expired" and stop_leg["filled"] == 0
    assert int(stop_leg["info"]["orderListId"]) == answer["orderListId"]
    listed = ex.privateGetOrderList({"orderListId": answer["orderListId"]})
    assert listed["listOrderStatus"] == ("ALL_DONE" if limit_leg["status"] == "closed" else "EXECUTING")
    if limit_leg["status"] == "open":
        ex.cancel_order(limit_id, SYM)
    assert ex.fetch_balance()["XRP"]["used"] == 0


def test_legacy_oco_endpoint_and_list_cancel(server: EmulatorServer) -> None:
    ex = client(server)
    with server.lock:
        last = server.venue.engine.last_price(SYM)
    answer = ex.privatePostOrderOco({
        "symbol": "XRPETH", "side": "BUY", "quantity": "30", "price": str((last * D("0.5")).quantize(TICK)),
        "stopPrice": str((last * D("1.5")).quantize(TICK)), "stopLimitPrice": str((last * D("1.6")).quantize(TICK)),
        "stopLimitTimeInForce": "GTC"})
    assert len(answer["orders"]) == 2 and answer["listStatusType"] == "EXEC_STARTED"
    need = 30 * (last * D("1.6")).quantize(TICK)
    assert ex.fetch_balance()["ETH"]["used"] == pytest.approx(float(need))  # the larger leg's need only
    canceled = ex.privateDeleteOrderList({"symbol": "XRPETH", "orderListId": answer["orderListId"]})
    assert canceled["listOrderStatus"] == "ALL_DONE"
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert ex.fetch_balance()["ETH"]["used"] == 0 and ex.fetch_open_orders(SYM) == []
