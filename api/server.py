"""The FastAPI application, without Ray: :func:`create_app` builds it from settings and services.

The Serve deployment (:mod:`api.app`) calls it once per replica; tests may
call it in-process (against a real Redis) to fuzz it through ASGI.
Error handlers turn every failure into the one JSON error shape of
:mod:`api.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from pydantic.json_schema import models_json_schema
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OpenAPI
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import LOGGER_NAME, ApiError, error_body
from api.guard import Guard
from api.inflight import InflightLimits, OpenStreams
from api.metrics import RequestMetrics
from api.routes import ROUTERS
from api.routes.signals import REQUEST_MODELS
from api.routes._errors import to_api_error
from api.schemas import field_path
from api.services import Services
from raytrader.errors import InputError

__all__ = ["create_app", "API_VERSION"]

API_VERSION = "1.0.0"
log = logging.getLogger(LOGGER_NAME)

DESCRIPTION = """Signals from the same strategy functions the backtests run.

Authenticate with `Authorization: Bearer <token>` (create one with
`raytrader tokens add NAME --scopes signal,read`). Scopes: `read` (strategies,
health), `signal` (signals, stream), `trade`, `admin` (all). Every error is
`{"error": {"code", "message", "field"}}`; `field` names the request part at fault.
"""


def _json(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, field), status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _json(exc.status, exc.message, exc.field, exc.headers)


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    err = to_api_error(exc)  # type: ignore[arg-type]
    return _json(err.status, err.message, err.field)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if not errors:
        return _json(422, "invalid request", None)
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    field = field_path(loc)
    kind = first.get("type", "")
    if kind == "json_invalid":
        return _json(422, "body: not valid JSON", "body")
    msg = str(first.get("msg", "invalid value"))
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return _json(422, f"{field}: {msg}{more}", field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    messages = {404: "no such route", 405: "method not allowed on this route"}
    message = messages.get(status) or (exc.detail if isinstance(exc.detail, str) else "request refused")
    return _json(status, message, "body" if status in (408, 413) else None, dict(exc.headers or {}) or None)


def _with_request_models(app: FastAPI) -> None:
    """Add the hand-read request models (:data:`api.routes.signals.REQUEST_MODELS`) to the OpenAPI components.

    Their routes read the body themselves (:func:`api.body.read_model`) and
    reference ``#/components/schemas/<Model>`` through ``openapi_extra``;
    FastAPI only collects models of declared parameters, so the schemas
    (and the models they nest) are merged in here, as FastAPI would write them.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = generate()
        _, defs = models_json_schema([(m, "validation") for m in REQUEST_MODELS],
                                     ref_template="#/components/schemas/{model}")
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in defs.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        doc["components"]["schemas"] = dict(sorted(schemas.items()))
        # the same normalisation FastAPI applies to its own document (drops null defaults, typed numbers)
        app.openapi_schema = jsonable_encoder(OpenAPI(**doc), by_alias=True, exclude_none=True)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(services: Services) -> FastAPI:
    """The API as a FastAPI app over ``services`` (closed at the app's shutdown).

    The guard (allowlist, size limit, auth, in-flight limits, body-read
    timeout) wraps every route; see :mod:`api.guard`.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(title="raytrader API", version=API_VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.state.services = services
    app.state.streams = OpenStreams(services.settings.max_streams)
    for router in ROUTERS:
        app.include_router(router)
    _with_request_models(app)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    settings = services.settings
    limits = InflightLimits(per_token_limit=settings.max_inflight_per_token, total_limit=settings.max_inflight)
    api_routes = [r for router in ROUTERS for r in router.routes]
    app.add_middleware(Guard, allowlist=settings.allowlist, max_body_bytes=settings.max_body_bytes,
                       routes=api_routes, authenticator=lambda: services.authenticator,
                       limits=limits, body_timeout_s=settings.body_timeout_s)
    # outermost: counts what the guard refuses too; the API's routes by name (app.routes holds them in a container)
    app.add_middleware(RequestMetrics, routes=[*app.routes, *api_routes])
    return app
