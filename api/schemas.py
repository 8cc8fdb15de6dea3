"""Request and response models of the API, and the conversion of posted bars to :class:`market.bars.Bars`.

Bars travel as column arrays (the project's OHLCV contract)::

    {"timestamp": [1700000000000, ...],   # bar open times, int UTC ms since the epoch
     "open": [...], "high": [...], "low": [...], "close": [...], "volume": [...],
     "timeframe": "5m"}                   # optional

Checks happen in two layers, each naming the field at fault:

1. the pydantic models (types, finite numbers, array sizes): FastAPI turns
   their errors into 422 with ``field`` such as ``bars.close[17]``;
2. :func:`to_bars`: equal lengths, then the market rules of
   :func:`market.validate.validate_bars` (strictly increasing timestamps on
   the timeframe grid, prices > 0, ``high >= max(open, close)``,
   ``low <= min(open, close)``, volume >= 0). Without ``timeframe`` it is
   inferred (:func:`infer_timeframe`): the most common spacing when that is
   one of the usual ccxt timeframes (:data:`INFERRED_TIMEFRAMES`) and every
   bar sits on its grid, else whole seconds (``1s``), which every real
   timeframe satisfies. Either way the same series pass and fail (a series
   fits the inferred grid only if it fits ``1s``); inferring just keeps
   1-minute bars from being read as one-second bars with ~499 gaps, and
   gives grid-aware strategies (``mtf_trend``) the real bar length.
   A broken rule raises :class:`api.errors.FieldError` naming the row, e.g.
   ``bars.high[3]``.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from api.errors import FieldError
from market.bars import OHLCV_COLUMNS, PRICE_COLUMNS, Bars
from market.errors import DataValidationError, InputError
from market.timeframe import INFERRED_TIMEFRAMES, infer_timeframe  # one implementation, shared with --data files
from market.validate import validate_bars

__all__ = [
    "BarsIn", "SignalRequest", "BatchItem", "BatchRequest", "SignalOut", "BatchResultOut", "BatchResponse",
    "ParamOut", "StrategyOut", "StrategiesResponse", "HealthResponse", "ErrorDetail", "ErrorResponse",
    "to_bars", "infer_timeframe", "INFERRED_TIMEFRAMES", "MAX_BARS", "MAX_BATCH_ITEMS", "MAX_ABS_VALUE", "MAX_TIMESTAMP_MS", "field_path",
]


#: most bars in one series (the request size limit usually binds first)
MAX_BARS = 100_000
#: most items in one batch request
MAX_BATCH_ITEMS = 100
#: largest price or volume accepted; keeps every indicator's running sums finite
MAX_ABS_VALUE = 1e15
#: last timestamp accepted: 9999-12-31T23:59:59.999Z, so every bar time has an ISO-8601 form
MAX_TIMESTAMP_MS = 253_402_300_799_999

Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]
TimestampMs = Annotated[int, Field(strict=True, ge=0, le=MAX_TIMESTAMP_MS)]
Column = Annotated[list[Number], Field(min_length=1, max_length=MAX_BARS)]


def _param_value(value: Any) -> int | float | str:
    """A raw strategy parameter: a JSON number or a short string (parsed by ``validate_params``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number or a string")
    if isinstance(value, str) and len(value) > 64:
        raise ValueError("string longer than 64 characters")
    return value


ParamRaw = Annotated[int | float | str, PlainValidator(_param_value), WithJsonSchema(
    {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string", "maxLength": 64}]})]
Params = Annotated[dict[Annotated[str, Field(max_length=64)], ParamRaw], Field(max_length=32)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BarsIn(_Model):
    """OHLCV bars as equal-length column arrays, oldest first."""

    timestamp: Annotated[list[TimestampMs], Field(min_length=1, max_length=MAX_BARS)] = Field(
        description="bar open times, int UTC milliseconds since the epoch, strictly increasing")
    open: Column
    high: Column
    low: Column
    close: Column
    volume: Column
    timeframe: Annotated[str, Field(max_length=16)] | None = Field(
        default=None, description="unified timeframe (e.g. '5m'); timestamps must sit on its grid. "
                                  "Default: inferred from the timestamps (the most common spacing when it is a "
                                  "usual timeframe such as 1m, 5m, 1h and every bar is on its grid), else 1s")


class SignalRequest(_Model):
    """``POST /v1/signals/{strategy}``: one series and the strategy's parameters (missing ones take defaults)."""

    bars: BarsIn
    params: Params = Field(default_factory=dict)


class BatchItem(_Model):
    symbol: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="label echoed in the result")
    bars: BarsIn
    params: Params = Field(default_factory=dict)


class BatchRequest(_Model):
    """``POST /v1/signals/{strategy}/batch``: many series in one call; any bad item fails the whole request."""

    items: Annotated[list[BatchItem], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class SignalOut(BaseModel):
    """The strategy's target at the last bar."""

    strategy: str
    position: float = Field(description="target position at the last bar, fraction of equity (1 long, 0 flat, -1 short)")
    bar_time: str = Field(description="open time of the last bar, ISO-8601 UTC")
    bar_timestamp: int = Field(description="open time of the last bar, UTC ms since the epoch")
    params: dict[str, int | float] = Field(description="the complete validated parameters used")
    indicators: dict[str, float | None] = Field(
        description="the strategy's indicator values at the last bar (null while warming up)")


class BatchResultOut(SignalOut):
    symbol: str


class BatchResponse(BaseModel):
    results: list[BatchResultOut]


class ParamOut(BaseModel):
    name: str
    kind: str
    low: int | float
    high: int | float
    step: int | float | None
    default: int | float
    doc: str


class StrategyOut(BaseModel):
    name: str
    doc: str
    params: list[ParamOut]
    constraints: list[str]
    min_bars_at_defaults: int
    multi_asset: bool
    served: bool = Field(description="true when /v1/signals serves it (single-asset strategies)")


class StrategiesResponse(BaseModel):
    strategies: list[StrategyOut]


class HealthResponse(BaseModel):
    status: str = Field(description="'ok' when Ray and Redis both answer, else 'degraded'")
    ray: dict[str, Any]
    redis: dict[str, Any]
    replica: dict[str, Any]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "items", 2, "bars", "close", 17)`` -> ``"items[2].bars.close[17]"`` (``body`` dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _rule_field(exc: DataValidationError, arrays: dict[str, np.ndarray]) -> tuple[str, int | None]:
    """The column and row a broken market rule points at."""
    row = exc.rows[0] if exc.rows else None
    rule = exc.rule
    if rule in ("high_ge_open_close",):
        return "high", row
    if rule in ("low_le_open_close",):
        return "low", row
    if rule in ("volume_non_negative",):
        return "volume", row
    if rule in ("prices_positive", "finite") and row is not None:
        for name in (PRICE_COLUMNS if rule == "prices_positive" else OHLCV_COLUMNS[1:]):
            value = arrays[name][row]
            if not np.isfinite(value) or (rule == "prices_positive" and value <= 0):
                return name, row
    return "timestamp", row


def to_bars(model: BarsIn, path: str = "bars", symbol: str = "") -> Bars:
    """Validated :class:`Bars` from the posted columns.

    Raises:
        FieldError: unequal lengths (``bars.close``), a bad timeframe
            (``bars.timeframe``) or a broken market rule, naming the first
            row at fault (``bars.high[3]: rule 'high_ge_open_close' ...``).
    """
    n = len(model.timestamp)
    for name in OHLCV_COLUMNS[1:]:
        got = len(getattr(model, name))
        if got != n:
            raise FieldError(f"{path}.{name}", f"has {got} values but timestamp has {n}: columns must be equal length")
    timestamp = np.asarray(model.timestamp, dtype=np.int64)
    timeframe = model.timeframe or infer_timeframe(timestamp)
    try:
        bars = Bars(timestamp=timestamp,
                    **{c: np.asarray(getattr(model, c), dtype=np.float64) for c in OHLCV_COLUMNS[1:]},
                    symbol=symbol, timeframe=timeframe)
    except InputError as exc:
        raise FieldError(f"{path}.timeframe", str(exc)) from None
    try:
        validate_bars(bars)
    except DataValidationError as exc:
        column, row = _rule_field(exc, {c: getattr(bars, c) for c in OHLCV_COLUMNS})
        where = f"{path}.{column}" + (f"[{row}]" if row is not None else "")
        raise FieldError(where, str(exc)) from None
    return bars
