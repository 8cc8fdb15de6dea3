"""``POST /v1/orders`` with ``algo`` (and ``time_in_force``): a parent order's bad fields are refused with 422 naming
the field before the deployment is asked (the whole app in this process, tokens in a real redis-server; no Ray).
The same route with a running deployment and router is covered end to end by tests/actors/test_router.py (the
router itself) and the control actor's checks (``TradingControl.submit_parent``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis as redis_lib

from api.auth import create_token
from api.server import create_app
from api.services import Services
from api.settings import ApiSettings

BASE = {"venue": "emu", "symbol": "XRP/ETH", "side": "buy", "amount": 100}


def _post(app: Any, token: str, body: dict) -> tuple[int, dict]:
    """One POST /v1/orders through the ASGI app: (status, JSON body)."""
    raw = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/orders", "raw_path": b"/v1/orders", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
                         (b"content-length", str(len(raw)).encode())]}
    sent: list[dict] = []
    given = False

    async def receive() -> dict:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()
        return {}  # pragma: no cover

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 60))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload)


@pytest.mark.parametrize("change, field", [
    ({"algo": "vwap"}, "algo"),
    ({"slices": 3}, "slices"),                               # a twap field without algo twap
    ({"algo": "route", "display": 5}, "display"),            # an iceberg field on a route
    ({"algo": "twap", "slices": 0, "duration_s": 5}, "slices"),
    ({"algo": "twap", "slices": 3, "duration_s": -1}, "duration_s"),
    ({"algo": "route", "participation": 1.5}, "participation"),
    ({"algo": "route", "venues": []}, "venues"),
    ({"algo": "iceberg", "display": 0}, "display"),
    ({"type": "limit", "price": 0.0005, "time_in_force": "GTT"}, "time_in_force"),  # not one of GTC, IOC, FOK
    ({"time_in_force": "IOC"}, "time_in_force"),             # a market order is immediate
    ({"algo": "route", "time_in_force": "FOK"}, "time_in_force"),  # market children (no price)
])
def test_a_bad_parent_field_is_422_naming_it(redis_url: str, redis_client: redis_lib.Redis, change: dict,
                                             field: str) -> None:
    token = create_token(redis_client, "desk", "trade", rate_per_s=1000, burst=1000)
    app = create_app(Services.connect(ApiSettings(), redis_url))
    status, body = _post(app, token, {**BASE, **change})
    assert status == 422 and body["error"]["field"] == field, body


def test_a_valid_parent_passes_the_checks_and_without_a_deployment_is_503(redis_url: str,
                                                                          redis_client: redis_lib.Redis) -> None:
    token = create_token(redis_client, "desk", "trade", rate_per_s=1000, burst=1000)
    app = create_app(Services.connect(ApiSettings(), redis_url))
    status, body = _post(app, token, {**BASE, "algo": "twap", "slices": 3, "duration_s": 30})
    assert status == 503 and "deployment" in body["error"]["message"], body
    status, body = _post(app, token, {**BASE, "type": "limit", "price": 0.0005, "time_in_force": "IOC"})
    assert status == 503, body  # a limit IOC order passes the checks
