"""The running trading deployment over HTTP: portfolio, orders, risk; halt and resume.

=======================  ======  ==================================================================
route                    scope   answer
=======================  ======  ==================================================================
``GET /v1/portfolio``    read    positions, PnL per quote currency and per venue, fees (PortfolioActor)
``GET /v1/orders``       read    every order the OMS knows; ``?open=true``: those still in flight
``POST /v1/orders``      trade   a hand-made order through the OMS's pre-trade check, journal, send:
                                 201 with its state; 200 when ``client_id`` was used before (the
                                 existing order, nothing sent); 409 when the risk check denied it
                                 (``TRADING_HALTED``, a limit: the reason is in the message). With
                                 ``algo`` (direct | route | twap | iceberg) a *parent* order for the
                                 router: ``venues`` (route), ``slices`` + ``duration_s`` (twap),
                                 ``display`` (iceberg, at ``price``), ``participation``, ``step``;
                                 ``client_id`` is the parent id, ``price`` its limit; 201 with the
                                 parent (and a route's plan beside the best single venue's).
                                 ``time_in_force`` (GTC | IOC | FOK): a limit order's, or a
                                 parent's limit children's (default: GTC; a limit route's IOC)
``GET /v1/orders/parents`` read  the router's parent orders; ``?open=true``: those still working
``GET /v1/risk``         read    the RiskMonitor's live state as it publishes it (limits, trading
                                 state, kill switches, and drawdown/VaR/ES when it has them), plus
                                 whether trading started and why not
``POST /v1/risk/halt``   admin   HALTED (journaled); new orders are refused, cancels pass
``POST /v1/risk/resume`` admin   ACTIVE again
=======================  ======  ==================================================================

Every answer comes from the deployment's ``control`` actor
(:class:`actors.deployment.TradingControl`, found by name in
:data:`raytrader.deployment.TRADE_NAMESPACE`), so this module imports no
actor type. **When no trading deployment runs** (or this process is not
attached to Ray, or the deployment does not answer within
:data:`CALL_TIMEOUT_S`), every route answers **503** ``unavailable`` with
``Retry-After`` and a message saying so: the route exists, the service
behind it is down (a 404 would read as a wrong URL). Bad bodies and query
values answer 422 naming the field, before the deployment is asked.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any, Literal

import ray
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.guard import requires
from api.routes.signals import bearer
from api.schemas import ErrorResponse
from raytrader.deployment import CONTROL_NAME, TRADE_NAMESPACE

__all__ = ["router", "OrderIn", "ReasonIn", "CALL_TIMEOUT_S", "RETRY_AFTER_S"]

#: seconds a route waits for the deployment's answer before a 503
CALL_TIMEOUT_S = 60.0
#: what a 503 tells the client to wait before retrying, seconds
RETRY_AFTER_S = 5

router = APIRouter(prefix="/v1", tags=["trading"], dependencies=[Depends(bearer)],
                   responses={code: {"model": ErrorResponse} for code in (401, 403, 422, 429, 503)})

Amount = Annotated[float, Field(strict=False, gt=0, le=1e15, allow_inf_nan=False)]


class OrderIn(BaseModel):
    """A hand-made order. ``amount`` in base units; ``price`` (quote per base) for ``limit`` only;
    ``client_id``: your idempotency key - the same one twice answers the first order, sending nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    venue: str = Field(min_length=1, max_length=64, description="a venue of the deployment, e.g. binance")
    symbol: str = Field(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9]+/[A-Za-z0-9]+$",
                        description="unified symbol, e.g. XRP/ETH")
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    amount: Amount
    price: Amount | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    algo: Literal["direct", "route", "twap", "iceberg"] | None = Field(
        default=None, description="a parent order for the router; absent = one plain order")
    venues: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=16, description="route: the venues to split across (default: venue)")
    slices: int | None = Field(default=None, ge=1, le=10_000, description="twap: number of children")
    duration_s: float | None = Field(default=None, gt=0, le=7 * 86_400, allow_inf_nan=False,
                                     description="twap: seconds the children are spread over")
    display: Amount | None = Field(default=None, description="iceberg: the most shown at once, base units")
    participation: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False,
                                        description="route: most of a venue's visible quantity one child takes")
    step: Amount | None = Field(default=None, description="lot size in base units (children are whole lots)")
    time_in_force: Literal["GTC", "IOC", "FOK"] | None = Field(
        default=None, description="a limit order's time in force: GTC rests, IOC / FOK never rest (the venue expires "
                                  "what did not fill at once); for a parent, its limit children's (default GTC, a "
                                  "limit route's IOC: what they leave is routed again)")


#: the parent-order fields of :class:`OrderIn`, and the algorithms each belongs to
_ALGO_FIELDS = {"venues": ("route",), "slices": ("twap",), "duration_s": ("twap",), "display": ("iceberg",),
                "participation": ("route",), "step": ("direct", "route", "twap", "iceberg")}


