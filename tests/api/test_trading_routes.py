"""``/v1/portfolio``, ``/v1/orders``, ``/v1/risk`` and ``/v1/risk/halt|resume`` over real HTTP.

The API app (:func:`api.server.create_app`, tokens and rate limits in the shared test cluster's real
Redis) is served by uvicorn on 127.0.0.1 in this process, a Ray driver attached to the test cluster,
exactly as a Serve replica runs it (without Serve's proxy). Behind it runs a real trading deployment
(``raytrader trade start``) on a venue started separately with ``raytrader exchange serve``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest
import redis as redis_lib

from raytrader.ports import free_port
from tests._trade import SYMBOL, add_key, cli, cli_json, exchange_serve, write_toml
from tests.api.conftest import TRADING_ROUTES

pytestmark = pytest.mark.usefixtures("ray_session")

TRADING = TRADING_ROUTES


class Http:
    """The app on a real loopback socket, and tokens in the cluster's Redis."""

    def __init__(self, base: str, redis: redis_lib.Redis) -> None:
        self.base, self.redis = base, redis

    def token(self, scopes: str, rate_per_s: float = 1000.0, burst: int = 1000) -> str:
        from api.auth import create_token

        return create_token(self.redis, f"trading-{scopes.replace(',', '-')}-{time.monotonic_ns()}", scopes,
                            rate_per_s=rate_per_s, burst=burst)

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, dict, dict]:
        """(status, JSON body, headers by lower-case name)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:
                return resp.status, json.loads(resp.read() or b"null"), {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null"), {k.lower(): v for k, v in exc.headers.items()}


@pytest.fixture(scope="module")
def http(cluster) -> Iterator[Http]:
    import uvicorn

    from api.server import create_app
    from api.services import Services
    from api.settings import ApiSettings

    app = create_app(Services.connect(ApiSettings(), cluster.redis.url()))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    client = redis_lib.Redis.from_url(cluster.redis.url(), decode_responses=True)
    try:
        yield Http(f"http://127.0.0.1:{port}", client)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        client.close()


@pytest.fixture(scope="module")
def deployment(http: Http, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A trading deployment on its own emulated venue; stopped after the module."""
    add_key("routes-test")
    with exchange_serve("routes-test") as venue:
        path = write_toml(tmp_path_factory.mktemp("trade") / "trade.toml", venue["url"], "routes-test",
                          extra="price_band_bps = 500.0")
        code, started = cli_json("trade", "start", str(path))
        assert code == 0, started
        try:
            yield started
        finally:
            assert cli("trade", "stop")[0] == 0


def test_without_a_deployment_every_route_answers_503(http: Http) -> None:
    """No deployment runs yet: 503 with Retry-After and the one error shape, after auth (401 without a token)."""
    admin = http.token("admin")
    for label in TRADING:
        method, path = label.split(" ")
        payload = None if method == "GET" else {} if "risk" in path else {"venue": "emu", "symbol": SYMBOL,
                                                                          "side": "buy", "amount": 10}
        status, body, headers = http.call(method, path, admin, payload)
        assert status == 503 and int(headers["retry-after"]) >= 1, (label, status, body)
        assert body["error"]["code"] == "unavailable" and "no trading deployment is running" in body["error"]["message"]
        assert http.call(method, path)[0] == 401


def test_scopes(http: Http, deployment: dict) -> None:
    read, trade, admin = http.token("read"), http.token("trade"), http.token("admin")
    order = {"venue": "emu", "symbol": SYMBOL, "side": "buy", "amount": 10}
    assert http.call("GET", "/v1/portfolio", read)[0] == 200
    assert http.call("GET", "/v1/orders", read)[0] == 200
    assert http.call("GET", "/v1/risk", read)[0] == 200
    status, body, _ = http.call("POST", "/v1/orders", read, order)
    assert status == 403 and "trade" in body["error"]["message"]
    for path in ("/v1/risk/halt", "/v1/risk/resume"):
        for token in (read, trade):
            status, body, _ = http.call("POST", path, token, {})
            assert status == 403 and "admin" in body["error"]["message"]
    status, body, _ = http.call("GET", "/v1/portfolio", "rt_" + "x" * 43)
    assert status == 401 and body["error"]["field"] == "Authorization"
    assert http.call("POST", "/v1/orders", admin, {**order, "client_id": "scope-admin"})[0] == 201  # admin has all


def test_portfolio_orders_and_risk_read_the_actors(http: Http, deployment: dict) -> None:
    read = http.token("read")
    status, snap, _ = http.call("GET", "/v1/portfolio", read)
    assert status == 200 and {"positions", "pnl", "pnl_by_venue", "fees", "fills"} <= set(snap)
    status, risk, _ = http.call("GET", "/v1/risk", read)
    assert status == 200 and risk["trading_state"] == "ACTIVE" and risk["trading"] is True
    assert risk["limits"]["price_band_bps"] == 500.0 and risk["limits"]["max_order_notional"] == 100.0
    status, body, _ = http.call("GET", "/v1/orders?open=maybe", read)
    assert status == 422 and body["error"]["field"] == "open"


