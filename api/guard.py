"""The ASGI guard in front of every route: allowlist, body size, auth + limits, body-read timeout, last-resort 500.

Order for each HTTP request:

1. peer address not in the allowlist -> 403 (WebSocket: closed before the
   handshake completes, which the client sees as HTTP 403);
2. ``Content-Length`` above the limit -> 413; a chunked body is counted as
   it is read and cut at the limit (413);
3. a route that declares a scope (:func:`requires`) needs
   ``Authorization: Bearer <token>``: missing or unknown -> 401 with
   ``WWW-Authenticate: Bearer``; scope missing -> 403; bucket empty -> 429
   with ``Retry-After``; Redis unreachable -> 503. This runs before the body
   is parsed, so an unauthenticated caller learns nothing about the schema.
4. in-flight limits (:mod:`api.inflight`): the token already has
   ``max_inflight_per_token`` requests running -> 429; the replica has
   ``max_inflight`` requests with a body running -> 503 (both with
   ``Retry-After: 1``). Routes without a scope are not counted.
5. the body must arrive within ``body_timeout_s`` of admission, else 408
   with ``Connection: close`` (the route sees :class:`BodyTimeout` when it
   reads the body), so a client that promises more body than it sends
   holds a slot for a bounded time.
6. any exception that escapes a route is a bug: it is logged with its
   traceback (replica log only) and answered with a JSON 500 that holds no
   detail.

WebSocket routes authenticate themselves (a token may come in the first
message), so step 3 is theirs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.auth import Authenticator, bearer_token, has_scope, ip_allowed, parse_allowlist
from api.errors import LOGGER_NAME, error_body, flush_log
from api.inflight import InflightLimits

__all__ = ["Guard", "requires", "BodyTooLarge", "BodyTimeout", "REQUIRED_SCOPE_ATTR"]

log = logging.getLogger(LOGGER_NAME)

REQUIRED_SCOPE_ATTR = "__api_scope__"

Scope = dict[str, Any]
Message = dict[str, Any]


def requires(scope_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a route endpoint as needing a token with ``scope_name`` (checked by :class:`Guard`)."""
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, REQUIRED_SCOPE_ATTR, scope_name)
        return fn
    return mark


class BodyTooLarge(HTTPException):
    """The request body passed the size limit while it was read (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


class BodyTimeout(HTTPException):
    """The request body did not arrive within the body-read timeout (408; the connection is then closed)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(status_code=408, detail=f"request body not received within {timeout_s:g} s",
                         headers={"Connection": "close"})


