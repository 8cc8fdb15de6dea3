"""Binance Spot user-data streams for :class:`~market.emulator.server.EmulatorServer`: the sockets.

Two ways to subscribe, as on Binance (the events are :mod:`market.emulator._binance_user`'s):

* **listen key** (``POST /api/v3/userDataStream``, see the server): ``/ws/<listenKey>`` pushes each event as a
  plain JSON object. An unknown or expired key is refused at the upgrade with HTTP 400
  ``{"code": -1125, "msg": "This listenKey does not exist."}``. When a key expires (no keepalive for 60
  minutes) or is closed, its sockets get ``{"e": "listenKeyExpired", "E", "listenKey"}`` and are closed.
* **WebSocket API** (``/ws-api/v3``; what ccxt.pro ``binance`` 4.5 uses for spot): requests
  ``{"id", "method", "params"}``; ``userDataStream.subscribe.signature`` (params ``apiKey``, ``timestamp``,
  ``recvWindow``?, ``signature``: signed like a REST request, params sorted by name) answers
  ``{"id", "status": 200, "result": {"subscriptionId": n}}``, then events come as ``{"subscriptionId": n,
  "event": {...}}``; ``userDataStream.unsubscribe`` (``subscriptionId`` optional: all), ``ping`` and ``time``
  are served too. Errors: ``{"id", "status": 400 | 401, "error": {"code", "msg"}}`` (Binance's codes).

The hub polls the venue every ``interval_s`` (venue lock held briefly) as the market hub does, and fans each
account's events out to its subscribers. ``drop_all()`` closes every connection.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import WSMsgType, web

from market.emulator._binance_user import AccountEvents, ListenKeys, ws_api_authenticate
from market.emulator._params import HttpError
from market.emulator._ws import FeedLifecycle
from market.emulator.venue import Venue

__all__ = ["UserDataHub", "WS_API_PATH", "LISTEN_KEY_PATH"]

WS_API_PATH = "/ws-api/v3"
LISTEN_KEY_PATH = "/ws/{listen_key}"


@dataclass
class _Conn:
    """One socket: a listen-key stream (``listen_key`` set) or a WebSocket-API session (``subs``: id -> account)."""

    listen_key: str | None = None
    account: str | None = None
    subs: dict[int, str] = field(default_factory=dict)
    next_id: int = 0

    def accounts(self) -> set[str]:
        return {self.account} if self.account is not None else set(self.subs.values())


class UserDataHub(FeedLifecycle):
    """Listen keys, the user-data sockets, and the publisher (module docstring).

    ``signing`` holds the server's signature-window settings: ``(default_recv_window_ms, max_recv_window_ms,
    max_ahead_ms)``; ``wall_ms`` is the server's wall clock (signatures); ``keys.clock`` drives key expiry.
    """

    def __init__(self, venue: Venue, lock: threading.RLock, wall_ms: Callable[[], int],
                 signing: tuple[int, int, int], interval_s: float = 0.05) -> None:
        self.venue = venue
        self.lock = lock
        self.wall_ms = wall_ms
        self.signing = signing
        self.interval_s = interval_s
        self.keys = ListenKeys(wall_ms)
        self.clients: dict[web.WebSocketResponse, _Conn] = {}
        self._accounts: dict[str, AccountEvents] = {}
        self._task: asyncio.Task | None = None

    def accounts(self) -> list[str]:
        """The accounts whose events are being followed (those with a subscriber), sorted."""
        return sorted(self._accounts)

    def _watch(self, account: str) -> None:
        """Start following ``account`` (venue lock taken here) if nobody follows it yet."""
        if account not in self._accounts:
            with self.lock:
                self._accounts[account] = AccountEvents(self.venue.engine, account)

    # ---------------------------------------------------------- listen-key streams
    async def handle_listen(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["listen_key"]
        account = self.keys.account_of(key)
        if account is None:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._watch(account)
        self.clients[ws] = _Conn(listen_key=key, account=account)
        try:
            async for _msg in ws:  # a listen-key stream takes no requests; read until the client leaves
                pass
        finally:
            self.clients.pop(ws, None)
        return ws

    # ---------------------------------------------------------- WebSocket API
    async def handle_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        conn = self.clients[ws] = _Conn()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await ws.send_str(json.dumps(self._request(conn, msg.data)))
        finally:
            self.clients.pop(ws, None)
        return ws

    @staticmethod
    def _error(rid: Any, status: int, code: int, msg: str) -> dict:
        return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}

    def _request(self, conn: _Conn, text: str) -> dict:
        try:
            req = json.loads(text)
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            return self._error(None, 400, -1102, "Malformed request: not a JSON object.")
        rid, method, params = req.get("id"), req.get("method"), req.get("params", {})
        if method == "ping":
            return {"id": rid, "status": 200, "result": {}}
        if method == "time":
            return {"id": rid, "status": 200, "result": {"serverTime": self.wall_ms()}}
        if method == "userDataStream.subscribe.signature":
            default_rw, max_rw, ahead = self.signing
            try:
                key = ws_api_authenticate(self.venue.account_for, params, now_ms=self.wall_ms(),
                                          default_recv_window_ms=default_rw, max_recv_window_ms=max_rw,
                                          max_ahead_ms=ahead)
            except HttpError as exc:
                return self._error(rid, exc.status, exc.code, exc.msg)
            self._watch(key.account)
            sid = conn.next_id
            conn.next_id += 1
            conn.subs[sid] = key.account
            return {"id": rid, "status": 200, "result": {"subscriptionId": sid}}
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId") if isinstance(params, dict) else None
            if sid is None:
                conn.subs.clear()
            elif conn.subs.pop(sid, None) is None:
                return self._error(rid, 400, -2, f"Subscription {sid} does not exist.")
            return {"id": rid, "status": 200, "result": {}}
        return self._error(rid, 400, -1102, f"Unknown method {method!r}.")

    # ---------------------------------------------------------- publishing
    async def _expire(self) -> None:
        """Close the sockets of keys that expired (or were closed over REST)."""
        gone = set(self.keys.expire())
        for ws, conn in list(self.clients.items()):
            key = conn.listen_key
            if key is not None and (key in gone or self.keys.account_of(key) is None):
                try:
                    await ws.send_str(json.dumps({"e": "listenKeyExpired", "E": self.wall_ms(), "listenKey": key}))
                finally:
                    await ws.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self._expire()
            wanted = set().union(*(c.accounts() for c in self.clients.values())) if self.clients else set()
            for account in [a for a in self._accounts if a not in wanted]:
                del self._accounts[account]  # nobody listens: a new subscriber starts from its own "now"
            if not wanted:
                continue
            with self.lock:
                now = self.venue.now_ms
                events = {a: self._accounts[a].collect(now) for a in wanted if a in self._accounts}
            for ws, conn in list(self.clients.items()):
                if conn.account is not None:
                    out = [json.dumps(e) for e in events.get(conn.account, [])]
                else:
                    out = [json.dumps({"subscriptionId": sid, "event": e}) for sid, account in sorted(conn.subs.items())
                           for e in events.get(account, [])]
                for payload in out:
                    if ws.closed:
                        break
                    try:
                        await ws.send_str(payload)
                    except ConnectionError:
                        break