@pytest.mark.parametrize("change, field", [
    ({"side": "hold"}, "side"),
    ({"amount": -1}, "amount"),
    ({"amount": "ten"}, "amount"),
    ({"type": "stop"}, "type"),
    ({"type": "limit"}, "price"),
    ({"price": 0.001}, "price"),
    ({"symbol": "XRPETH"}, "symbol"),
    ({"client_id": "has space"}, "client_id"),
    ({"leverage": 10}, "leverage"),
    ({"venue": "nowhere"}, "venue"),
    ({"symbol": "BTC/USDT"}, "symbol"),
])
def test_a_bad_order_is_422_naming_the_field(http: Http, deployment: dict, change: dict, field: str) -> None:
    trade = http.token("trade")
    status, body, _ = http.call("POST", "/v1/orders", trade,
                                {"venue": "emu", "symbol": SYMBOL, "side": "buy", "amount": 10, **change})
    assert status == 422 and body["error"]["field"] == field, body


def test_an_order_goes_through_risk_journal_and_venue(http: Http, deployment: dict) -> None:
    trade, read = http.token("trade"), http.token("read")
    order = {"venue": "emu", "symbol": SYMBOL, "side": "buy", "amount": 10, "client_id": "api-order-1"}
    status, placed, _ = http.call("POST", "/v1/orders", trade, order)
    assert status == 201 and not placed["duplicate"]
    assert placed["state"] in ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"), placed
    status, again, _ = http.call("POST", "/v1/orders", trade, order)  # the same client_id: nothing sent again
    assert status == 200 and again["duplicate"] and again["client_order_id"] == placed["client_order_id"]
    listed = {o["client_order_id"]: o for o in http.call("GET", "/v1/orders", read)[1]["orders"]}
    assert listed[placed["client_order_id"]]["amount"] == 10 and listed[placed["client_order_id"]]["side"] == "buy"
    assert not listed[placed["client_order_id"]]["external"]
    # a limit price far from the last trade breaks the price band: denied (409), and journaled as DENIED
    status, body, _ = http.call("POST", "/v1/orders", trade,
                                {**order, "type": "limit", "price": 1e-8, "client_id": "api-order-band"})
    assert status == 409 and "PRICE_OUTSIDE_BAND" in body["error"]["message"], body
    states = {o["client_order_id"]: o["state"] for o in http.call("GET", "/v1/orders", read)[1]["orders"]}
    assert "DENIED" in states.values()
    status, opened, _ = http.call("GET", "/v1/orders?open=true", read)
    assert status == 200 and opened["open_only"] and all(o["state"] != "DENIED" for o in opened["orders"])
    # time in force: a limit buy 2 % under the last trade takes nothing there; as IOC the venue expires it at once
    # (CANCELED, nothing open), where GTC would have left it resting
    url = deployment["deployment"]["venues"][0]["url"]
    with urllib.request.urlopen(f"{url}/api/v3/ticker/price?symbol={SYMBOL.replace('/', '')}", timeout=30) as r:
        below = round(float(json.loads(r.read())["price"]) * 0.98, 8)
    status, ioc, _ = http.call("POST", "/v1/orders", trade, {**order, "type": "limit", "price": below,
                                                             "time_in_force": "IOC", "client_id": "api-order-ioc"})
    assert status == 201 and (ioc["state"], ioc["filled"]) == ("CANCELED", 0.0), ioc
    assert ioc["client_order_id"] not in {o["client_order_id"] for o in
                                          http.call("GET", "/v1/orders?open=true", read)[1]["orders"]}


def test_halt_refuses_orders_until_resume(http: Http, deployment: dict) -> None:
    admin, trade, read = http.token("admin"), http.token("trade"), http.token("read")
    order = {"venue": "emu", "symbol": SYMBOL, "side": "buy", "amount": 10}
    status, body, _ = http.call("POST", "/v1/risk/halt", admin, {"reason": "api test"})
    assert status == 200 and body == {"trading_state": "HALTED", "reason": "api test"}
    assert http.call("GET", "/v1/risk", read)[1]["trading_state"] == "HALTED"
    status, body, _ = http.call("POST", "/v1/orders", trade, {**order, "client_id": "while-halted"})
    assert status == 409 and "TRADING_HALTED" in body["error"]["message"]
    status, body, _ = http.call("POST", "/v1/risk/resume", admin)  # the body is optional
    assert status == 200 and body["trading_state"] == "ACTIVE"
    assert http.call("POST", "/v1/orders", trade, {**order, "client_id": "after-resume"})[0] == 201
    assert http.call("POST", "/v1/risk/halt", admin, {"reason": ""})[0] == 422


def test_rate_limit_answers_429(http: Http, deployment: dict) -> None:
    slow = http.token("read", rate_per_s=0.01, burst=2)
    statuses = [http.call("GET", "/v1/orders", slow)[0] for _ in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429


def test_fuzzed_requests_never_answer_5xx(http: Http, deployment: dict) -> None:
    """Generated requests (valid and schema-breaking) at each trading route, an admin token: every answer is
    below 500 and in the one error shape (tests/api/test_fuzz.py fuzzes the other routes)."""
    import schemathesis

    from tests.api._fuzz import fuzz_operation

    token = http.token("admin")
    schema = schemathesis.openapi.from_url(f"{http.base}/openapi.json")
    statuses: dict[int, int] = {}
    seen = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label not in TRADING:
            continue
        seen.add(operation.label)
        fuzz_operation(operation, lambda case: case.call(base_url=http.base, headers={"Authorization": f"Bearer {token}"}),
                       at_least=20, max_examples=20, statuses=statuses)
    assert seen == set(TRADING) and max(statuses) < 500 and statuses.get(422, 0) > 0
    http.call("POST", "/v1/risk/resume", token)  # a generated halt may have come last
