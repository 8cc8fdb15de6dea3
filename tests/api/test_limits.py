"""Slow clients cannot stop the others, and repeated JSON keys are refused: the API on real Ray Serve.

Raw sockets on loopback against the replica's own port (direct ingress, as
users call it) hold requests whose ``Content-Length`` promises 1,000 bytes
more than they send (issue 19.4). The deployed app keeps the default limits
(:class:`api.settings.ApiSettings`): 16 requests in flight per token, 48 with
a body in all, a 10 s body-read timeout. The bounds on how fast other
clients are answered are generous liveness checks (before the limits,
``/v1/health`` waited minutes), not speed measurements.

Runs before ``test_serve.py``, whose last test shuts Serve down.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from api.settings import ApiSettings
from tests.api._fuzz import check_response
from tests.api.conftest import LiveApi, bars_payload

pytestmark = pytest.mark.ray

DEFAULTS = ApiSettings()
MISSING = 1_000  # bytes promised by Content-Length and never sent
HEALTH_WITHIN_S = 6.0  # generous: the replica answers health in milliseconds when idle
REFUSED_WITHIN_S = 30.0  # the over-limit requests are answered without reading their body


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class SlowPost:
    """A POST on its own socket whose body stops ``MISSING`` bytes short of its ``Content-Length``."""

    def __init__(self, port: int, token: str, path: str = "/v1/signals/sma_cross") -> None:
        body = json.dumps({"bars": bars_payload(20), "params": {}}).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body) + MISSING}\r\n\r\n").encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(head + body)
        self.sock.setblocking(False)
        self.buffer = b""
        self.answer: Answer | None = None
        self.eof = False

    def pump(self) -> None:
        """Read what has arrived (non-blocking); parse the response once it is complete."""
        while not self.eof:
            try:
                chunk = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionResetError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            self.buffer += chunk
        if self.answer is None and b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
            if len(rest) >= length:
                text = rest[:length].decode()
                self.answer = Answer(int(lines[0].split()[1]), headers, json.loads(text))
                check_response(self.answer.status, text, headers, busy_ok=True)

    def close(self) -> None:
        self.sock.close()


def pump_until(posts: list[SlowPost], done: Any, timeout_s: float) -> bool:
    """Pump every socket until ``done()`` holds or ``timeout_s`` passes; True when it held."""
    selector = selectors.DefaultSelector()
    for post in posts:
        selector.register(post.sock, selectors.EVENT_READ, post)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for post in posts:
                post.pump()
            if done():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            selector.select(timeout=min(left, 0.2))
    finally:
        selector.close()


def get(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, dict[str, str], Any, float]:
    """One request on a fresh connection: status, headers, JSON body, seconds taken."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            status, hdrs, text = resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, hdrs, text = exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()
    check_response(status, text, hdrs, busy_ok=True)
    return status, hdrs, json.loads(text), time.monotonic() - started


def open_slow(port: int, tokens: list[str], each: int) -> list[SlowPost]:
    return [SlowPost(port, token) for token in tokens for _ in range(each)]


def refused(posts: list[SlowPost]) -> list[SlowPost]:
    return [p for p in posts if p.answer is not None and p.answer.status in (429, 503)]


def assert_refusals_have_the_error_shape(posts: list[SlowPost]) -> None:
    for post in refused(posts):
        assert post.answer is not None
        assert post.answer.headers["retry-after"] == "1"
        code = {429: "rate_limited", 503: "unavailable"}[post.answer.status]
        assert post.answer.body["error"]["code"] == code and "in flight" in post.answer.body["error"]["message"]


def assert_held_ones_time_out(held: list[SlowPost]) -> None:
    """Each held request gets 408 (field ``body``) after the body-read timeout, then its connection closes."""
    assert pump_until(held, lambda: all(p.answer is not None and p.eof for p in held),
                      DEFAULTS.body_timeout_s + 60.0), "held requests were not answered 408 and closed"
    for post in held:
        assert post.answer is not None and post.answer.status == 408
        assert post.answer.body["error"]["code"] == "request_timeout"
        assert post.answer.body["error"]["field"] == "body"


