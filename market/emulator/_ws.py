"""Binance Spot WebSocket market streams for :class:`~market.emulator.server.EmulatorServer`.

Path ``/stream/ws[/<n>]`` (ccxt.pro appends a stream index). Clients send
``{"method": "SUBSCRIBE" | "UNSUBSCRIBE" | "LIST_SUBSCRIPTIONS", "params":
[...], "id": n}`` and get ``{"result": null, "id": n}``. Streams:

* ``<symbol>@trade`` - every print and match: ``{"e": "trade", "E", "s",
  "t", "p", "q", "T", "m", "M"}``;
* ``<symbol>@depth`` / ``@depth@100ms`` - diff depth ``{"e":
  "depthUpdate", "E", "s", "U", "u", "b", "a"}`` whose update ids continue
  the REST ``/api/v3/depth`` ``lastUpdateId`` (``U`` = previous ``u`` + 1), so
  a client can sync a local book the documented way; quantities are
  absolute, ``"0"`` removes a level;
* ``<symbol>@kline_<interval>`` - the latest bar (closed bars only, as REST):
  ``{"e": "kline", "E", "s", "k": {...}}``.

The hub polls the venue every ``interval_s`` (venue lock held briefly) and
fans changes out; ``E`` (event time) is venue time. ``drop_all()`` closes every
connection (fault injection: "dropped WS").
"""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal

import numpy as np
from aiohttp import WSMsgType, web

from market.emulator._binance import fmt
from market.emulator.errors import EmulatorError
from market.emulator.venue import Venue

__all__ = ["FeedLifecycle", "StreamHub"]


class FeedLifecycle:
    """Start, stop and drop-all of a WebSocket feed: ``clients`` (open sockets) and ``_run`` (the publisher)
    come from the subclass (the Binance :class:`StreamHub`, the Coinbase hub)."""

    clients: dict
    _task: asyncio.Task | None

    async def _run(self) -> None:  # pragma: no cover - every feed defines its publisher
        raise NotImplementedError

    async def drop_all(self) -> int:
        """Close every connection (clients see the socket drop); returns how many were closed."""
        sockets = list(self.clients)
        for ws in sockets:
            await ws.close()
        return len(sockets)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.drop_all()


def _num(x: float) -> str:
    return np.format_float_positional(float(x), unique=True, trim="-")


