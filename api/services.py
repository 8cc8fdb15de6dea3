"""What a running API instance holds: the async Redis client, the authenticator and the health probe.

Built once per replica (or per in-process app in tests) and reachable from
routes as ``request.app.state.services``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from api.auth import Authenticator
from api.settings import ApiSettings

__all__ = ["Services", "redis_health"]

#: returns Ray cluster facts and replica identity for /v1/health
Probe = Callable[[], Awaitable[tuple[dict[str, Any], dict[str, Any]]]]


async def _no_ray() -> tuple[dict[str, Any], dict[str, Any]]:
    return {"reachable": False, "detail": "not running under Ray Serve"}, {"pid": os.getpid()}


@dataclass
class Services:
    """Per-instance runtime state (not a message: holds live clients).

    Attributes:
        settings: the application's settings.
        redis: a ``redis.asyncio.Redis`` client (``decode_responses=True``).
        authenticator: token lookup + rate limit over ``redis``.
        probe: Ray facts and replica identity for the health route.
    """

    settings: ApiSettings
    redis: Any
    authenticator: Authenticator
    probe: Probe = field(default=_no_ray)
    #: non-secret id ``raytrader serve up`` gives each deployment; ``serve up``/``status`` compare it with the
    #: answer of ``GET /v1/ready`` to be sure the server on the port is this cluster's API ("" when unset)
    deployment_id: str = ""

    @classmethod
    def connect(cls, settings: ApiSettings, redis_url: str, probe: Probe | None = None,
                deployment_id: str = "") -> "Services":
        """Services over a new Redis client for ``redis_url`` (connects lazily, on first use).

        The client reconnects by itself: after a Redis restart on the same address with the
        same password (``raytrader up`` keeps both), the next command opens a new connection;
        until then commands fail fast (2 s timeouts) and the API answers 503 with ``Retry-After``.
        """
        import redis.asyncio as aioredis  # noqa: PLC0415 - deferred: keeps this module cheap to import

        client = aioredis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=2.0,
                                         socket_connect_timeout=2.0, health_check_interval=30)
        return cls(settings=settings, redis=client, authenticator=Authenticator(client), probe=probe or _no_ray,
                   deployment_id=deployment_id)

    async def close(self) -> None:
        await self.redis.aclose()


async def redis_health(redis: Any, timeout_s: float = 2.0) -> dict[str, Any]:
    """``{"ok": bool, "latency_ms": float}`` from one PING (never raises)."""
    t0 = time.perf_counter()
    try:
        ok = bool(await asyncio.wait_for(redis.ping(), timeout_s))
    except Exception as exc:  # noqa: BLE001 - health reports, it does not fail
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": ok, "latency_ms": round((time.perf_counter() - t0) * 1000, 3)}