def test_one_token_with_66_slow_bodies_cannot_stop_health_or_other_tokens(live_api: LiveApi) -> None:
    """The issue's attack: 70 slow POSTs of one token. 16 are held, the rest refused at once; others are served."""
    port = live_api.direct_port
    attacker = live_api.token("slow-attacker", rate_per_s=1000, burst=1000)
    reader = live_api.token("slow-reader", "read")
    other = live_api.token("slow-other")
    posts = open_slow(port, [attacker], 70)
    try:
        over = 70 - DEFAULTS.max_inflight_per_token
        assert pump_until(posts, lambda: len(refused(posts)) >= over, REFUSED_WITHIN_S), \
            f"only {len(refused(posts))} of the {over} over-limit requests were refused"
        status, _, health, took = get(f"{live_api.direct_url}/v1/health", reader)
        pump_until(posts, lambda: False, 0.0)
        held = [p for p in posts if p.answer is None]
        assert status == 200 and health["status"] in ("ok", "degraded")
        assert took < HEALTH_WITHIN_S, f"/v1/health took {took:.1f} s while slow bodies were held"
        # the slow requests were still held when health answered: the limit, not the timeout, let it through
        assert len(held) == DEFAULTS.max_inflight_per_token
        assert {p.answer.status for p in refused(posts) if p.answer} == {429}
        assert len(refused(posts)) == over
        assert_refusals_have_the_error_shape(posts)
        status, _, signal, _ = get(f"{live_api.direct_url}/v1/signals/sma_cross", other, "POST",
                                   {"bars": bars_payload(60), "params": {}})
        assert status == 200 and signal["strategy"] == "sma_cross"
        assert all(p.answer is None for p in held)
        log = live_api.replica_log()
        assert_held_ones_time_out(held)
        line = live_api.wait_for_log_line(log, "request body not received within")
        assert "POST /v1/signals/sma_cross" in line and "answering 408" in line
    finally:
        for post in posts:
            post.close()
    # the slots are free again: the attacker's own requests are served
    status, _, _, _ = get(f"{live_api.direct_url}/v1/signals/sma_cross", attacker, "POST",
                          {"bars": bars_payload(60), "params": {}})
    assert status == 200


def test_many_tokens_hit_the_total_limit_and_bodyless_requests_still_pass(live_api: LiveApi) -> None:
    """4 tokens x 17 slow POSTs: 48 held in all (at most 16 per token), the rest 429/503; health still 200."""
    port = live_api.direct_port
    per_token, total = DEFAULTS.max_inflight_per_token, DEFAULTS.max_inflight
    tokens = [live_api.token(f"slow-many-{i}") for i in range(4)]
    assert len(tokens) * per_token > total  # the total limit binds before the per-token one
    reader = live_api.token("slow-many-reader", "read")
    late = live_api.token("slow-many-late")
    posts = open_slow(port, tokens, per_token + 1)
    try:
        assert pump_until(posts, lambda: len(refused(posts)) >= len(posts) - total, REFUSED_WITHIN_S), \
            f"only {len(refused(posts))} requests were refused"
        status, _, _, took = get(f"{live_api.direct_url}/v1/health", reader)
        assert status == 200 and took < HEALTH_WITHIN_S
        status, headers, busy, _ = get(f"{live_api.direct_url}/v1/signals/sma_cross", late, "POST",
                                       {"bars": bars_payload(60), "params": {}})
        assert status == 503 and headers["retry-after"] == "1" and busy["error"]["code"] == "unavailable"
        pump_until(posts, lambda: False, 0.0)
        held = [p for p in posts if p.answer is None]
        assert len(held) == total
        for i in range(len(tokens)):
            mine = posts[i * (per_token + 1):(i + 1) * (per_token + 1)]
            assert sum(p.answer is None for p in mine) <= per_token
        # a token held below its own limit was refused by the total limit: at least one 503
        assert 503 in {p.answer.status for p in refused(posts) if p.answer}
        assert_refusals_have_the_error_shape(posts)
        assert_held_ones_time_out(held)
    finally:
        for post in posts:
            post.close()
    status, _, _, _ = get(f"{live_api.direct_url}/v1/signals/sma_cross", late, "POST",
                          {"bars": bars_payload(60), "params": {}})
    assert status == 200


def _repeat_param(bars: bytes, column: bytes) -> bytes:
    return b'{"bars": ' + bars + b', "params": {"fast": 5, "fast": 6}}'


def _repeat_bars(bars: bytes, column: bytes) -> bytes:
    return b'{"bars": ' + bars + b', "bars": ' + bars + b'}'


def _repeat_column(bars: bytes, column: bytes) -> bytes:
    return b'{"bars": ' + bars[:-1] + b', "close": ' + column + b'}}'  # "close" a second time, inside "bars"


@pytest.mark.parametrize("build, field", [
    (_repeat_param, "params.fast"), (_repeat_bars, "bars"), (_repeat_column, "bars.close"),
])
def test_repeated_json_keys_are_refused_naming_the_key(live_api: LiveApi, build: Any, field: str) -> None:
    token = live_api.token(f"dup-{field}")
    payload = bars_payload(40)
    raw = build(json.dumps(payload).encode(), json.dumps(payload["close"]).encode())
    json.loads(raw)  # valid JSON: the stdlib would take it, keeping the last value
    request = urllib.request.Request(f"{live_api.direct_url}/v1/signals/sma_cross", data=raw, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused_call:
        urllib.request.urlopen(request, timeout=60)
    text = refused_call.value.read().decode()
    check_response(refused_call.value.code, text, dict(refused_call.value.headers))
    err = json.loads(text)["error"]
    key = field.rsplit(".", 1)[-1]
    assert refused_call.value.code == 422
    assert err == {"code": "invalid_input", "message": f"{field}: duplicate JSON key '{key}'", "field": field}
    # the same body without the repeat is answered (a ':' inside a string does not trip the check)
    good = json.dumps({"items": [{"symbol": "BTC/USDT:USDT", "bars": payload, "params": {"fast": 5}}]}).encode()
    request = urllib.request.Request(f"{live_api.direct_url}/v1/signals/sma_cross/batch", data=good, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 200 and json.loads(resp.read())["results"][0]["symbol"] == "BTC/USDT:USDT"
