"""The API's application metrics: requests and latency per route (``ray.util.metrics``, exported by Ray).

:class:`RequestMetrics` is the outermost ASGI middleware of the app
(:func:`api.server.create_app`), so requests the guard refuses (403, 413,
429, ...) are counted too. Tags: ``route`` is the route's *template*
(``/v1/signals/{name}``), never the raw path, and ``unmatched`` for paths no
route has; ``method``; ``status`` the status class (``2xx``, ``4xx``, ``5xx``).
So the tag values stay few whatever clients send.

In Prometheus (Ray's prefix ``ray_``): ``ray_raytrader_api_requests_total``
and ``ray_raytrader_api_latency_ms_bucket|_sum|_count``. The trading side's
metrics are in :mod:`actors.metrics`.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Iterable

from starlette.routing import Match

__all__ = ["API_METRICS", "RequestMetrics", "route_template", "status_class"]

log = logging.getLogger(__name__)

#: name -> (kind, description, tag keys, histogram boundaries in ms)
API_METRICS: dict[str, tuple[str, str, tuple[str, ...], tuple[float, ...]]] = {
    "raytrader_api_requests": ("counter", "API requests answered, per route template, method and status class",
                               ("route", "method", "status"), ()),
    "raytrader_api_latency_ms": ("histogram", "API request latency inside the replica (first byte in to the "
                                              "last byte out), ms", ("route", "method"),
                                 (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0)),
}


def status_class(code: int) -> str:
    """``200`` -> ``2xx``; anything outside 100..599 -> ``other``."""
    return f"{code // 100}xx" if 100 <= code <= 599 else "other"


def route_template(routes: Iterable[Any], scope: dict[str, Any]) -> str:
    """The path template of the first route that fully matches ``scope`` (``unmatched`` when none does).

    Routes without a ``path`` template are skipped: FastAPI (0.165) puts an included router into ``app.routes``
    as one lazy container that matches its routes' paths but names none of them, so the API's own routes must
    be among ``routes`` (see :func:`api.server.create_app`)."""
    partial = None
    for route in routes:
        if not isinstance(getattr(route, "path", None), str):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(route.path)
        if match is Match.PARTIAL and partial is None:  # the path matches, the method does not (405)
            partial = str(route.path)
    return partial or "unmatched"


@functools.cache
def _metric(name: str) -> Any:
    from ray.util import metrics as ray_metrics  # noqa: PLC0415 - created on first request, inside the replica

    kind, description, tag_keys, boundaries = API_METRICS[name]
    if kind == "counter":
        return ray_metrics.Counter(name, description=description, tag_keys=tag_keys)
    return ray_metrics.Histogram(name, description=description, boundaries=list(boundaries), tag_keys=tag_keys)


class RequestMetrics:
    """ASGI middleware: counts each HTTP request and observes its latency, tagged by route template."""

    def __init__(self, app: Any, routes: Iterable[Any]) -> None:
        self.app = app
        self.routes = list(routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status["code"] = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status["code"], (time.perf_counter() - t0) * 1000.0)

    def _record(self, scope: dict[str, Any], code: int, elapsed_ms: float) -> None:
        try:
            matched = scope.get("route")  # set by the router on the shared scope once it matched
            route = str(getattr(matched, "path", "")) or route_template(self.routes, scope)
            method = str(scope.get("method", "GET"))
            _metric("raytrader_api_requests").inc(1, tags={"route": route, "method": method,
                                                          "status": status_class(code)})
            _metric("raytrader_api_latency_ms").observe(elapsed_ms, tags={"route": route, "method": method})
        except Exception as exc:  # noqa: BLE001 - a metric must never fail a request
            log.debug("api metric not recorded: %s", type(exc).__name__)
