"""``GET /v1/strategies`` and ``GET /v1/health`` (scope ``read``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request

from api.guard import requires
from api.routes.signals import bearer
from api.schemas import ErrorResponse, HealthResponse, ParamOut, StrategiesResponse, StrategyOut
from api.services import redis_health
from strategies.registry import get_strategy, list_strategies

__all__ = ["router", "strategies_listing"]

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
