"""Domain types -> Coinbase Exchange REST JSON (``api.exchange.coinbase.com``, the API of ccxt's ``coinbaseexchange``).

Field sets follow Coinbase Exchange's documented responses and the examples
ccxt's ``coinbaseexchange`` class parses: ids are UUID strings, times ISO 8601
UTC strings, prices and sizes decimal strings, candles JSON numbers
``[time s, low, high, open, close, volume]`` newest first; a public trade's
``side`` is the *maker's* side.

Ids: the engine's integer order id ``n`` is the UUID whose integer is ``n``
(``00000000-0000-0000-0000-00000000002a``), so the mapping is exact both ways.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable

from market.bars import Bars
from market.emulator.book import BUY, Instrument
from market.emulator.matching import STOP_ORDER_TYPES, FeeSchedule, Order, Trade, VenueFill
from market.emulator.venue import Ticker24h, Venue
from market.triggers import DOWN, trigger_direction

__all__ = ["product_id", "order_uuid", "order_number", "iso", "product", "currency", "candles", "book", "ticker",
           "stats", "public_trade", "order", "fill", "accounts", "fees", "profile_id", "GRANULARITIES"]

#: Coinbase candle granularities (seconds) -> the venue's interval names
GRANULARITIES: dict[int, str] = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 21600: "6h", 86400: "1d"}


def product_id(inst: Instrument) -> str:
    """``XRP/ETH`` -> ``XRP-ETH``."""
    return f"{inst.base}-{inst.quote}"


def order_uuid(order_id: int) -> str:
    return str(uuid.UUID(int=order_id))


def order_number(text: str) -> int | None:
    """The engine's order id of a UUID string this venue issued; None for anything else."""
    try:
        return uuid.UUID(text).int
    except ValueError:
        return None


def iso(ms: int) -> str:
    """UTC ms -> ``2019-10-11T04:06:00.123Z``."""
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def product(inst: Instrument) -> dict:
    pid = product_id(inst)
    return {"id": pid, "base_currency": inst.base, "quote_currency": inst.quote,
            "quote_increment": _s(inst.tick_size), "base_increment": _s(inst.step_size), "display_name": pid,
            "min_market_funds": _s(inst.min_notional), "margin_enabled": False, "fx_stablecoin": False,
            "max_slippage_percentage": "0.10000000", "post_only": False, "limit_only": False, "cancel_only": False,
            "trading_disabled": False, "status": "online", "status_message": "", "auction_mode": False}


def currency(asset: str, precision: int) -> dict:
    step = _s(Decimal(1).scaleb(-precision))
    return {"id": asset, "name": asset, "min_size": step, "status": "online", "message": "", "max_precision": step,
            "convertible_to": [], "details": {"type": "crypto", "symbol": "", "network_confirmations": 0,
                                              "sort_order": 0, "crypto_address_link": "", "crypto_transaction_link": "",
                                              "push_payment_methods": [], "min_withdrawal_amount": 0,
                                              "max_withdrawal_amount": 0},
            "default_network": "", "supported_networks": []}


def candles(bars: Bars, lo: int, hi: int) -> list[list]:
    """Bars ``lo:hi`` newest first, ``[time s, low, high, open, close, volume]`` (the bars' own floats)."""
    return [[int(bars.timestamp[i]) // 1000, float(bars.low[i]), float(bars.high[i]), float(bars.open[i]),
             float(bars.close[i]), float(bars.volume[i])] for i in range(hi - 1, lo - 1, -1)]


def book(sequence: int, bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]],
         now_ms: int) -> dict:
    """Level 2: ``[price, size, number of orders]`` per level (the synthetic book counts one order a level)."""
    return {"bids": [[_s(p), _s(q), 1] for p, q in bids], "asks": [[_s(p), _s(q), 1] for p, q in asks],
            "sequence": sequence, "auction_mode": False, "auction": None, "time": iso(now_ms)}


