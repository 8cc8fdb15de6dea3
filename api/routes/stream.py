"""WebSocket ``/v1/stream/{strategy}``: post bars one at a time, get the strategy's signal after each.

Protocol (JSON text frames; the server answers every client message with
exactly one message):

1. Authenticate, either with an ``Authorization: Bearer <token>`` header on
   the handshake (the server then first sends ``{"type": "authenticated"}``)
   or, for clients that cannot set headers, with the first message
   ``{"token": "rt_..."}`` (answer ``{"type": "authenticated", "name": ...}``)
   within ``stream_auth_timeout_s`` (default 5 s) of the handshake.
   Tokens are not accepted in the URL, where proxies and logs would keep
   them. The token needs scope ``signal``; without it the server sends an
   error and closes with code 4401 (bad token, a first message that is not
   ``{"token"}``, or no token in time) or 4403 (scope).
2. Optionally configure once: ``{"params": {"fast": 10, "slow": 30},
   "window": 500, "timeframe": "1m"}`` -> ``{"type": "configured",
   "params": {...}, "window": 500, "min_bars": 31}``. Without it the
   defaults apply at the first bar.
3. Post bars: ``{"bar": {"timestamp": ms, "open": ..., "high": ...,
   "low": ..., "close": ..., "volume": ...}}`` -> ``{"type": "signal",
   "position": ..., "bar_time": ..., "indicators": {...}, "bars": n}`` once
   the window holds ``min_bars`` bars, ``{"type": "warmup", "bars": n,
   "min_bars": m}`` before that.

The connection keeps the last ``window`` bars (at most the server's
``stream_max_window``); the signal is the registered strategy run on them,
so for path-dependent indicators (EMA) it equals a backtest on that window.
Each bar takes one credit of the token's rate limit. A bad message gets
``{"type": "error", "error": {"code", "message", "field"}}`` and the
connection stays open (the bad bar is not kept); rate-limited bars get
``code: "rate_limited"`` with ``retry_after_s``. A message with a repeated
object key gets a 422 error naming it.

Protocol violations close the socket with a reason, and the replica log
(logger :data:`api.errors.LOGGER_NAME`) says why: a binary frame -> 1003
(unsupported data), a message over ``stream_max_message_bytes`` (default
64 KiB) -> 1009 (message too big). A replica keeps at most ``max_streams``
(default 16) sockets open, authenticated or not; one more is closed at once
with 1013 (try again later).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import bearer_token, has_scope
from api.body import find_duplicate_key, parse_json_object_pairs
from api.errors import LOGGER_NAME, error_body, flush_log
from api.routes._errors import to_api_error
from api.schemas import BarsIn, Number, Params, TimestampMs, field_path, to_bars
from api.signals import ServedStrategyError, compute_signal
from raytrader.errors import InputError
from strategies.params import validate_params
from strategies.registry import get_strategy

__all__ = ["router"]

router = APIRouter(prefix="/v1/stream", tags=["stream"])
log = logging.getLogger(LOGGER_NAME)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BarIn(_Strict):
    timestamp: TimestampMs
    open: Number
    high: Number
    low: Number
    close: Number
    volume: Number


class BarMessage(_Strict):
    bar: BarIn


class ConfigMessage(_Strict):
    params: Params = Field(default_factory=dict)
    window: Annotated[int, Field(strict=True, ge=1)] | None = None
    timeframe: Annotated[str, Field(max_length=16)] | None = None


class TokenMessage(_Strict):
    token: Annotated[str, Field(max_length=256)]


class _Closed(Exception):
    pass


async def _error(ws: WebSocket, status: int, message: str, field: str | None = None, **extra: Any) -> None:
    body = error_body(status, message, field)
    await ws.send_text(json.dumps({"type": "error", **body, **extra}, allow_nan=False))


async def _close(ws: WebSocket, code: int, reason: str) -> NoReturn:
    """Close with ``code`` and ``reason`` (logged), then leave the handler."""
    log.warning("closing WebSocket %s from %s with %d: %s", ws.url.path, _peer(ws), code, reason)
    flush_log()
    await ws.close(code=code, reason=reason)
    raise _Closed


def _peer(ws: WebSocket) -> str:
    client = ws.client
    return f"{client.host}:{client.port}" if client else "?"


async def _receive(ws: WebSocket, limit: int) -> dict[str, Any] | None:
    """The next JSON object, or None after an error reply for a bad message.

    A binary frame or a message over ``limit`` bytes closes the socket
    (1003, 1009) and raises :class:`_Closed`.
    """
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        size = len(message.get("bytes") or b"")
        await _close(ws, 1003, f"binary frame of {size} bytes refused: send JSON text frames")
    size = len(text) if text.isascii() else len(text.encode())
    if size > limit:
        await _close(ws, 1009, f"message of {size} bytes is larger than the limit of {limit}")
    try:
        data = parse_json_object_pairs(text)
    except ValueError:
        await _error(ws, 400, "message is not JSON", "message")
        return None
    if not isinstance(data, dict):
        await _error(ws, 400, "message must be a JSON object", "message")
        return None
    repeated = find_duplicate_key(data)
    if repeated is not None:
        field = field_path(repeated)
        await _error(ws, 422, f"{field}: duplicate JSON key {repeated[-1]!r}", field)
        return None
    return data


def _validation_field(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    field = field_path(first.get("loc", ()))
    return field, f"{field}: {first.get('msg', 'invalid')}"


@router.websocket("/{strategy}")
async def stream(ws: WebSocket, strategy: str) -> None:
    streams = ws.app.state.streams
    if not streams.open():
        await ws.accept()
        try:
            await _close(ws, 1013, f"server busy: {streams.limit} streams open; retry later")
        except _Closed:
            return
    try:
        await _serve(ws, strategy)
    finally:
        streams.close()


async def _serve(ws: WebSocket, strategy: str) -> None:
    services = ws.app.state.services
    settings = services.settings
    limit = settings.stream_max_message_bytes
    await ws.accept()
    try:
        token = bearer_token(ws.headers.get("authorization"))
        if token is None:
            token = await _token_message(ws, limit, settings.stream_auth_timeout_s)
        await _authenticate(ws, services, token)
        try:
            record = get_strategy(strategy)
            if record.multi_asset:
                raise ServedStrategyError(f"strategy: {record.name} is multi-asset; the stream serves single-asset strategies")
        except InputError as exc:
            err = to_api_error(exc)
            await _error(ws, err.status, err.message, err.field)
            await ws.close(code=4404)
            return
        params: dict[str, Any] | None = None
        timeframe: str | None = None
        window = settings.stream_default_window
        bars: deque[BarIn] = deque()
        while True:
            data = await _receive(ws, limit)
            if data is None:
                continue
            if "bar" not in data:
                if params is not None:
                    await _error(ws, 400, "already configured: send bars", "params")
                    continue
                try:
                    msg = ConfigMessage.model_validate(data)
                    values = validate_params(record, msg.params)
                    needed = int(record.min_bars(values))
                    wanted = msg.window if msg.window is not None else max(settings.stream_default_window, needed)
                    if not needed <= wanted <= settings.stream_max_window:
                        await _error(ws, 422, f"window: must be in [{needed}, {settings.stream_max_window}] bars "
                                              f"for these params", "window")
                        continue
                except ValidationError as exc:
                    field, text = _validation_field(exc)
                    await _error(ws, 422, text, field)
                    continue
                except InputError as exc:
                    err = to_api_error(exc)
                    await _error(ws, err.status, err.message, err.field)
                    continue
                params, window, timeframe = values, wanted, msg.timeframe
                await ws.send_json({"type": "configured", "params": values, "window": window, "min_bars": needed})
                continue
            if params is None:
                params = validate_params(record, {})
                window = max(window, int(record.min_bars(params)))
            try:
                bar = BarMessage.model_validate(data).bar
            except ValidationError as exc:
                field, text = _validation_field(exc)
                await _error(ws, 422, text, field)
                continue
            result = await services.authenticator.check(token)
            if not result.known:
                await _error(ws, 401, "token revoked", "token")
                await ws.close(code=4401)
                return
            if not result.allowed:
                await _error(ws, 429, f"rate limit exceeded; retry after {result.retry_after_s} s",
                             retry_after_s=result.retry_after_s)
                continue
            candidate = list(bars)[-(window - 1):] + [bar] if window > 1 else [bar]
            cols = BarsIn(timeframe=timeframe, **{c: [getattr(b, c) for b in candidate]
                                                  for c in ("timestamp", "open", "high", "low", "close", "volume")})
            try:
                validated = to_bars(cols, path="bars")
            except InputError as exc:
                err = to_api_error(exc)
                field = "bar." + err.field.split(".", 1)[1].split("[", 1)[0] if err.field and "." in err.field else err.field
                await _error(ws, err.status, err.message, field)
                continue
            bars.append(bar)
            while len(bars) > window:
                bars.popleft()
            needed = int(record.min_bars(params))
            if len(bars) < needed:
                await ws.send_json({"type": "warmup", "bars": len(bars), "min_bars": needed})
                continue
            signal = compute_signal(record, validated, params)
            await ws.send_json({"type": "signal", **signal.to_dict(), "bars": len(bars)})
    except (WebSocketDisconnect, _Closed):
        return


async def _token_message(ws: WebSocket, limit: int, timeout_s: float) -> str:
    """The token of the first message, which must come within ``timeout_s``; else an error and close 4401."""
    try:
        data = await asyncio.wait_for(_receive(ws, limit), timeout_s)
    except TimeoutError:
        await _error(ws, 401, f"not authenticated within {timeout_s:g} s", "token")
        await _close(ws, 4401, f"not authenticated within {timeout_s:g} s")
    try:
        return TokenMessage.model_validate(data).token
    except ValidationError:
        if data is not None:
            await _error(ws, 401, "authenticate first: send {\"token\": \"...\"}", "token")
        await _close(ws, 4401, "the first message must be {\"token\": ...}")


async def _authenticate(ws: WebSocket, services: Any, token: str) -> str:
    try:
        result = await services.authenticator.check(token)
    except Exception:  # noqa: BLE001 - Redis down: tell the client, do not leak
        await _error(ws, 503, "token store unavailable; retry shortly")
        await ws.close(code=1013)
        raise _Closed from None
    if not result.known:
        await _error(ws, 401, "invalid or revoked token", "token")
        await ws.close(code=4401)
        raise _Closed
    if not has_scope(result.scopes, "signal"):
        await _error(ws, 403, f"token {result.name!r} lacks scope 'signal'", "token")
        await ws.close(code=4403)
        raise _Closed
    if not result.allowed:
        await _error(ws, 429, f"rate limit exceeded; retry after {result.retry_after_s} s",
                     retry_after_s=result.retry_after_s)
        await ws.close(code=4429)
        raise _Closed
    await ws.send_json({"type": "authenticated", "name": result.name, "scopes": list(result.scopes)})
    return result.name
