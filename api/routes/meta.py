"""``GET /v1/strategies`` and ``GET /v1/health`` (scope ``read``), and ``GET /v1/ready`` (no token).

``/v1/ready`` is the probe for load balancers, ``raytrader serve up|status``
and people: it needs no token (so it still answers while Redis, the token
store, is down) and says only whether this replica can serve, plus the
non-secret deployment id. 200 ``{"status": "ok"}`` when Redis answers a
PING, else 503 ``{"status": "degraded"}`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.guard import requires
from api.routes.signals import bearer
from api.schemas import ErrorResponse, HealthResponse, ParamOut, StrategiesResponse, StrategyOut
from api.services import redis_health
from strategies.registry import get_strategy, list_strategies

__all__ = ["router", "ready_router", "strategies_listing", "ReadyResponse", "READY_PATH"]

READY_PATH = "/v1/ready"
#: seconds a client should wait before retrying while Redis is down
RETRY_AFTER_S = 1

router = APIRouter(prefix="/v1", tags=["meta"], dependencies=[Depends(bearer)],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 429)})


def strategies_listing() -> StrategiesResponse:
    """Every registered strategy with its parameter space, constraints and bar needs."""
    out = []
    for name in list_strategies():
        record = get_strategy(name)
        out.append(StrategyOut(
            name=record.name, doc=record.doc,
            params=[ParamOut(name=p.name, kind=p.kind, low=p.low, high=p.high, step=p.step, default=p.default,
                             doc=p.doc) for p in record.params],
            constraints=[c.description for c in record.constraints],
            min_bars_at_defaults=int(record.min_bars(record.defaults())),
            multi_asset=record.multi_asset, served=not record.multi_asset))
    return StrategiesResponse(strategies=out)


@router.get("/strategies", response_model=StrategiesResponse, summary="registered strategies and their parameter spaces")
@requires("read")
async def strategies() -> StrategiesResponse:
    return strategies_listing()


@router.get("/health", response_model=HealthResponse, summary="Ray, Redis and this replica")
@requires("read")
async def health(request: Request) -> HealthResponse:
    services = request.app.state.services
    (ray_info, replica), redis_info = await asyncio.gather(services.probe(), redis_health(services.redis))
    ok = bool(ray_info.get("reachable")) and bool(redis_info.get("ok"))
    return HealthResponse(status="ok" if ok else "degraded", ray=ray_info, redis=redis_info, replica=replica)


class ReadyResponse(BaseModel):
    status: str = Field(description="'ok' when this replica can serve (Redis answers), else 'degraded'")
    redis: str = Field(description="'ok' or 'down' (Redis holds the tokens: no authenticated call works while down)")
    deployment_id: str = Field(description="the id `raytrader serve up` gave this deployment ('' when deployed otherwise)")


#: no bearer scheme: this route needs no token
ready_router = APIRouter(prefix="/v1", tags=["meta"])


@ready_router.get("/ready", response_model=ReadyResponse, summary="can this replica serve? (no token needed)",
            responses={503: {"model": ReadyResponse, "description": "degraded: Redis is down; retry after Retry-After"}})
async def ready(request: Request) -> JSONResponse:
    services = request.app.state.services
    redis_info = await redis_health(services.redis)
    ok = bool(redis_info.get("ok"))
    body = ReadyResponse(status="ok" if ok else "degraded", redis="ok" if ok else "down",
                         deployment_id=services.deployment_id)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503,
                        headers=None if ok else {"Retry-After": str(RETRY_AFTER_S)})