def ticker(last: Trade | None, bid: Decimal | None, ask: Decimal | None, t: Ticker24h, now_ms: int) -> dict:
    return {"ask": _s(ask) if ask is not None else "0", "bid": _s(bid) if bid is not None else "0",
            "volume": _s(t.volume), "trade_id": last.trade_id if last else 0, "price": _s(t.last),
            "size": _s(last.qty) if last else "0", "time": iso(last.time_ms if last else now_ms), "rfq_volume": "0"}


def stats(t: Ticker24h) -> dict:
    return {"open": _s(t.open), "high": _s(t.high), "low": _s(t.low), "last": _s(t.last), "volume": _s(t.volume),
            "volume_30day": _s(t.volume), "rfq_volume_24hour": "0", "rfq_volume_30day": "0"}


def public_trade(trade: Trade) -> dict:
    """A print; ``side`` is the maker's (Coinbase's convention: ``buy`` = the taker sold)."""
    return {"time": iso(trade.time_ms), "trade_id": trade.trade_id, "price": _s(trade.price), "size": _s(trade.qty),
            "side": "buy" if trade.buyer_is_maker else "sell"}


_STATUS = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "done", "CANCELED": "done", "EXPIRED": "done",
           "REJECTED": "rejected"}


def order(o: Order, inst: Instrument, fee_paid: Decimal, client_oid: str | None) -> dict:
    """An order as ``GET /orders/{id}`` answers; ``fee_paid``: the sum of its fills' fees (quote)."""
    body: dict = {"id": order_uuid(o.order_id), "product_id": product_id(inst), "profile_id": profile_id(o.account),
                  "side": o.side.lower(), "type": "market" if o.type == "MARKET" else "limit",
                  "post_only": o.type == "LIMIT_MAKER", "created_at": iso(o.time_ms), "fill_fees": _s(fee_paid),
                  "filled_size": _s(o.executed_qty), "executed_value": _s(o.cumulative_quote_qty),
                  "status": _STATUS[o.status], "settled": not o.is_open}
    if o.type != "MARKET":
        body.update(price=_s(o.price), size=_s(o.orig_qty), time_in_force=o.time_in_force)
    elif o.quote_qty:
        body.update(funds=_s(o.quote_qty), specified_funds=_s(o.quote_qty))
    else:
        body.update(size=_s(o.orig_qty))
    if o.stop_price is not None:  # a stop order: loss = the price falls to stop_price, entry = it rises to it
        falls = trigger_direction(o.side, STOP_ORDER_TYPES[o.type]) == DOWN
        body.update(stop="loss" if falls else "entry", stop_price=_s(o.stop_price))
        if o.is_open and not o.is_working:
            body["status"] = "active"  # Coinbase's status of a stop order waiting for its trigger
    if client_oid is not None:
        body["client_oid"] = client_oid
    if not o.is_open:
        body.update(done_at=iso(o.update_time_ms), done_reason="filled" if o.status == "FILLED" else "canceled")
    return body


def fill(f: VenueFill, inst: Instrument) -> dict:
    return {"created_at": iso(f.time_ms), "trade_id": f.trade_id, "product_id": product_id(inst),
            "order_id": order_uuid(f.order_id), "user_id": profile_id(f.account), "profile_id": profile_id(f.account),
            "liquidity": "M" if f.is_maker else "T", "price": _s(f.price), "size": _s(f.qty), "fee": _s(f.commission),
            "side": "buy" if f.side == BUY else "sell", "settled": True, "usd_volume": None}


def profile_id(account: str) -> str:
    """The stable profile (and user) id of an account."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"raytrader-emulator:{account}"))


def accounts(venue: Venue, account: str) -> list[dict]:
    return [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"raytrader-emulator:{account}:{b.asset}")),
             "currency": b.asset, "balance": _s(b.total), "hold": _s(b.locked), "available": _s(b.free),
             "profile_id": profile_id(account), "trading_enabled": True, "pending_deposit": "0"}
            for b in venue.engine.ledger.balances(account)]


def fees(schedule: FeeSchedule) -> dict:
    return {"maker_fee_rate": _s(schedule.maker_bps / 10000), "taker_fee_rate": _s(schedule.taker_bps / 10000),
            "usd_volume": "0"}
