"""The Ray Serve application: one FastAPI ingress deployment, ``app = SignalsIngress.bind(settings)``.

Deploy with ``raytrader serve up`` (or ``serve deploy cluster/serve.yaml``
against the raytrader cluster); import path ``api.app:app``.

One replica (``num_replicas=1``, no autoscaling: with direct ingress each
replica listens on its own port and nothing balances between them), reserving
``0.25`` CPU so it fits the 2-core machine beside backtests, taking up to 64
requests at once. Serve's per-request access log is off (``logging_config``
``enable_access_log=False``), so no log line is written per signal.
``raytrader serve up`` may override CPUs from the ``[serve]`` config;
``cluster/serve.yaml`` repeats these options and must match.

Secrets never travel in the deployment's arguments or config (the
dashboard shows both): each replica reads the Redis URL itself, from
``REDIS_URL`` / ``[redis] url`` when set, else from the run folder's 0600
state file written by ``raytrader up`` (Ray workers inherit
``RAYTRADER_CLUSTER__HOME`` from the head, see :func:`cluster.rayenv.ray_env`).
The bound :class:`~api.settings.ApiSettings` hold only the allowlist and
size limits.

``raytrader serve up`` sets two non-secret variables in the application's
runtime environment: ``RAYTRADER_API_LISTEN`` (``host:port``, the API's
stable port ``serve.port``, which the replica serves itself, see
:mod:`api.listener`) and ``RAYTRADER_API_DEPLOYMENT_ID`` (answered by
``GET /v1/ready``, so the CLI can tell this deployment from another
cluster's). Deployed otherwise (``serve.run`` in tests), neither is set:
the replica answers only on the ports Serve gives it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
import ray
from ray import serve

from api.listener import StableListener
from api.server import create_app
from api.services import Services
from api.settings import ApiSettings
from api.signals import compute_signal
from market.bars import Bars

__all__ = ["SignalsIngress", "app", "redis_url_in_cluster", "settings_from_config", "LISTEN_ENV", "DEPLOYMENT_ID_ENV"]

LISTEN_ENV = "RAYTRADER_API_LISTEN"
DEPLOYMENT_ID_ENV = "RAYTRADER_API_DEPLOYMENT_ID"


def redis_url_in_cluster() -> str:
    """The Redis URL for this process: ``REDIS_URL``/config, else the private one recorded by ``raytrader up``.

    Raises:
        InputError: no Redis is configured or recorded.
    """
    from raytrader.state import cluster_redis_url  # noqa: PLC0415 - the config is read only when Redis is needed

    return cluster_redis_url()


def settings_from_config() -> ApiSettings:
    """The API settings of the ``[serve]`` config section (non-secret)."""
    from raytrader.config import load_config  # noqa: PLC0415 - deferred: keeps this module cheap to import

    serve_config = load_config().serve
    return ApiSettings.from_config(serve_config)


async def _probe() -> tuple[dict[str, Any], dict[str, Any]]:
    ctx = serve.get_replica_context()
    replica = {"app": ctx.app_name, "deployment": ctx.deployment, "replica_id": ctx.replica_id.unique_id,
               "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}
    try:
        nodes = await asyncio.wait_for(asyncio.to_thread(ray.nodes), 3.0)
    except Exception as exc:  # noqa: BLE001 - health reports, it does not fail
        return {"reachable": False, "error": type(exc).__name__}, replica
    alive = [n for n in nodes if n.get("Alive")]
    return {"reachable": True, "nodes_alive": len(alive),
            "cpus": float(sum((n.get("Resources") or {}).get("CPU", 0.0) for n in alive))}, replica


def _warm_up() -> None:
    """Run the JIT-compiled kernels once so the first request does not pay for numba compilation."""
    n = 64
    close = np.linspace(100.0, 110.0, n) + np.sin(np.arange(n))
    bars = Bars(timestamp=np.arange(n, dtype=np.int64) * 60_000, open=close, high=close + 1, low=close - 1,
                close=close, volume=np.ones(n), timeframe="1m")
    for name in ("sma_cross", "ema_cross"):
        compute_signal(name, bars, {})


@serve.deployment(
    ray_actor_options={"num_cpus": 0.25},
    num_replicas=1,
    max_ongoing_requests=64,
    logging_config={"enable_access_log": False},
    health_check_period_s=10,
    graceful_shutdown_timeout_s=5,
)
@serve.ingress()
class SignalsIngress:
    """The API replica: holds the Redis client and builds the FastAPI app (see :mod:`api.server`)."""

    def __init__(self, settings: ApiSettings) -> None:
        self._services = Services.connect(settings, redis_url_in_cluster(), probe=_probe,
                                          deployment_id=os.environ.get(DEPLOYMENT_ID_ENV, ""))
        self._listener: StableListener | None = None
        _warm_up()

    async def __serve_build_asgi_app__(self) -> Any:
        app = create_app(self._services)
        listen = os.environ.get(LISTEN_ENV, "")
        if listen:  # runs on the replica's user-code loop, the loop the app's Redis client lives on
            host, _, port = listen.rpartition(":")
            self._listener = StableListener(app, host.strip("[]"), int(port))
            self._listener.start()
        return app


app = SignalsIngress.bind(settings_from_config())
