"""``POST /v1/signals/{strategy}`` and ``POST /v1/signals/{strategy}/batch`` (scope ``signal``).

The handlers read the body themselves (:func:`api.body.read_model`,
pydantic-core's JSON parser, the same errors as a FastAPI body parameter)
and answer with orjson-encoded JSON; the OpenAPI document still declares
the request models (``openapi_extra``) and the response models.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPBearer

from api.body import body_openapi, read_model
from api.guard import requires
from api.responses import FastJSONResponse
from api.routes._errors import to_api_error
from api.schemas import BatchRequest, BatchResponse, BatchResultOut, ErrorResponse, SignalOut, SignalRequest, to_bars
from api.signals import compute_signal
from raytrader.errors import InputError

__all__ = ["router", "REQUEST_MODELS"]

#: documents the bearer scheme in OpenAPI; the check itself is api.guard's
bearer = HTTPBearer(auto_error=False, description="a token from `raytrader tokens add NAME --scopes signal,read`")

_ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 413, 422, 429)}

#: request bodies read by hand here; api.server adds their schemas to the OpenAPI components
REQUEST_MODELS = (SignalRequest, BatchRequest)

router = APIRouter(prefix="/v1/signals", tags=["signals"], dependencies=[Depends(bearer)], responses=_ERRORS)

StrategyName = Path(max_length=64, description="a registered single-asset strategy, e.g. sma_cross")


@router.post("/{strategy}", response_model=SignalOut, response_class=FastJSONResponse,
             summary="the strategy's target at the last posted bar", openapi_extra=body_openapi(SignalRequest))
@requires("signal")
async def signal(request: Request, strategy: str = StrategyName) -> FastJSONResponse:
    body = await read_model(request, SignalRequest)
    try:
        result = compute_signal(strategy, to_bars(body.bars), body.params)
    except InputError as exc:
        raise to_api_error(exc) from None
    return FastJSONResponse(SignalOut(**result.to_dict()).model_dump(mode="json"))


@router.post("/{strategy}/batch", response_model=BatchResponse, response_class=FastJSONResponse,
             summary="signals for many series in one call", openapi_extra=body_openapi(BatchRequest))
@requires("signal")
async def batch(request: Request, strategy: str = StrategyName) -> FastJSONResponse:
    body = await read_model(request, BatchRequest)
    results = []
    for i, item in enumerate(body.items):
        try:
            result = compute_signal(strategy, to_bars(item.bars, symbol=item.symbol), item.params)
        except InputError as exc:
            raise to_api_error(exc, prefix=f"items[{i}].") from None
        results.append(BatchResultOut(symbol=item.symbol, **result.to_dict()))
    return FastJSONResponse(BatchResponse(results=results).model_dump(mode="json"))
