"""Fixtures of the API tests: a real private redis-server (no Ray) and helpers to build bars."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import redis as redis_lib

from tests.conftest import free_port

#: the trading routes (503 while no trading deployment runs): fuzzed against a running one in
#: tests/api/test_trading_routes.py, left out of tests/api/test_fuzz.py's fuzz
TRADING_ROUTES = ("GET /v1/portfolio", "GET /v1/orders", "GET /v1/orders/parents", "POST /v1/orders", "GET /v1/risk",
                  "POST /v1/risk/halt", "POST /v1/risk/resume")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A password-protected redis-server on 127.0.0.1 (the binary `raytrader up` uses), stopped at the end."""
    from cluster.lifecycle import redis_server_binary

    port = free_port()
    password = secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="rt-api-redis-"))
    proc = subprocess.Popen(
        [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis_lib.Redis.from_url(url)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis_lib.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def bars_payload(n: int = 200, seed: int = 0, start_ms: int = 1_699_999_980_000, step_ms: int = 60_000) -> dict:
    """A valid random-walk OHLCV payload as column lists (the API's bars form)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n))
    return {"timestamp": [start_ms + i * step_ms for i in range(n)], "open": open_.tolist(), "high": high.tolist(),
            "low": low.tolist(), "close": close.tolist(), "volume": rng.uniform(1, 10, n).tolist()}


class LiveApi:
    """The API deployed on the shared test cluster: base URLs, a Redis client, token helpers."""

    def __init__(self, base_url: str, deny_url: str, port: int, redis_client: redis_lib.Redis) -> None:
        self.base_url = base_url
        self.deny_url = deny_url
        self.port = port
        self.redis = redis_client
        self.tokens: list[str] = []
        self._direct_port: int | None = None

    @property
    def direct_port(self) -> int:
        """The port where the ``rt-api`` replica answers itself (Serve direct ingress), as users call the API.

        Found as ``raytrader serve`` finds it: ``GET /-/routes`` on the
        direct-ingress ports ``serve.port .. +9``.
        """
        if self._direct_port is None:
            from raytrader.config import load_config

            first = load_config().serve.port
            for port in range(first, first + 10):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/routes", timeout=5) as resp:
                        routes = json.loads(resp.read().decode() or "{}")
                except (OSError, ValueError):
                    continue
                if routes.get("/") == "rt-api":
                    self._direct_port = port
                    break
            else:
                raise AssertionError(f"no direct-ingress port of rt-api in {first}..{first + 9}")
        return self._direct_port

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.direct_port}"

    def replica_log(self) -> Path:
        """The Serve replica log of the ``rt-api`` replica (found by the replica id ``/v1/health`` reports)."""
        from raytrader.config import load_config

        token = self.token(f"log-reader-{time.monotonic_ns()}", "read")
        request = urllib.request.Request(f"{self.direct_url}/v1/health", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            replica_id = json.loads(resp.read())["replica"]["replica_id"]
        temp = Path(load_config().cluster.temp_dir or "/tmp/ray")
        found = sorted(temp.glob(f"session_*/logs/serve/replica_rt-api_*{replica_id}*.log"))
        assert found, f"no replica log for {replica_id} under {temp}"
        return found[-1]

    @staticmethod
    def wait_for_log_line(path: Path, needle: str, timeout_s: float = 30.0) -> str:
        """The first line of ``path`` holding ``needle``, waiting up to ``timeout_s`` for it to be written."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in path.read_text(errors="replace").splitlines():
                if needle in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in {path}")
            time.sleep(0.2)

    def token(self, name: str, scopes: str = "signal,read", rate_per_s: float = 1000.0, burst: int = 1000) -> str:
        from api.auth import create_token

        token = create_token(self.redis, name, scopes, rate_per_s=rate_per_s, burst=burst)
        self.tokens.append(token)
        return token


@pytest.fixture(scope="package")
def live_api(cluster, ray_session) -> Iterator[LiveApi]:
    """The API on Ray Serve, deployed once for the package: app ``rt-api`` at ``/`` (allowlist 127.0.0.1)
    and app ``rt-api-deny`` at ``/deny`` (allowlist 10.0.0.0/8 only), on a free port on 127.0.0.1.

    ``test_serve.py`` ends with the CLI test, which replaces these apps and shuts Serve down; it runs last.
    """
    from ray import serve

    from api.app import SignalsIngress
    from api.settings import ApiSettings

    from cluster.commands.serve import proxy_port
    from raytrader.config import load_config

    port = proxy_port(load_config())  # the port `raytrader serve up` gives the proxy, so the CLI test can reuse it
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    small = {"autoscaling_config": None, "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}}
    # both apps in one call: their replicas start side by side instead of one after the other
    serve.run_many([
        serve.RunTarget(SignalsIngress.options(**small).bind(ApiSettings(max_body_bytes=65_536)),
                        name="rt-api", route_prefix="/"),
        serve.RunTarget(SignalsIngress.options(**small).bind(ApiSettings(allowlist=("10.0.0.0/8",))),
                        name="rt-api-deny", route_prefix="/deny")])
    client = redis_lib.Redis.from_url(cluster.redis.url(), decode_responses=True)
    for key in client.scan_iter("raytrader:api:*"):
        client.delete(key)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/deny", port, client)
    finally:
        try:
            serve.shutdown()
        finally:
            client.close()