class ReasonIn(BaseModel):
    """Why (journaled with the trading-state change)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(default="api", min_length=1, max_length=200)


class OrderOut(BaseModel):
    client_order_id: str
    venue: str
    symbol: str
    side: str
    amount: float
    price: float | None
    state: str
    filled: float
    external: bool


class OrdersOut(BaseModel):
    orders: list[OrderOut]
    open_only: bool


class SubmittedOut(BaseModel):
    client_order_id: str
    state: str = Field(description="the order's state after the send (SUBMITTED, ACCEPTED, FILLED, ...)")
    filled: float
    reason: str | None = Field(default=None, description="the last reason recorded on the order")
    duplicate: bool = Field(description="client_id was used before: this is that order, nothing was sent")


class ParentsOut(BaseModel):
    parents: list[dict[str, Any]]
    open_only: bool


class TradingStateOut(BaseModel):
    trading_state: str
    reason: str


def _unavailable(message: str) -> ApiError:
    return ApiError(503, message, None, {"Retry-After": str(RETRY_AFTER_S)})


async def _ask(method: str, *args: Any) -> Any:
    """``control.<method>(*args)`` of the running deployment, or a 503 naming why not."""
    if not ray.is_initialized():
        raise _unavailable("no trading deployment: this API process is not attached to a Ray cluster")
    try:
        handle = await asyncio.to_thread(ray.get_actor, CONTROL_NAME, namespace=TRADE_NAMESPACE)
    except ValueError:
        raise _unavailable("no trading deployment is running; start one with `raytrader trade start FILE`") from None
    try:
        return await asyncio.wait_for(getattr(handle, method).remote(*args), CALL_TIMEOUT_S)
    except TimeoutError:
        raise _unavailable(f"the trading deployment did not answer within {CALL_TIMEOUT_S:g} s") from None
    except Exception as exc:  # noqa: BLE001 - an actor died or restarts: the service is down, not the request bad
        raise _unavailable(f"the trading deployment is unavailable ({type(exc).__name__})") from None


@router.get("/portfolio", summary="positions, PnL per quote currency and per venue, fees")
@requires("read")
async def portfolio() -> dict[str, Any]:
    return await _ask("portfolio")


@router.get("/orders", response_model=OrdersOut, summary="orders the OMS knows (open=true: still in flight)")
@requires("read")
async def orders(open: bool = Query(False, description="only orders still waiting for the venue")) -> OrdersOut:
    return OrdersOut(orders=await _ask("orders", open), open_only=open)


@router.post("/orders", response_model=SubmittedOut, status_code=201,
             summary="place an order through the pre-trade risk check", responses={409: {"model": ErrorResponse}})
@requires("trade")
async def place_order(order: OrderIn) -> JSONResponse:
    if order.type == "limit" and order.price is None:
        raise ApiError(422, "price: required for a limit order", "price")
    if order.type == "market" and order.price is not None and order.algo is None:
        raise ApiError(422, "price: must be absent for a market order", "price")
    for name, algos in _ALGO_FIELDS.items():
        if getattr(order, name) is not None and order.algo not in algos:
            raise ApiError(422, f"{name}: only with algo {' or '.join(algos)}", name)
    limit = order.price is not None if order.algo is not None else order.type == "limit"
    if order.time_in_force not in (None, "GTC") and not limit:
        raise ApiError(422, f"time_in_force: {order.time_in_force} applies to a limit order (give a price; a market "
                            "order is immediate)", "time_in_force")
    if order.algo is not None:
        return await _parent(order)
    answer = await _ask("submit_order", order.venue, order.symbol, order.side, order.type, float(order.amount),
                        order.price, order.client_id, order.time_in_force or "GTC")
    status = answer.get("status")
    if status == "invalid":
        raise ApiError(422, answer["message"], answer.get("field"))
    if status == "refused":
        raise _unavailable(f"the deployment is not trading: {answer.get('reason')}")
    if answer.get("state") == "DENIED" and not answer.get("ignored"):
        raise ApiError(409, f"order {answer['client_order_id']} denied by the pre-trade risk check: "
                            f"{answer.get('reason') or 'denied'}")
    filled = answer.get("filled")
    body = SubmittedOut(client_order_id=answer["client_order_id"], state=answer["state"],
                        filled=float(filled) if filled is not None and math.isfinite(filled) else 0.0,
                        reason=answer.get("reason") or None, duplicate=bool(answer.get("ignored")))
    return JSONResponse(body.model_dump(), status_code=200 if body.duplicate else 201)


async def _parent(order: OrderIn) -> JSONResponse:
    """A parent order to the router (module docstring): 201, 200 when ``client_id`` was used before."""
    params = {k: getattr(order, k) for k in ("slices", "duration_s", "display", "participation", "step",
                                             "time_in_force") if getattr(order, k) is not None}
    venues = list(order.venues or [order.venue])
    answer = await _ask("submit_parent", order.client_id, venues, order.symbol, order.side, float(order.amount),
                        order.algo, order.price, params)
    status = answer.get("status")
    if status == "invalid":
        fld = {"qty": "amount", "limit": "price", "parent_id": "client_id"}.get(answer.get("field") or "",
                                                                                 answer.get("field"))
        raise ApiError(422, answer["message"], fld)
    body = {"parent": answer["parent"], "duplicate": status == "duplicate",
            **{k: answer[k] for k in ("plan", "single_venue") if k in answer}}
    return JSONResponse(body, status_code=200 if status == "duplicate" else 201)


@router.get("/orders/parents", response_model=ParentsOut, summary="the router's parent orders (open=true: working)")
@requires("read")
async def parents(open: bool = Query(False, description="only parents still working")) -> ParentsOut:
    return ParentsOut(parents=await _ask("parents", open), open_only=open)


@router.get("/risk", summary="the RiskMonitor's live state: limits, trading state, drawdown and VaR/ES when published")
@requires("read")
async def risk() -> dict[str, Any]:
    return await _ask("risk")


@router.post("/risk/halt", response_model=TradingStateOut, summary="HALTED: refuse new orders (cancels pass)")
@requires("admin")
async def halt(body: ReasonIn | None = None) -> TradingStateOut:
    return TradingStateOut(**await _ask("halt", (body or ReasonIn()).reason))


@router.post("/risk/resume", response_model=TradingStateOut, summary="ACTIVE: accept new orders again")
@requires("admin")
async def resume(body: ReasonIn | None = None) -> TradingStateOut:
    return TradingStateOut(**await _ask("resume", (body or ReasonIn()).reason))
