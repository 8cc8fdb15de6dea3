"""``POST /v1/signals/rl:<name>`` through the whole API app in-process (real Redis for tokens, no Ray): the answer is
the exported policy's target at the last bar; unknown policies are 404, parameters 400."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from api.auth import create_token
from api.schemas import BarsIn, to_bars
from api.server import create_app
from api.services import Services
from api.settings import ApiSettings
from backtest.rl_policy import load_policy
from tests.api.conftest import bars_payload
from tests.backtest.test_rl_policy import _export


async def _post(app: Any, path: str, body: dict, token: str) -> tuple[int, dict]:
    """One POST through the ASGI app from 127.0.0.1 (the whole app: auth, guards, routes); (status, JSON body)."""
    data = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
                         (b"content-length", str(len(data)).encode())]}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 120)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_signal_of_an_exported_policy_over_http(redis_url: str, redis_client: redis_lib.Redis, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    _export(tmp_path, "http", seed=9)
    token = create_token(redis_client, "rl", "signal", rate_per_s=100, burst=100)
    payload = bars_payload(300, seed=4)
    app = create_app(Services.connect(ApiSettings(), redis_url))

    async def calls() -> list[tuple[int, dict]]:  # one event loop: the app's Redis client lives on it
        return [await _post(app, "/v1/signals/rl:http", {"bars": payload}, token),
                await _post(app, "/v1/signals/rl:nope", {"bars": payload}, token),
                await _post(app, "/v1/signals/rl:http", {"bars": payload, "params": {"fast": 3}}, token),
                await _post(app, "/v1/signals/rl:http", {"bars": bars_payload(40)}, token)]

    ok, missing, params, short = asyncio.run(calls())
    status, body = ok
    assert status == 200, body
    bars = to_bars(BarsIn.model_validate(payload))
    assert body["position"] == load_policy("http", tmp_path).targets(bars.open, bars.close)[-1]
    assert body["bar_timestamp"] == payload["timestamp"][-1] and body["params"] == {}
    status, body = missing
    assert status == 404 and "no exported policy rl:nope" in body["error"]["message"], body
    status, body = params
    assert status == 422 and "unknown parameter" in body["error"]["message"], body
    status, body = short
    assert status in (400, 422) and "52" in body["error"]["message"], body