async def _send_json(send: Callable[[Message], Awaitable[None]], status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body, allow_nan=False).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class Guard:
    """ASGI middleware over the app; ``routes`` are the API's own routes (their endpoints carry the scope).

    ``authenticator`` is called per request (so a replica may connect late);
    ``limits`` counts the requests in flight (see :mod:`api.inflight`).
    """

    def __init__(self, app: Callable[..., Awaitable[None]], *, allowlist: tuple[str, ...], max_body_bytes: int,
                 routes: list[Any], authenticator: Callable[[], Authenticator | None],
                 limits: InflightLimits, body_timeout_s: float) -> None:
        self.app = app
        self.networks = parse_allowlist(allowlist)
        self.max_body_bytes = int(max_body_bytes)
        self.routes = list(routes)
        self.authenticator = authenticator
        self.limits = limits
        self.body_timeout_s = float(body_timeout_s)

    def _required_scope(self, scope: Scope) -> str | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(getattr(route, "endpoint", None), REQUIRED_SCOPE_ATTR, None)
        return None

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else None
        if not ip_allowed(host, self.networks):
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_json(send, 403, error_body(403, "client address not in the allowlist", "client"))
            return
        if kind == "websocket":
            try:
                await self.app(scope, receive, send)
            except Exception:
                log.exception("unhandled error serving WebSocket %s", scope.get("path"))
                try:
                    await send({"type": "websocket.close", "code": 1011})
                except Exception:  # noqa: BLE001 - the socket may be gone already
                    pass
            return

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body_bytes:
                await _send_json(tracking_send, 413, error_body(
                    413, f"request body of {length} bytes is larger than the limit of {self.max_body_bytes}",
                    "body"))
                return
            needed = self._required_scope(scope)
            if needed is None:
                await self.app(scope, self._reading(scope, receive), tracking_send)
                return
            refused = await self._authorize(scope, needed)
            if refused is not None:
                status, body, headers = refused
                await _send_json(tracking_send, status, body, headers)
                return
            name = scope["state"]["principal"]["name"]
            has_body = (length or 0) > 0 or _header(scope, b"transfer-encoding") is not None
            over = self.limits.enter(name, has_body)
            if over is not None:
                await _send_json(tracking_send, over.status, error_body(over.status, over.message),
                                 {"Retry-After": str(over.retry_after_s)})
                return
            try:
                await self.app(scope, self._reading(scope, receive), tracking_send)
            finally:
                self.limits.leave(name, has_body)
        except BodyTimeout:
            # only when no exception handler turned it into the 408 (the app's handler does, see api.server)
            if not started:
                await _send_json(send, 408, error_body(408, f"request body not received within "
                                                            f"{self.body_timeout_s:g} s", "body"),
                                 {"Connection": "close"})
        except Exception:
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _send_json(send, 500, error_body(500, "internal error; the server log has the details"))

    def _reading(self, scope: Scope, receive: Callable[[], Awaitable[Message]]) -> Callable[[], Awaitable[Message]]:
        """``receive`` that counts the body against the size limit and waits for it until the deadline.

        The deadline is ``body_timeout_s`` from now; once the last body
        chunk (or a disconnect) has arrived, later calls (a response
        listening for the disconnect) wait without a deadline.
        """
        seen = 0
        complete = False
        limit = self.max_body_bytes
        timeout_s = self.body_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s

        async def reading() -> Message:
            nonlocal seen, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("%s %s: request body not received within %g s (%d bytes came); answering 408 and "
                            "closing the connection", scope.get("method"), scope.get("path"), timeout_s, seen)
                flush_log()
                raise BodyTimeout(timeout_s) from None
            kind = message.get("type")
            if kind == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            elif kind == "http.disconnect":
                complete = True
            return message

        return reading

    async def _authorize(self, scope: Scope, needed: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        challenge = {"WWW-Authenticate": 'Bearer realm="raytrader"'}
        header = _header(scope, b"authorization")
        token = bearer_token(header)
        if token is None:
            why = "missing bearer token" if not header else "malformed Authorization header (expected 'Bearer <token>')"
            return 401, error_body(401, why, "Authorization"), challenge
        authenticator = self.authenticator()
        if authenticator is None:
            return 503, error_body(503, "token store not connected yet; retry shortly"), {"Retry-After": "1"}
        try:
            result = await authenticator.check(token)
        except Exception as exc:  # noqa: BLE001 - Redis down or timing out: a 503, not a bug
            log.warning("token check failed: %s", type(exc).__name__)
            return 503, error_body(503, "token store unavailable; retry shortly"), {"Retry-After": "1"}
        if not result.known:
            return 401, error_body(401, "invalid or revoked token", "Authorization"), {
                "WWW-Authenticate": 'Bearer realm="raytrader", error="invalid_token"'}
        if not has_scope(result.scopes, needed):
            return 403, error_body(403, f"token {result.name!r} lacks scope {needed!r}", "Authorization"), {}
        if not result.allowed:
            return 429, error_body(429, f"rate limit of token {result.name!r} exceeded; retry after "
                                        f"{result.retry_after_s} s"), {"Retry-After": str(result.retry_after_s)}
        scope.setdefault("state", {})["principal"] = {"name": result.name, "scopes": result.scopes}
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None
