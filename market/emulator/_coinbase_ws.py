"""Coinbase Exchange WebSocket feed for :class:`~market.emulator.coinbase.CoinbaseServer` (what ccxt.pro's
``coinbaseexchange`` subscribes to).

Clients send ``{"type": "subscribe", "product_ids": [...], "channels": [...]}``
(authenticated with ``key``, ``passphrase``, ``timestamp`` and ``signature`` =
base64 HMAC-SHA256 of ``timestamp + "GET" + "/users/self/verify"``, keyed by
the base64-decoded secret) and get ``{"type": "subscriptions", ...}``, or
``{"type": "error", "message", "reason"}``. Channels:

* ``matches`` - every print: ``{"type": "match", "trade_id", "maker_order_id",
  "taker_order_id", "side" (the maker's), "size", "price", "product_id",
  "sequence", "time"}`` (public order ids are placeholders derived from the
  trade id);
* ``level2`` (authenticated, as on Coinbase) - a ``snapshot`` of the book,
  then ``l2update`` messages whose ``changes`` are ``[side, price, size]``
  with the new absolute size (``"0"`` removes the level);
* ``ticker`` - after each print: last price and size, best bid and ask,
  24 h open/high/low/volume;
* ``user`` (authenticated) - the subscriber's own fills as ``match``
  messages carrying its real order id and its fee rate (``taker_fee_rate``
  or ``maker_fee_rate``): fills pushed as they happen.

The hub polls the venue every ``interval_s`` (venue lock held briefly), as
the Binance hub does. ``drop_all()`` closes every connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import math
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from aiohttp import WSMsgType, web

from market.emulator import _coinbase as cb
from market.emulator._ws import FeedLifecycle
from market.emulator.book import BUY
from market.emulator.venue import Venue

__all__ = ["CoinbaseStreamHub"]

_CHANNELS = ("matches", "level2", "ticker", "user")
_PRIVATE = ("level2", "user")
_VERIFY_PATH = "/users/self/verify"


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


@dataclass
class _Client:
    subs: set[tuple[str, str]] = field(default_factory=set)  # (channel, symbol)
    account: str | None = None


class CoinbaseStreamHub(FeedLifecycle):
    """Subscriptions per WebSocket, and the publisher that feeds them (module docstring)."""

    def __init__(self, venue: Venue, lock: threading.RLock, wall_ms: Callable[[], int], interval_s: float = 0.05) -> None:
        self.venue = venue
        self.lock = lock
        self.wall_ms = wall_ms
        self.interval_s = interval_s
        self.clients: dict[web.WebSocketResponse, _Client] = {}
        self._sequence = 0
        self._last_trade: dict[str, int] = {s: self._newest_trade(s) for s in venue.markets}
        self._books: dict[str, dict[str, dict[Decimal, Decimal]]] = {s: self._levels(s) for s in venue.markets}
        self._fills_seen: dict[tuple[str, str], int] = {}
        self._task: asyncio.Task | None = None

    # ---------------------------------------------------------- connections
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        client = self.clients[ws] = _Client()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    if not isinstance(req, dict):
                        raise ValueError
                except ValueError:
                    await ws.send_str(json.dumps({"type": "error", "message": "Failed to subscribe",
                                                  "reason": "malformed JSON"}))
                    continue
                reply = self._subscribe(client, req)
                for payload in reply:
                    await ws.send_str(payload)
        finally:
            self.clients.pop(ws, None)
        return ws

    def _error(self, reason: str, message: str = "Failed to subscribe") -> list[str]:
        return [json.dumps({"type": "error", "message": message, "reason": reason})]

    def _subscribe(self, client: _Client, req: dict) -> list[str]:
        kind = req.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            return self._error(f"{kind!r} is not a valid message type")
        channels = [c if isinstance(c, str) else c.get("name") for c in req.get("channels", [])]
        bad = [c for c in channels if c not in _CHANNELS]
        if bad or not channels:
            return self._error(f"{bad[0] if bad else 'no channel'} is not a valid channel")
        symbols = []
        for pid in req.get("product_ids", []):
            base, _, quote = str(pid).partition("-")
            symbol = f"{base}/{quote}"
            if symbol not in self.venue.markets:
                return self._error(f"{pid} is not a valid product")
            symbols.append(symbol)
        if kind == "unsubscribe":
            client.subs.difference_update((c, s) for c in channels for s in symbols)
            return [self._subscriptions(client)]
        if any(c in _PRIVATE for c in channels):
            account = self._authenticate(req)
            if account is None:
                return self._error("invalid signature, key, passphrase or timestamp", "Authentication Failed")
            client.account = account
        out = []
        with self.lock:
            for channel in channels:
                for symbol in symbols:
                    client.subs.add((channel, symbol))
                    if channel == "level2":
                        out.append(self._snapshot(symbol))
                    if channel == "user" and client.account is not None:
                        self._fills_seen.setdefault((client.account, symbol),
                                                    len(self.venue.engine.fills(client.account, symbol)))
        return [self._subscriptions(client), *out]

    def _authenticate(self, req: dict) -> str | None:
        key = self.venue.account_for(str(req.get("key", "")))
        if key is None or not hmac.compare_digest(str(req.get("passphrase", "")).encode(), key.passphrase.encode()):
            return None
        stamp_text = str(req.get("timestamp", ""))
        try:
            stamp = float(stamp_text)
            secret = base64.b64decode(key.secret, validate=True)
        except (ValueError, binascii.Error):
            return None
        if not math.isfinite(stamp) or abs(stamp - self.wall_ms() / 1000) > 30:
            return None
        expected = base64.b64encode(hmac.new(secret, (stamp_text + "GET" + _VERIFY_PATH).encode(),
                                             hashlib.sha256).digest()).decode()
        return key.account if hmac.compare_digest(expected, str(req.get("signature", ""))) else None

    def _subscriptions(self, client: _Client) -> str:
        by_channel: dict[str, list[str]] = {}
        for channel, symbol in sorted(client.subs):
            by_channel.setdefault(channel, []).append(cb.product_id(self.venue.engine.instrument(symbol)))
        return json.dumps({"type": "subscriptions",
                           "channels": [{"name": c, "product_ids": p} for c, p in by_channel.items()]})

    # ---------------------------------------------------------- publishing (venue lock held)
    def _newest_trade(self, symbol: str) -> int:
        trades = self.venue.engine.trades(symbol, 1)
        return trades[-1].trade_id if trades else 0

    def _levels(self, symbol: str) -> dict[str, dict[Decimal, Decimal]]:
        bids, asks = self.venue.engine.depth(symbol, 50)
        return {"buy": dict(bids), "sell": dict(asks)}

    def _snapshot(self, symbol: str) -> str:
        levels = self._levels(symbol)
        pid = cb.product_id(self.venue.engine.instrument(symbol))
        return json.dumps({"type": "snapshot", "product_id": pid,
                           "bids": [[_s(p), _s(q)] for p, q in levels["buy"].items()],
                           "asks": [[_s(p), _s(q)] for p, q in levels["sell"].items()]})

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def _collect(self) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], list[str]]]:
        """Public messages by (channel, symbol), and user messages by (account, symbol)."""
        public: dict[tuple[str, str], list[str]] = {}
        engine = self.venue.engine
        for symbol in self.venue.markets:
            inst = engine.instrument(symbol)
            pid = cb.product_id(inst)
            last = self._last_trade.get(symbol, 0)
            new = engine.trades_after(symbol, last)
            for t in new:
                public.setdefault(("matches", symbol), []).append(json.dumps({
                    "type": "match", "trade_id": t.trade_id, "maker_order_id": cb.order_uuid(t.trade_id << 1),
                    "taker_order_id": cb.order_uuid((t.trade_id << 1) + 1), "side": "buy" if t.buyer_is_maker else "sell",
                    "size": _s(t.qty), "price": _s(t.price), "product_id": pid, "sequence": self._next(),
                    "time": cb.iso(t.time_ms)}))
            if new:
                self._last_trade[symbol] = new[-1].trade_id
                t = new[-1]
                stats = self.venue.ticker_24h(symbol)
                bids, asks = engine.depth(symbol, 1)
                public.setdefault(("ticker", symbol), []).append(json.dumps({
                    "type": "ticker", "sequence": self._sequence, "product_id": pid, "price": _s(t.price),
                    "open_24h": _s(stats.open), "volume_24h": _s(stats.volume), "low_24h": _s(stats.low),
                    "high_24h": _s(stats.high), "volume_30d": _s(stats.volume),
                    "best_bid": _s(bids[0][0]) if bids else "0", "best_ask": _s(asks[0][0]) if asks else "0",
                    "side": "sell" if t.buyer_is_maker else "buy", "time": cb.iso(t.time_ms), "trade_id": t.trade_id,
                    "last_size": _s(t.qty)}))
            cur = self._levels(symbol)
            prev = self._books.get(symbol, cur)
            changes = []
            for side in ("buy", "sell"):
                changes += [[side, _s(p), _s(q)] for p, q in cur[side].items() if prev[side].get(p) != q]
                changes += [[side, _s(p), "0"] for p in prev[side] if p not in cur[side]]
            self._books[symbol] = cur
            if changes:
                public.setdefault(("level2", symbol), []).append(json.dumps({
                    "type": "l2update", "product_id": pid, "changes": changes, "time": cb.iso(self.venue.now_ms)}))
        private: dict[tuple[str, str], list[str]] = {}
        for (account, symbol), seen in list(self._fills_seen.items()):
            fills = engine.fills(account, symbol)
            inst = engine.instrument(symbol)
            fees = engine.fee_schedule(account)
            for f in fills[seen:]:
                mine = cb.order_uuid(f.order_id)
                rate = {"maker_fee_rate": _s(fees.maker_bps / 10000)} if f.is_maker else {
                    "taker_fee_rate": _s(fees.taker_bps / 10000)}
                private.setdefault((account, symbol), []).append(json.dumps({
                    "type": "match", "trade_id": f.trade_id, "sequence": self._next(),
                    "maker_order_id": mine if f.is_maker else cb.order_uuid(0),
                    "taker_order_id": cb.order_uuid(0) if f.is_maker else mine,
                    # Coinbase's side of a match is the maker's: ours when we made, the other side when we took
                    "side": ("buy" if f.side == BUY else "sell") if f.is_maker else ("sell" if f.side == BUY else "buy"),
                    "size": _s(f.qty), "price": _s(f.price), "product_id": cb.product_id(inst),
                    "profile_id": cb.profile_id(account), "user_id": cb.profile_id(account), "time": cb.iso(f.time_ms),
                    **rate}))
            self._fills_seen[(account, symbol)] = len(fills)
        return public, private

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.clients:
                continue
            with self.lock:
                public, private = self._collect()
            for ws, client in list(self.clients.items()):
                out = [m for (channel, symbol) in sorted(client.subs) if channel != "user"
                       for m in public.get((channel, symbol), [])]
                if client.account is not None:
                    out += [m for (channel, symbol) in sorted(client.subs) if channel == "user"
                            for m in private.get((client.account, symbol), [])]
                for payload in out:
                    if ws.closed:
                        break
                    try:
                        await ws.send_str(payload)
                    except ConnectionError:
                        break
