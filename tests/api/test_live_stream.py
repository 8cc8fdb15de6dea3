"""The WebSocket stream's guards on real Ray Serve: auth deadline, frame cap, binary frames, repeated keys (19.5).

A real ``websockets`` client talks to the replica's own port (direct
ingress). The deployed app keeps the defaults of
:class:`api.settings.ApiSettings`: 5 s to authenticate, 64 KiB per message,
16 sockets open at once.
Closes carry a reason, and the replica log (where the README says server
errors go) names each protocol violation.

Runs before ``test_serve.py``, whose last test shuts Serve down.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.settings import ApiSettings
from tests.api.conftest import LiveApi, bars_payload

pytestmark = pytest.mark.ray

DEFAULTS = ApiSettings()


def ws_url(api: LiveApi) -> str:
    return f"ws://127.0.0.1:{api.direct_port}/v1/stream/sma_cross"


def closed_with(ws: ClientConnection, timeout_s: float) -> tuple[int, str, list[dict]]:
    """Read until the server closes (within ``timeout_s``): close code, reason, the messages before it."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout_s
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"the server did not close the socket within {timeout_s} s; got {messages}")
            messages.append(json.loads(ws.recv(timeout=left)))
    assert closed.value.rcvd is not None, "the client, not the server, ended the connection"
    return closed.value.rcvd.code, closed.value.rcvd.reason, messages


def test_a_socket_that_never_authenticates_is_closed_4401(live_api: LiveApi) -> None:
    with connect(ws_url(live_api), open_timeout=60) as ws:
        code, reason, messages = closed_with(ws, DEFAULTS.stream_auth_timeout_s + 30.0)
    assert code == 4401 and reason == f"not authenticated within {DEFAULTS.stream_auth_timeout_s:g} s"
    assert [m["error"]["field"] for m in messages] == ["token"] and messages[0]["error"]["code"] == "unauthorized"


def test_a_first_message_that_is_not_the_token_closes_4401(live_api: LiveApi) -> None:
    with connect(ws_url(live_api), open_timeout=60) as ws:
        ws.send("hello")
        code, reason, messages = closed_with(ws, 30.0)
    assert code == 4401 and "token" in reason
    assert messages[0]["error"] == {"code": "bad_request", "message": "message is not JSON", "field": "message"}
    with connect(ws_url(live_api), open_timeout=60) as ws:
        ws.send(json.dumps({"bar": {}}))
        code, _, messages = closed_with(ws, 30.0)
    assert code == 4401 and messages[0]["error"]["field"] == "token"


def test_oversized_messages_close_1009_before_and_after_authentication(live_api: LiveApi) -> None:
    token = live_api.token("ws-big")
    big = json.dumps({"token": "x" * 2_000_000})
    with connect(ws_url(live_api), open_timeout=60, max_size=None) as ws:
        ws.send(big)
        code, reason, _ = closed_with(ws, 30.0)
    assert code == 1009 and reason == f"message of {len(big)} bytes is larger than the limit of " \
                                      f"{DEFAULTS.stream_max_message_bytes}"
    with connect(ws_url(live_api), open_timeout=60, max_size=None) as ws:
        ws.send(json.dumps({"token": token}))
        assert json.loads(ws.recv(timeout=30))["type"] == "authenticated"
        ws.send(json.dumps({"params": {}, "pad": "y" * (DEFAULTS.stream_max_message_bytes + 1)}))
        code, _, messages = closed_with(ws, 30.0)
    assert code == 1009 and messages == []


def test_a_binary_frame_is_a_logged_protocol_close_1003(live_api: LiveApi) -> None:
    token = live_api.token("ws-binary")
    log = live_api.replica_log()
    with connect(ws_url(live_api), open_timeout=60) as ws:
        ws.send(json.dumps({"token": token}))
        assert json.loads(ws.recv(timeout=30))["type"] == "authenticated"
        ws.send(b"\x00\x01binary\xff" * 3)
        code, reason, messages = closed_with(ws, 30.0)
    assert code == 1003 and reason == "binary frame of 27 bytes refused: send JSON text frames"
    assert messages == []
    line = live_api.wait_for_log_line(log, "binary frame of 27 bytes refused")
    assert "closing WebSocket /v1/stream/sma_cross from 127.0.0.1:" in line and "with 1003" in line


def test_repeated_keys_in_a_message_are_refused_and_the_socket_stays_open(live_api: LiveApi) -> None:
    token = live_api.token("ws-dup")
    payload = bars_payload(5)
    bar = {c: payload[c][0] for c in ("timestamp", "open", "high", "low", "close", "volume")}
    with connect(ws_url(live_api), open_timeout=60, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "authenticated"
        text = json.dumps({"bar": bar})
        ws.send(text[:-2] + f', "close": {bar["close"] * 2}}}}}')
        err = json.loads(ws.recv(timeout=30))
        assert err["error"] == {"code": "invalid_input", "message": "bar.close: duplicate JSON key 'close'",
                                "field": "bar.close"}
        ws.send(text)
        assert json.loads(ws.recv(timeout=30)) == {"type": "warmup", "bars": 1, "min_bars": 31}


def test_sockets_past_max_streams_are_closed_1013_while_health_answers(live_api: LiveApi) -> None:
    """20 sockets that never authenticate: 16 are kept until their deadline (4401), 4 are closed at once (1013)."""
    extra = 4
    sockets = [connect(ws_url(live_api), open_timeout=60) for _ in range(DEFAULTS.max_streams + extra)]
    codes: dict[int, tuple[int, str]] = {}

    def poll_until(done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"close codes so far: {codes}")
            for i, ws in enumerate(sockets):
                if i in codes:
                    continue
                try:
                    ws.recv(timeout=0.02)  # the error message before a 4401, if any
                except TimeoutError:
                    continue
                except ConnectionClosed as exc:
                    codes[i] = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (0, "client side")

    try:
        poll_until(lambda: len(codes) >= extra, 30.0)
        assert sorted(codes.values()) == [(1013, f"server busy: {DEFAULTS.max_streams} streams open; retry later")] * extra
        token = live_api.token("ws-streams-reader", "read")
        request = urllib.request.Request(f"{live_api.direct_url}/v1/health", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert resp.status == 200
        poll_until(lambda: len(codes) == len(sockets), DEFAULTS.stream_auth_timeout_s + 60.0)
        waited = [code for code, _ in codes.values() if code != 1013]
        assert waited == [4401] * DEFAULTS.max_streams
    finally:
        for ws in sockets:
            ws.close()
    # the count is released: a new socket is served
    with connect(ws_url(live_api), open_timeout=60) as ws:
        ws.send(json.dumps({"token": live_api.token("ws-after-streams")}))
        assert json.loads(ws.recv(timeout=30))["type"] == "authenticated"
