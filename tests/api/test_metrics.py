"""api/metrics.py without Ray: the route tag is the API route's template, found also for a request the guard
refuses before FastAPI routes it, and never the raw path."""

from __future__ import annotations

from fastapi import FastAPI

from api.metrics import route_template, status_class
from api.routes import ROUTERS


def _scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}


def test_the_route_tag_is_the_template_of_the_apis_own_routes() -> None:
    app = FastAPI()
    for router in ROUTERS:
        app.include_router(router)
    routes = [*app.routes, *(r for router in ROUTERS for r in router.routes)]  # as api.server.create_app passes
    assert route_template(routes, _scope("GET", "/v1/health")) == "/v1/health"
    assert route_template(routes, _scope("POST", "/v1/signals/sma_cross")) == "/v1/signals/{strategy}"
    assert route_template(routes, _scope("POST", "/v1/signals/x/batch")) == "/v1/signals/{strategy}/batch"
    assert route_template(routes, _scope("GET", "/v1/reports/run-123")) == "/v1/reports/{run_id}"
    # the path exists for another method (405): still its template; no route at all: one fixed value
    assert route_template(routes, _scope("GET", "/v1/signals/sma_cross")) == "/v1/signals/{strategy}"
    assert route_template(routes, _scope("GET", "/v1/no-such-route/42")) == "unmatched"
    assert route_template(routes, _scope("GET", "/openapi.json")) == "/openapi.json"  # FastAPI's own routes too
    # FastAPI's container for included routers names no template: skipped, never tagged with a raw path
    assert route_template(app.routes, _scope("GET", "/v1/health")) == "unmatched"


def test_status_classes() -> None:
    assert [status_class(c) for c in (200, 201, 401, 404, 429, 503, 99, 600)] == [
        "2xx", "2xx", "4xx", "4xx", "4xx", "5xx", "other", "other"]
