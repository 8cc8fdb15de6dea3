"""The API on real Ray Serve (shared test cluster) and real Redis: auth, limits, validation, signals, stream, CLI.

Deployed once for the package (fixture ``live_api``). The last test drives
``raytrader serve up|status|down`` and ``raytrader tokens`` and shuts Serve
down, so it stays last in this file.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.auth import hash_token
from api.client import ApiClientError, RaytraderClient
from api.schemas import BarsIn, to_bars
from cluster.commands.serve import EXAMPLE_BODY
from strategies.registry import get_strategy
from tests.api._fuzz import check_response
from tests.api.conftest import LiveApi, bars_payload
from tests._trade import wait_for

pytestmark = pytest.mark.ray


def call(url: str, method: str = "GET", body: Any = None, token: str | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; asserts the answer is not a 5xx, has no traceback and errors are the JSON shape."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, hdrs, text = resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, hdrs, text = exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()
    check_response(status, text, hdrs)
    return status, hdrs, json.loads(text)


def signal_url(api: LiveApi, strategy: str = "sma_cross") -> str:
    return f"{api.base_url}/v1/signals/{strategy}"



def _sma_cross_position(close: list[float], fast: int, slow: int) -> float:
    """The long-only SMA-cross position after the last bar, by a plain loop (the strategy's documented contract)."""
    position, prev = 0.0, None
    for t in range(slow - 1, len(close)):
        d = sum(close[t - fast + 1:t + 1]) / fast - sum(close[t - slow + 1:t + 1]) / slow
        if prev is not None and d > 0 >= prev:
            position = 1.0
        elif prev is not None and d < 0 <= prev:
            position = 0.0
        prev = d
    return position

def test_signal_is_the_registered_strategy_on_the_same_bars(live_api: LiveApi) -> None:
    token = live_api.token("sig")
    payload = bars_payload(300, seed=7)
    client = RaytraderClient(live_api.base_url, token)
    expected_bars = to_bars(BarsIn(**payload))
    for params in ({"fast": 5, "slow": 20}, {"fast": 12, "slow": 48}, {}):
        got = client.signal("sma_cross", payload, params)
        expected = get_strategy("sma_cross").run(expected_bars, params)
        assert got["position"] == float(expected[-1])
        assert got["bar_timestamp"] == payload["timestamp"][-1]
        assert got["bar_time"] == "2023-11-15T03:12:00.000Z"
        assert set(got["indicators"]) == {"sma_fast", "sma_slow"}
    got = client.signal("ema_cross", payload, {"short": 0})
    assert got["position"] == float(get_strategy("ema_cross").run(expected_bars, {"short": 0})[-1])


def test_batch_equals_single_calls(live_api: LiveApi) -> None:
    token = live_api.token("batch")
    client = RaytraderClient(live_api.base_url, token)
    items = [(f"S{i}", bars_payload(120, seed=i), {"fast": 4 + i, "slow": 30}) for i in range(4)]
    results = client.batch("sma_cross", items)
    assert [r["symbol"] for r in results] == ["S0", "S1", "S2", "S3"]
    for (_symbol, bars, params), result in zip(items, results):
        single = client.signal("sma_cross", bars, params)
        assert {k: result[k] for k in single} == single


def test_authentication_and_scopes(live_api: LiveApi) -> None:
    body = {"bars": bars_payload(50)}
    status, headers, err = call(signal_url(live_api), "POST", body)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert err["error"] == {"code": "unauthorized", "message": "missing bearer token", "field": "Authorization"}
    status, headers, err = call(signal_url(live_api), "POST", body, token="rt_not-a-real-token")
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    reader = live_api.token("reader", "read")
    status, _, err = call(signal_url(live_api), "POST", body, token=reader)
    assert status == 403 and "signal" in err["error"]["message"]
    assert call(f"{live_api.base_url}/v1/strategies", token=reader)[0] == 200
    signaller = live_api.token("signaller", "signal")
    assert call(f"{live_api.base_url}/v1/health", token=signaller)[0] == 403
    admin = live_api.token("admin", "admin")
    assert call(signal_url(live_api), "POST", body, token=admin)[0] == 200
    assert call(f"{live_api.base_url}/v1/health", token=admin)[0] == 200


def test_revoked_token_is_refused_at_once(live_api: LiveApi) -> None:
    from api.auth import revoke_token

    token = live_api.token("shortlived")
    assert call(f"{live_api.base_url}/v1/strategies", token=token)[0] == 200
    revoke_token(live_api.redis, "shortlived")
    status, _, err = call(f"{live_api.base_url}/v1/strategies", token=token)
    assert status == 401 and err["error"]["message"] == "invalid or revoked token"


def test_rate_limit_answers_429_with_retry_after(live_api: LiveApi) -> None:
    token = live_api.token("slow", rate_per_s=0.2, burst=3)
    statuses = [call(f"{live_api.base_url}/v1/strategies", token=token)[:2] for _ in range(5)]
    assert [s for s, _ in statuses] == [200, 200, 200, 429, 429]
    retry = int(statuses[3][1]["retry-after"])
    assert 1 <= retry <= 5  # one credit at 0.2/s takes at most 5 s


def test_allowlist_refuses_other_addresses(live_api: LiveApi) -> None:
    token = live_api.token("allow", "admin")
    status, _, err = call(f"{live_api.deny_url}/v1/strategies", token=token)
    assert status == 403 and err["error"]["field"] == "client"
    assert call(f"{live_api.base_url}/v1/strategies", token=token)[0] == 200


def test_request_size_limit(live_api: LiveApi) -> None:
    token = live_api.token("big")
    big = {"bars": bars_payload(3000)}  # ~ 300 KB of JSON, the test app allows 64 KiB
    status, _, err = call(signal_url(live_api), "POST", big, token=token)
    assert status == 413 and err["error"]["code"] == "payload_too_large"
    # a chunked body has no Content-Length: it is counted as it is read
    conn = http.client.HTTPConnection("127.0.0.1", live_api.port, timeout=60)
    chunks = (json.dumps(big).encode()[i:i + 8192] for i in range(0, 400_000, 8192))
    conn.request("POST", "/v1/signals/sma_cross", body=chunks, encode_chunked=True,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 413, text
    check_response(resp.status, text, {k.lower(): v for k, v in resp.getheaders()})


@pytest.mark.parametrize("mutate, params, status, field", [
    (lambda b: b["close"].__setitem__(17, float("nan")), {}, 422, "bars.close[17]"),
    (lambda b: b["high"].__setitem__(40, 1e-9), {}, 422, "bars.high[40]"),
    (lambda b: b["timestamp"].__setitem__(3, b["timestamp"][2]), {}, 422, "bars.timestamp[3]"),
    (lambda b: b["volume"].pop(), {}, 422, "bars.volume"),
    (None, {"fast": 40, "slow": 20}, 422, "params"),
    (None, {"speed": 3}, 422, "params.speed"),
    (None, {"fast": "ten"}, 422, "params.fast"),
    (None, {"slow": 500}, 422, "bars"),
])
def test_validation_errors_name_the_field(live_api: LiveApi, mutate: Any, params: dict, status: int,
                                          field: str) -> None:
    token = live_api.token(f"val-{field}-{len(params)}".replace("[", "").replace("]", ""))
    bars = bars_payload(100)
    if mutate:
        mutate(bars)
    raw = json.dumps({"bars": bars, "params": params}).encode()  # json.dumps writes NaN as the token NaN
    got_status, _, err = call(signal_url(live_api), "POST", raw=raw, token=token)
    assert (got_status, err["error"]["field"]) == (status, field), err
    assert err["error"]["message"].startswith(field) or field == "params"
    if field == "params":
        assert "fast < slow" in err["error"]["message"]


def test_other_refusals(live_api: LiveApi) -> None:
    token = live_api.token("refusals")
    status, _, err = call(signal_url(live_api, "no_such"), "POST", {"bars": bars_payload(40)}, token=token)
    assert status == 404 and err["error"]["field"] == "strategy" and "sma_cross" in err["error"]["message"]
    status, _, err = call(signal_url(live_api, "pairs_trading"), "POST", {"bars": bars_payload(40)}, token=token)
    assert status == 422 and err["error"]["field"] == "strategy"
    status, _, err = call(signal_url(live_api), "POST", raw=b'{"bars": [', token=token)
    assert status == 422 and err["error"]["field"] == "body"
    bad = bars_payload(40)
    bad["high"][3] = 1e-6
    status, _, err = call(f"{signal_url(live_api)}/batch", "POST",
                          {"items": [{"symbol": "A", "bars": bars_payload(40)}, {"symbol": "B", "bars": bad}]},
                          token=token)
    assert status == 422 and err["error"]["field"] == "items[1].bars.high[3]"
    status, _, err = call(f"{live_api.base_url}/v1/nothing", token=token)
    assert status == 404 and err["error"]["code"] == "not_found"
    status, _, err = call(f"{live_api.base_url}/v1/strategies", "DELETE", token=token)
    assert status == 405


def test_strategies_and_health(live_api: LiveApi) -> None:
    client = RaytraderClient(live_api.base_url, live_api.token("meta", "read"))
    listing = {s["name"]: s for s in client.strategies()}
    sma = listing["sma_cross"]
    assert [p["name"] for p in sma["params"]] == ["fast", "slow"]
    assert sma["constraints"] == ["fast < slow"] and sma["min_bars_at_defaults"] == 31 and sma["served"]
    assert listing["pairs_trading"]["multi_asset"] and not listing["pairs_trading"]["served"]
    health = client.health()
    assert health["status"] == "ok"
    assert health["redis"]["ok"] and health["ray"]["reachable"] and health["ray"]["nodes_alive"] >= 1
    assert health["replica"]["app"] == "rt-api" and health["replica"]["deployment"] == "SignalsIngress"


def test_websocket_pushes_one_signal_per_bar(live_api: LiveApi) -> None:
    from websockets.sync.client import connect

    token = live_api.token("ws")
    payload = bars_payload(60, seed=11)
    client = RaytraderClient(live_api.base_url, token)
    messages = list(client.stream("sma_cross", payload, {"fast": 3, "slow": 10}, window=25))
    assert len(messages) == 60
    assert [m["type"] for m in messages[:10]] == ["warmup"] * 10 and messages[10]["type"] == "signal"
    bars = to_bars(BarsIn(**payload))
    for t in (10, 30, 59):  # the signal is the strategy on the last `window` bars
        window = bars.take(slice(max(0, t + 1 - 25), t + 1))
        assert messages[t]["position"] == float(get_strategy("sma_cross").run(window, {"fast": 3, "slow": 10})[-1])
        assert messages[t]["bars"] == min(t + 1, 25)
    # header authentication, a bad bar (kept open), then a token without the scope
    url = live_api.base_url.replace("http", "ws") + "/v1/stream/sma_cross"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "authenticated"
        bar = {c: payload[c][0] for c in ("timestamp", "open", "high", "low", "close", "volume")}
        ws.send(json.dumps({"bar": {**bar, "high": 1e-9}}))
        err = json.loads(ws.recv(timeout=30))
        assert err["type"] == "error" and err["error"]["field"] == "bar.high"
        ws.send(json.dumps({"bar": bar}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "warmup", "bars": 1, "min_bars": 31}
    with pytest.raises(ApiClientError) as refused:
        list(RaytraderClient(live_api.base_url, live_api.token("ws-reader", "read")).stream("sma_cross", payload))
    assert refused.value.status == 403
    with pytest.raises(ApiClientError) as refused:
        list(RaytraderClient(live_api.base_url, "rt_wrong").stream("sma_cross", payload))
    assert refused.value.status == 401


def test_redis_holds_hashes_never_tokens(live_api: LiveApi) -> None:
    live_api.token("hashcheck")
    dump = []
    for key in live_api.redis.scan_iter("*"):
        kind = live_api.redis.type(key)
        value = live_api.redis.hgetall(key) if kind == "hash" else live_api.redis.dump(key)
        dump.append(f"{key} {value}")
    text = "\n".join(dump)
    assert live_api.tokens and all(token not in text for token in live_api.tokens)
    assert all(hash_token(token) in text for token in live_api.tokens[-1:])


def _stops_answering(url: str, timeout_s: float) -> bool:
    """True once nothing listens at ``url`` (connection refused) within ``timeout_s``; HTTP answers keep waiting."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError:
            pass
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_cli_tokens_and_serve_up_status_down(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last: replaces the test apps with `raytrader serve up` on the same port, then `serve down`."""
    from ray import serve

    from cluster.cli import main

    def cli(*argv: str) -> tuple[int, dict]:
        code = main([*argv, "--json"])
        out = capsys.readouterr().out.strip()
        return code, (json.loads(out.splitlines()[-1]) if out else {})  # a Ray driver may print above it

    code, added = cli("tokens", "add", "cli-user", "--scopes", "signal,read", "--rate", "20", "--burst", "40")
    assert code == 0 and added["token"].startswith("rt_") and added["scopes"] == ["read", "signal"]
    code, listed = cli("tokens", "list")
    entry = next(t for t in listed["tokens"] if t["name"] == "cli-user")
    assert entry["rate_per_s"] == 20.0 and entry["burst"] == 40 and added["token"] not in json.dumps(listed)
    assert main(["tokens", "add", "cli-user", "--scopes", "read"]) == 2       # name taken
    assert main(["tokens", "add", "x", "--scopes", "root"]) == 2              # unknown scope
    capsys.readouterr()

    # both at once, then polled every 0.1 s: a blocking serve.delete polls once a second (~3 s each, one after the other)
    for name in ("rt-api", "rt-api-deny"):
        serve.delete(name, _blocking=False)
    wait_for(lambda: not {"rt-api", "rt-api-deny"} & set(serve.status().applications), 60,
             "the test apps deleted", every_s=0.1)
    monkeypatch.setenv("RAYTRADER_SERVE__REPLICA_CPUS", "0.1")
    code, up = cli("serve", "up")
    serve_port = int(os.environ["RAYTRADER_SERVE__PORT"])
    # direct ingress: the replica answers on its own port, serve.port .. +9, not through the proxy
    assert code == 0 and up["status"] == "RUNNING" and up["url"] != live_api.base_url
    assert serve_port <= int(up["url"].rsplit(":", 1)[1]) <= serve_port + 9
    client = RaytraderClient(up["url"], added["token"])
    assert client.signal("sma_cross", bars_payload(40), {})["strategy"] == "sma_cross"

    # what `make run` does: the demo token goes to a 0600 file, never to stdout; twice in a row works
    for _ in range(2):
        code, up = cli("serve", "up", "--demo-token")
        assert code == 0 and "demo_token_file" in up
        token_file = Path(up["demo_token_file"])
        token = token_file.read_text().strip()
        assert token.startswith("rt_") and token not in json.dumps(up)
        assert token_file.stat().st_mode & 0o777 == 0o600
    body = json.loads(EXAMPLE_BODY.read_text())
    answer = RaytraderClient(up["url"], token).signal("sma_cross", body["bars"], body["params"])
    assert answer["bar_time"] == "2018-01-30T04:50:00.000Z"
    assert answer["position"] == _sma_cross_position(body["bars"]["close"], **body["params"])
    assert f"-d @{EXAMPLE_BODY}" in up["example_curl"] and "$(cat " in up["example_curl"]
    code, status = cli("serve", "status")
    assert code == 0 and status["status"] == "RUNNING"
    replicas = status["deployments"]["SignalsIngress"]["replicas"]
    assert replicas and all(r["state"] == "RUNNING" for r in replicas)

    code, revoked = cli("tokens", "revoke", "cli-user")
    assert code == 0 and revoked["revoked"] == "cli-user"
    with pytest.raises(ApiClientError) as refused:
        client.signal("sma_cross", bars_payload(40), {})
    assert refused.value.status == 401

    code, down = cli("serve", "down")
    assert code == 0 and down == {"removed": True, "serve_shut_down": True}
    code, status = cli("serve", "status")
    assert code == 1 and status["status"] == "NOT_DEPLOYED"
    for url, what in ((live_api.base_url, "the Serve proxy"), (up["url"], "the replica's direct-ingress port")):
        if not _stops_answering(url + "/v1/health", 30.0):
            pytest.fail(f"{what} still answers after `serve down`")
