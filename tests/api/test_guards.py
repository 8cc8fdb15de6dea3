"""In-flight limits, the body-read timeout and repeated JSON keys, in-process (no Ray; real Redis for auth).

The same behaviour on the deployed API, with real sockets, is in
``test_limits.py`` and ``test_live_stream.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis as redis_lib
from fastapi.exceptions import RequestValidationError
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.auth import create_token
from api.body import find_duplicate_key, keys_given, parse_json_object_pairs, read_model
from api.inflight import InflightLimits, OpenStreams
from api.schemas import BatchRequest, SignalRequest
from api.server import create_app
from api.services import Services
from api.settings import ApiSettings
from tests.api.conftest import bars_payload


def test_inflight_limits_refuse_per_token_then_in_total() -> None:
    limits = InflightLimits(per_token_limit=2, total_limit=3)
    assert limits.enter("a", True) is None and limits.enter("a", True) is None
    over = limits.enter("a", False)
    assert over is not None and over.status == 429 and "'a' has 2 requests in flight" in over.message
    assert limits.enter("b", True) is None
    busy = limits.enter("c", True)
    assert busy is not None and busy.status == 503 and busy.retry_after_s == 1
    assert limits.enter("c", False) is None  # no body: counted against its token only
    limits.leave("a", True)
    assert limits.enter("c", True) is None
    assert dict(limits.per_token) == {"a": 1, "b": 1, "c": 2} and limits.with_body == 3


@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans(), st.booleans()), max_size=200))
def test_inflight_counts_match_a_plain_tally(steps: list[tuple[str, bool, bool]]) -> None:
    """Random enters and leaves: the counter agrees with a list of admitted requests and never passes a limit."""
    limits = InflightLimits(per_token_limit=3, total_limit=4)
    admitted: list[tuple[str, bool]] = []
    for name, has_body, leaving in steps:
        if leaving and admitted:
            done = admitted.pop(0)
            limits.leave(*done)
            continue
        refusal = limits.enter(name, has_body)
        mine = sum(1 for n, _ in admitted if n == name)
        bodies = sum(1 for _, b in admitted if b)
        expected = 429 if mine >= 3 else 503 if has_body and bodies >= 4 else None
        assert (refusal.status if refusal else None) == expected
        if refusal is None:
            admitted.append((name, has_body))
        assert all(limits.per_token[n] == sum(1 for m, _ in admitted if m == n) for n in "abc")
        assert limits.with_body == sum(1 for _, b in admitted if b) <= 4


def test_open_streams_cap() -> None:
    streams = OpenStreams(2)
    assert [streams.open() for _ in range(3)] == [True, True, False] and streams.count == 2
    streams.close()
    assert streams.open() and not streams.open()


def test_settings_refuse_nonsense_limits() -> None:
    for bad in ({"body_timeout_s": 0}, {"body_timeout_s": float("nan")}, {"max_inflight": 0},
                {"max_inflight_per_token": -1}, {"max_streams": 0}, {"stream_auth_timeout_s": -1.0}, {"stream_max_message_bytes": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ApiSettings(**bad)


def _read(body: bytes, model: Any = SignalRequest) -> Any:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/",
                       "headers": [(b"content-type", b"application/json")]}, receive)
    return asyncio.run(read_model(request, model))


def _duplicate_loc(body: bytes, model: Any = SignalRequest) -> tuple:
    with pytest.raises(RequestValidationError) as refused:
        _read(body, model)
    first = refused.value.errors()[0]
    assert first["type"] == "duplicate_key" and first["msg"] == f"duplicate JSON key {first['loc'][-1]!r}"
    return tuple(first["loc"])


def test_repeated_keys_are_refused_at_every_depth() -> None:
    bars = json.dumps(bars_payload(40)).encode()
    assert _duplicate_loc(b'{"bars": %s, "params": {"fast": 5, "fast": 6}}' % bars) == ("body", "params", "fast")
    assert _duplicate_loc(b'{"params": {}, "bars": %s, "bars": %s}' % (bars, bars)) == ("body", "bars")
    assert _duplicate_loc(b'{"bars": %s, "volume": [1]}}' % bars[:-1]) == ("body", "bars", "volume")
    # invalid as well as repeated: the repeat is named first (the slow path checks it before the schema)
    assert _duplicate_loc(b'{"bars": %s, "params": {"fast": [1], "fast": [2]}}' % bars) == ("body", "params", "fast")
    item = b'{"symbol": "A", "bars": %s}' % bars
    batch = b'{"items": [%s, {"symbol": "B", "symbol": "C", "bars": %s}]}' % (item, bars)
    assert _duplicate_loc(batch, BatchRequest) == ("body", "items", 1, "symbol")


def test_colons_inside_strings_do_not_refuse_a_good_body() -> None:
    payload = bars_payload(40)
    body = json.dumps({"items": [{"symbol": "BTC/USDT:USDT", "bars": {**payload, "timeframe": "1m"},
                                  "params": {"fast": 5, "slow": "20"}}]}).encode()
    parsed = _read(body, BatchRequest)
    assert parsed.items[0].symbol == "BTC/USDT:USDT" and parsed.items[0].params == {"fast": 5, "slow": "20"}


json_keys = st.text(min_size=1, max_size=6)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
                           max_leaves=20)


def _keys_seen_by_the_stdlib(text: str | bytes) -> int:
    """Independent count: the key/value pairs the stdlib parser hands its object_pairs_hook."""
    seen = 0

    def hook(pairs: list) -> dict:
        nonlocal seen
        seen += len(pairs)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return seen


def test_keys_given_equals_the_keys_of_the_api_bodies() -> None:
    single = json.dumps({"bars": {**bars_payload(30), "timeframe": "1m"}, "params": {"fast": 3, "slow": 9}}).encode()
    assert keys_given(SignalRequest.model_validate_json(single)) == _keys_seen_by_the_stdlib(single) == 11
    items = [{"symbol": f"S{i}", "bars": bars_payload(20, seed=i), **({"params": {"fast": i + 2}} if i % 2 else {})}
             for i in range(5)]
    batch = json.dumps({"items": items}).encode()
    assert keys_given(BatchRequest.model_validate_json(batch)) == _keys_seen_by_the_stdlib(batch)


@given(st.dictionaries(json_keys, json_values, min_size=1, max_size=5))
def test_keys_given_never_counts_more_keys_than_a_document_has(doc: dict) -> None:
    """Over-counting could hide a repeat; under-counting (mixed lists) only sends the body to the exact check."""
    text = json.dumps(doc)
    assert keys_given(doc) <= _keys_seen_by_the_stdlib(text)
    assert find_duplicate_key(parse_json_object_pairs(text)) is None


@given(st.dictionaries(json_keys, json_values, min_size=1, max_size=5), st.data())
def test_a_repeated_key_is_always_found(doc: dict, data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(doc)))
    text = json.dumps(doc)
    repeated = text[:-1] + ", " + json.dumps(key) + ": null}"
    assert find_duplicate_key(parse_json_object_pairs(repeated)) == (key,)


def _slow_body_exchange(redis_url: str, token: str, settings: ApiSettings) -> list[dict]:
    """An authenticated POST whose body never completes, through the whole app in-process; the messages sent."""
    app = create_app(Services.connect(settings, redis_url))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/signals/sma_cross", "raw_path": b"/v1/signals/sma_cross",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
                         (b"content-length", b"2000")]}
    sent: list[dict] = []
    first = True

    async def receive() -> dict:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"bars": {"timestamp": [', "more_body": True}
        await asyncio.Event().wait()  # the rest never comes
        return {}  # pragma: no cover

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), 60)

    asyncio.run(run())
    return sent


def test_a_body_that_stops_arriving_gets_408_and_closes(redis_url: str, redis_client: redis_lib.Redis) -> None:
    token = create_token(redis_client, "slowpoke", "signal", rate_per_s=100, burst=100)
    sent = _slow_body_exchange(redis_url, token, ApiSettings(body_timeout_s=0.5))
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 408 and headers["connection"] == "close"
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body == {"error": {"code": "request_timeout", "message": "request body not received within 0.5 s",
                              "field": "body"}}


def test_settings_come_from_the_serve_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import settings_from_config

    monkeypatch.setenv("RAYTRADER_SERVE__STREAM_AUTH_TIMEOUT_S", "2.5")
    monkeypatch.setenv("RAYTRADER_SERVE__MAX_INFLIGHT_PER_TOKEN", "3")
    monkeypatch.setenv("RAYTRADER_SERVE__ALLOWLIST", "127.0.0.1/32, 10.0.0.0/8")
    settings = settings_from_config()
    assert settings.stream_auth_timeout_s == 2.5 and settings.max_inflight_per_token == 3
    assert settings.allowlist == ("127.0.0.1/32", "10.0.0.0/8")
    assert (settings.max_inflight, settings.max_streams, settings.body_timeout_s) == (40, 16, 10.0)