class StreamHub(FeedLifecycle):
    """Subscriptions per WebSocket, and the publishers that feed them."""

    def __init__(self, venue: Venue, lock: threading.RLock, interval_s: float = 0.05) -> None:
        self.venue = venue
        self.lock = lock
        self.interval_s = interval_s
        self.clients: dict[web.WebSocketResponse, set[str]] = {}
        self._last_trade: dict[str, int] = {}
        self._books: dict[str, tuple[int, dict[str, dict[Decimal, Decimal]]]] = {}
        self._klines: dict[tuple[str, str], list] = {}
        self._task: asyncio.Task | None = None

    # ---------------------------------------------------------- connections
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.clients[ws] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    method, params, rid = req.get("method"), req.get("params", []), req.get("id")
                except (ValueError, AttributeError):
                    await ws.send_str(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}))
                    continue
                if method == "SUBSCRIBE":
                    with self.lock:
                        for stream in params:
                            self._prime(stream)
                    self.clients[ws].update(params)
                    await ws.send_str(json.dumps({"result": None, "id": rid}))
                elif method == "UNSUBSCRIBE":
                    self.clients[ws].difference_update(params)
                    await ws.send_str(json.dumps({"result": None, "id": rid}))
                elif method == "LIST_SUBSCRIPTIONS":
                    await ws.send_str(json.dumps({"result": sorted(self.clients[ws]), "id": rid}))
                else:
                    await ws.send_str(json.dumps({"error": {"code": 2, "msg": f"Invalid request: {method}"},
                                                  "id": rid}))
        finally:
            self.clients.pop(ws, None)
        return ws


    # ---------------------------------------------------------- publishing
    def _symbol_of(self, stream: str) -> str | None:
        market_id = stream.split("@", 1)[0].upper()
        return self.venue.by_id.get(market_id)

    def _prime(self, stream: str) -> None:
        """Remember the current state so a new subscriber gets only what changes from now on."""
        symbol = self._symbol_of(stream)
        if symbol is None:
            return
        kind = stream.split("@")[1] if "@" in stream else ""
        if kind == "trade" and symbol not in self._last_trade:
            trades = self.venue.engine.trades(symbol, 1)
            self._last_trade[symbol] = trades[-1].trade_id if trades else 0
        elif kind == "depth" and symbol not in self._books:
            self._books[symbol] = (self.venue.engine.update_id, self._levels(symbol))

    def _levels(self, symbol: str) -> dict[str, dict[Decimal, Decimal]]:
        bids, asks = self.venue.engine.depth(symbol, None)
        return {"b": dict(bids), "a": dict(asks)}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            wanted = set().union(*self.clients.values()) if self.clients else set()
            if not wanted:
                continue
            with self.lock:
                messages = self._collect(wanted)
            for ws, streams in list(self.clients.items()):
                for stream, payload in messages:
                    if stream in streams and not ws.closed:
                        try:
                            await ws.send_str(payload)
                        except ConnectionError:
                            break

    def _collect(self, wanted: set[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        now = self.venue.now_ms
        for stream in sorted(wanted):
            symbol = self._symbol_of(stream)
            if symbol is None:
                continue
            inst = self.venue.engine.instrument(symbol)
            kind = stream.split("@")[1]
            if kind == "trade":
                last = self._last_trade.get(symbol, 0)
                for t in self.venue.engine.trades_after(symbol, last):
                    out.append((stream, json.dumps({
                        "e": "trade", "E": now, "s": inst.market_id, "t": t.trade_id, "p": fmt(t.price),
                        "q": fmt(t.qty), "T": t.time_ms, "m": t.buyer_is_maker, "M": True})))
                    last = t.trade_id
                self._last_trade[symbol] = last
            elif kind == "depth":
                update_id = self.venue.engine.update_id
                prev_id, prev = self._books.get(symbol, (update_id, self._levels(symbol)))
                if update_id == prev_id:
                    continue
                cur = self._levels(symbol)
                sides = {}
                for side in ("b", "a"):
                    changed = [[fmt(p), fmt(q)] for p, q in cur[side].items() if prev[side].get(p) != q]
                    changed += [[fmt(p), "0.00000000"] for p in prev[side] if p not in cur[side]]
                    sides[side] = changed
                self._books[symbol] = (update_id, cur)
                out.append((stream, json.dumps({"e": "depthUpdate", "E": now, "s": inst.market_id,
                                                "U": prev_id + 1, "u": update_id, **sides})))
            elif kind.startswith("kline_"):
                interval = kind[len("kline_"):]
                try:
                    bars = self.venue.last_bar(symbol, interval)
                except EmulatorError:  # an unknown interval: nothing to publish
                    continue
                if not len(bars):
                    continue
                i = len(bars) - 1
                t = int(bars.timestamp[i])
                row = [t, _num(bars.open[i]), _num(bars.high[i]), _num(bars.low[i]), _num(bars.close[i]),
                       _num(bars.volume[i])]
                if self._klines.get((stream, interval)) == row:
                    continue
                self._klines[(stream, interval)] = row
                out.append((stream, json.dumps({"e": "kline", "E": now, "s": inst.market_id, "k": {
                    "t": t, "T": t + bars.timeframe_ms - 1, "s": inst.market_id, "i": interval, "f": -1, "L": -1,
                    "o": row[1], "h": row[2], "l": row[3], "c": row[4], "v": row[5], "n": 0,
                    "x": now >= t + bars.timeframe_ms, "q": _num(bars.volume[i] * bars.close[i]), "V": "0",
                    "Q": "0", "B": "0"}})))
        return out
