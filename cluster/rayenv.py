"""Ray's token authentication and the environment our Ray processes run in.

In ray 2.60 a head started with ``ray start`` enables token authentication
when ``RAY_AUTH_MODE=token`` is set or a token file exists; clients only send
the token when ``RAY_AUTH_MODE=token`` is set in *their* environment. So
raytrader (1) makes sure a token exists (``$RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token``, 0600, 256 random bits, Ray's own format), (2) starts
the head with ``RAY_AUTH_MODE=token`` and (3) sets it in its own process
before it talks to the cluster. The token is never printed.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from raytrader.config import Config

__all__ = ["token_path", "ensure_ray_token", "use_token_auth", "ray_env", "ray_token_headers", "serve_env",
           "startup_waits", "SINGLE_MACHINE_ENV", "NUMBA_ENV", "LOG_MONITOR_ENV"]


def token_path() -> Path:
    custom = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(custom).expanduser() if custom else Path.home() / ".ray" / "auth_token"


def ensure_ray_token() -> Path:
    """Create the Ray auth token file if it does not exist yet; return its path."""
    path = token_path()
    if os.environ.get("RAY_AUTH_TOKEN") or (path.is_file() and path.read_text().strip()):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path


#: Ray's switch for single-machine mode: with it off ("0") Ray keeps a 127.0.0.1 node address (its own
#: servers then bind loopback) instead of rewriting it to the machine's routable IP. The head and every
#: driver that joins it (``ray.init``) must agree, so raytrader sets it for both.
SINGLE_MACHINE_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


#: numba's cache locators for every process of the cluster: a Ray job's unpacked copy of our files
#: (``--working-dir``, ``py_modules``) uses the installed files' warm cache when the bytes are the same
#: (:mod:`raytrader.numba_cache`), then numba's own locators in numba's order
NUMBA_ENV = {"NUMBA_CACHE_LOCATOR_CLASSES": ",".join([
    "raytrader.numba_cache.InstalledCopyLocator", "UserProvidedCacheLocator", "InTreeCacheLocator",
    "UserWideCacheLocator", "IPythonCacheLocator", "ZipCacheLocator"])}


#: Ray's log monitor (one per node: it streams workers' output to drivers that ask for it, e.g. ``ray job logs``
#: of a user's script) looks for new log files on every 0.1 s pass while the node has fewer than
#: ``RAY_LOG_MONITOR_MANY_FILES_THRESHOLD`` (1,000) files, and every ``LOG_NAME_UPDATE_INTERVAL_S`` (0.5 s) above
#: it. A node that started many workers (three files each) paid for that glob ten times a second: "0" takes the
#: 0.5 s path from the first file (new workers' output reaches drivers up to 0.5 s later). Measured 2026-12-02 on
#: an idle head with 10 actors after 150 worker starts (~360 files): the log monitor 2.31 -> 1.03 CPU-s in 40 s;
#: in two-worker `make test` runs the log monitors' CPU went 80 -> 37 CPU-s.
LOG_MONITOR_ENV = {"RAY_LOG_MONITOR_MANY_FILES_THRESHOLD": "0"}


def use_token_auth() -> None:
    """Make this process (and the children it starts) talk to Ray with the token, as a single-machine driver."""
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.update(SINGLE_MACHINE_ENV)


def _token() -> str:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    try:
        return token_path().read_text().strip()
    except FileNotFoundError:
        return ""


def ray_token_headers() -> dict[str, str]:
    """HTTP headers that authenticate to the dashboard / Jobs API."""
    token = _token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def ray_env(config: Config) -> dict[str, str]:
    """Environment for the Ray head: token auth on, our venv first on PATH, our config visible to jobs, numba's
    cache shared with unpacked copies of our files (:data:`NUMBA_ENV`; a value the user set wins).

    The venv's ``bin`` goes first on PATH so that a job entrypoint ``python -m jobs.x``
    (also from plain ``ray job submit``) runs with the interpreter raytrader is installed in.
    """
    env = dict(os.environ)
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(SINGLE_MACHINE_ENV)  # every Ray server of the head binds 127.0.0.1
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["RAYTRADER_CLUSTER__HOME"] = str(config.cluster.home)
    env["RAYTRADER_DATA__STORE"] = str(config.data.store)
    env.update(serve_env(config))
    for name, value in {**NUMBA_ENV, **LOG_MONITOR_ENV, **startup_waits(config)}.items():
        env.setdefault(name, value)  # a value the user set wins
    return env


def startup_waits(config: Config) -> dict[str, str]:
    """Ray's own start-up waits that a setting can change, as long as ``cluster.start_timeout_s`` (at least
    their defaults): a busy machine then fails a start only by raytrader's one deadline, whose error says what
    was still missing (``cluster/lifecycle.py``), not by a shorter wait inside ``ray start``.

    ``RAY_DASHBOARD_STARTUP_TIMEOUT_S`` (default 60 s): the dashboard head's imports; ``RAY_gcs_server_port_wait_time_s``
    (default 30 s): the GCS's port file. Not settable: the raylet's 15 s wait for the dashboard agent's port
    (``cluster/raylet_start.py`` removes the race) and the 30 s wait for the raylet to register (``up`` retries).
    """
    wait_s = int(max(config.cluster.start_timeout_s, 1))
    return {"RAY_DASHBOARD_STARTUP_TIMEOUT_S": str(max(wait_s, 60)),
            "RAY_gcs_server_port_wait_time_s": str(max(wait_s, 30))}


def serve_env(config: Config) -> dict[str, str]:
    """Ray Serve settings for the API's latency and its stable port (README "API latency", "serve").

    ``RAY_SERVE_THROUGHPUT_OPTIMIZED`` runs user code and the router on the
    replica's own loop and turns on *direct ingress*: each replica answers
    HTTP itself on a port Serve picks from ``serve.port + 1 .. + 9``,
    skipping the proxy's two extra hops. Serve moves a killed replica to the
    next port of that range, so the port users hold, ``serve.port``, is
    served by the replica itself (:mod:`api.listener`, enabled by ``serve
    up``), and Serve's proxy listens on ``serve.port + 10``. These ports are
    fixed when the head starts (the variables below are read by Serve's
    controller), so ``serve up`` refuses a ``serve.port`` changed since
    ``up``. Everything binds 127.0.0.1; HAProxy mode stays off because it
    binds all interfaces.
    """
    port = config.serve.port
    return {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_DEFAULT_HTTP_HOST": config.serve.host,
        # Serve's allocator takes ports from range(MIN, MAX): MAX itself is never handed out
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port + 1),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + 10),
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
        "RAY_SERVE_ENABLE_HA_PROXY": "0",
    }
