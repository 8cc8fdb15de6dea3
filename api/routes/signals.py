"""``POST /v1/signals/{strategy}`` and ``POST /v1/signals/{strategy}/batch`` (scope ``signal``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.security import HTTPBearer

from api.guard import requires
from api.routes._errors import to_api_error
from api.schemas import BatchRequest, BatchResponse, BatchResultOut, ErrorResponse, SignalOut, SignalRequest, to_bars
from api.signals import compute_signal
from market.errors import InputError

__all__ = ["router"]

#: documents the bearer scheme in OpenAPI; the check itself is api.guard's
bearer = HTTPBearer(auto_error=False, description="a token from `raytrader tokens add NAME --scopes signal,read`")

_ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 429)}

router = APIRouter(prefix="/v1/signals", tags=["signals"], dependencies=[Depends(bearer)], responses=_ERRORS)

StrategyName = Path(max_length=64, description="a registered single-asset strategy, e.g. sma_cross")


@router.post("/{strategy}", response_model=SignalOut, summary="the strategy's target at the last posted bar")
@requires("signal")
async def signal(body: SignalRequest, strategy: str = StrategyName) -> SignalOut:
    try:
        result = compute_signal(strategy, to_bars(body.bars), body.params)
    except InputError as exc:
        raise to_api_error(exc) from None
    return SignalOut(**result.to_dict())


@router.post("/{strategy}/batch", response_model=BatchResponse, summary="signals for many series in one call")
@requires("signal")
async def batch(body: BatchRequest, strategy: str = StrategyName) -> BatchResponse:
    results = []
    for i, item in enumerate(body.items):
        try:
            result = compute_signal(strategy, to_bars(item.bars, symbol=item.symbol), item.params)
        except InputError as exc:
            raise to_api_error(exc, prefix=f"items[{i}].") from None
        results.append(BatchResultOut(symbol=item.symbol, **result.to_dict()))
    return BatchResponse(results=results)
