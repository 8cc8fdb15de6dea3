"""Domain types -> Binance Spot REST JSON (field sets as api.binance.com answers, numbers as strings).

Field sets follow Binance's documented responses and ccxt's recorded
responses (``ts/src/test/static/response/binance.json``): ids and times are
JSON integers, prices and quantities strings with 8 decimals.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

import numpy as np

from market.bars import Bars
from market.emulator.book import Instrument
from market.emulator.matching import STOP_ORDER_TYPES, Order, OrderList, Trade, VenueFill
from market.emulator.venue import Ticker24h, Venue

__all__ = [
    "fmt", "exchange_info", "order_ack", "order_result", "order_full", "order_query", "order_cancel",
    "my_trade", "public_trade", "agg_trade", "kline_rows", "depth", "ticker_24hr", "book_ticker", "account",
    "order_list",
]

_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


def fmt(value: Decimal | None, places: int = 8) -> str:
    """A Decimal as Binance writes it: fixed point, ``places`` decimals (``"0.00141000"``)."""
    if value is None:
        value = Decimal(0)
    return f"{value:.{places}f}"


def _num(x: float) -> str:
    return np.format_float_positional(float(x), unique=True, trim="-")


def symbol_info(inst: Instrument) -> dict:
    return {
        "symbol": inst.market_id,
        "status": "TRADING",
        "baseAsset": inst.base,
        "baseAssetPrecision": inst.asset_precision,
        "quoteAsset": inst.quote,
        "quotePrecision": inst.asset_precision,
        "quoteAssetPrecision": inst.asset_precision,
        "baseCommissionPrecision": inst.asset_precision,
        "quoteCommissionPrecision": inst.asset_precision,
        "orderTypes": list(_ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(inst.min_price), "maxPrice": fmt(inst.max_price),
             "tickSize": fmt(inst.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": fmt(inst.min_qty), "maxQty": fmt(inst.max_qty),
             "stepSize": fmt(inst.step_size)},
            {"filterType": "MIN_NOTIONAL", "minNotional": fmt(inst.min_notional), "applyToMarket": True,
             "avgPriceMins": 5},
            {"filterType": "NOTIONAL", "minNotional": fmt(inst.min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def exchange_info(venue: Venue, server_time: int, weight_limit: int) -> dict:
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(m.instrument) for m in venue.markets.values()],
    }


def _order_common(order: Order, inst: Instrument) -> dict:
    return {
        "symbol": inst.market_id,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
    }


def _working_time(order: Order) -> int:
    """Binance ``workingTime``: when the order started working; -1 for a stop still waiting for its trigger."""
    return order.working_time_ms if order.working_time_ms is not None else -1


def _stop(order: Order) -> dict:
    """``stopPrice`` as Binance adds it to the answers for stop orders (and only for them)."""
    return {"stopPrice": fmt(order.stop_price)} if order.type in STOP_ORDER_TYPES else {}


def _order_body(order: Order) -> dict:
    return {
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.quote_qty),
        "cummulativeQuoteQty": fmt(order.cumulative_quote_qty),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
    }


def order_ack(order: Order, inst: Instrument) -> dict:
    return {**_order_common(order, inst), "transactTime": order.time_ms}


def order_result(order: Order, inst: Instrument) -> dict:
    # an untriggered stop's answer leaves workingTime out (queries say -1): ccxt reads the first of time /
    # createTime / workingTime / transactTime as the order's timestamp, and -1 is no time
    working = {"workingTime": order.working_time_ms} if order.working_time_ms is not None else {}
    return {**_order_common(order, inst), "transactTime": order.time_ms, **_order_body(order), **_stop(order),
            **working, "selfTradePreventionMode": "NONE"}


def order_full(order: Order, inst: Instrument, fills: tuple[VenueFill, ...]) -> dict:
    return {**order_result(order, inst), "fills": [
        {"price": fmt(f.price), "qty": fmt(f.qty), "commission": fmt(f.commission),
         "commissionAsset": f.commission_asset, "tradeId": f.trade_id} for f in fills]}


def order_query(order: Order, inst: Instrument) -> dict:
    body = _order_body(order)
    return {
        **_order_common(order, inst), **{k: body[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty",
                                                             "status", "timeInForce", "type", "side")},
        "stopPrice": fmt(order.stop_price if order.stop_price is not None else Decimal(0)),
        "icebergQty": fmt(Decimal(0)), "time": order.time_ms, "updateTime": order.update_time_ms,
        "isWorking": order.type != "MARKET" and order.is_working, "workingTime": _working_time(order),
        "origQuoteOrderQty": body["origQuoteOrderQty"], "selfTradePreventionMode": "NONE",
    }


def order_cancel(order: Order, inst: Instrument, orig_client_order_id: str) -> dict:
    return {"symbol": inst.market_id, "origClientOrderId": orig_client_order_id, "orderId": order.order_id,
            "orderListId": order.order_list_id, "clientOrderId": order.client_order_id,
            "transactTime": order.update_time_ms, **_order_body(order), **_stop(order), "selfTradePreventionMode": "NONE"}


def order_list(lst: OrderList, orders: list[Order], inst: Instrument, transaction_time: int, *,
               reports: list[dict] | None = None) -> dict:
    """An OCO as Binance answers ``POST /api/v3/orderList/oco`` (with ``reports``), ``GET``/``DELETE orderList``.

    ``listOrderStatus`` is ``EXECUTING`` while a leg is open, else ``ALL_DONE``
    (``listStatusType`` ``EXEC_STARTED`` / ``ALL_DONE`` alike).
    """
    done = not any(o.is_open for o in orders)
    body = {"orderListId": lst.order_list_id, "contingencyType": "OCO",
            "listStatusType": "ALL_DONE" if done else "EXEC_STARTED",
            "listOrderStatus": "ALL_DONE" if done else "EXECUTING", "listClientOrderId": lst.client_list_id,
            "transactionTime": transaction_time, "symbol": inst.market_id,
            "orders": [{"symbol": inst.market_id, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                       for o in orders]}
    if reports is not None:
        body["orderReports"] = reports
    return body


def my_trade(fill: VenueFill, inst: Instrument) -> dict:
    return {"symbol": inst.market_id, "id": fill.trade_id, "orderId": fill.order_id, "orderListId": -1,
            "price": fmt(fill.price), "qty": fmt(fill.qty), "quoteQty": fmt(fill.quote_qty),
            "commission": fmt(fill.commission), "commissionAsset": fill.commission_asset, "time": fill.time_ms,
            "isBuyer": fill.side == "BUY", "isMaker": fill.is_maker, "isBestMatch": True}


def public_trade(trade: Trade) -> dict:
    return {"id": trade.trade_id, "price": fmt(trade.price), "qty": fmt(trade.qty),
            "quoteQty": fmt(trade.price * trade.qty), "time": trade.time_ms,
            "isBuyerMaker": trade.buyer_is_maker, "isBestMatch": True}


def agg_trade(trade: Trade) -> dict:
    return {"a": trade.trade_id, "p": fmt(trade.price), "q": fmt(trade.qty), "f": trade.trade_id,
            "l": trade.trade_id, "T": trade.time_ms, "m": trade.buyer_is_maker, "M": True}


def kline_rows(bars: Bars, lo: int, hi: int) -> list[list]:
    tf = bars.timeframe_ms
    rows = []
    for i in range(lo, hi):
        t, o, h, low, c, v = (int(bars.timestamp[i]), bars.open[i], bars.high[i], bars.low[i], bars.close[i],
                              bars.volume[i])
        rows.append([t, _num(o), _num(h), _num(low), _num(c), _num(v), t + tf - 1, _num(v * c), 0, "0", "0", "0"])
    return rows


def depth(update_id: int, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> dict:
    return {"lastUpdateId": update_id, "bids": [[fmt(p), fmt(q)] for p, q in bids],
            "asks": [[fmt(p), fmt(q)] for p, q in asks]}


def ticker_24hr(t: Ticker24h, inst: Instrument, bid: tuple[Decimal, Decimal] | None,
                ask: tuple[Decimal, Decimal] | None, last_qty: Decimal) -> dict:
    change = t.last - t.open
    pct = (change / t.open * 100) if t.open else Decimal(0)
    wavg = (t.quote_volume / t.volume) if t.volume else t.last
    return {
        "symbol": inst.market_id, "priceChange": fmt(change), "priceChangePercent": f"{pct:.3f}",
        "weightedAvgPrice": fmt(wavg), "prevClosePrice": fmt(t.open), "lastPrice": fmt(t.last),
        "lastQty": fmt(last_qty), "bidPrice": fmt(bid[0] if bid else None), "bidQty": fmt(bid[1] if bid else None),
        "askPrice": fmt(ask[0] if ask else None), "askQty": fmt(ask[1] if ask else None), "openPrice": fmt(t.open),
        "highPrice": fmt(t.high), "lowPrice": fmt(t.low), "volume": fmt(t.volume), "quoteVolume": fmt(t.quote_volume),
        "openTime": t.open_time, "closeTime": t.close_time, "firstId": t.first_trade_id, "lastId": t.last_trade_id,
        "count": t.count,
    }


def book_ticker(inst: Instrument, bid: tuple[Decimal, Decimal] | None, ask: tuple[Decimal, Decimal] | None) -> dict:
    return {"symbol": inst.market_id, "bidPrice": fmt(bid[0] if bid else None), "bidQty": fmt(bid[1] if bid else None),
            "askPrice": fmt(ask[0] if ask else None), "askQty": fmt(ask[1] if ask else None)}


def account(venue: Venue, account_id: str, update_time: int, omit_zero: bool) -> dict:
    fees = venue.engine.fee_schedule(account_id)
    balances = [
        {"asset": b.asset, "free": fmt(b.free), "locked": fmt(b.locked)}
        for b in venue.engine.ledger.balances(account_id) if not (omit_zero and b.total == 0)
    ]
    return {
        "makerCommission": int(fees.maker_bps), "takerCommission": int(fees.taker_bps),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": fmt(fees.maker_bps / 10000), "taker": fmt(fees.taker_bps / 10000),
                            "buyer": fmt(Decimal(0)), "seller": fmt(Decimal(0))},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": update_time,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": zlib.crc32(account_id.encode()),
    }
