"""Map the project's input errors to :class:`api.errors.ApiError` with the field at fault."""

from __future__ import annotations

from api.errors import ApiError, FieldError
from raytrader.errors import InputError
from strategies.errors import InsufficientDataError, ParamError, UnknownStrategyError

__all__ = ["to_api_error"]


def to_api_error(exc: InputError, prefix: str = "") -> ApiError:
    """The 4xx for ``exc``; ``prefix`` (``items[3].``) is put before body field paths."""
    if isinstance(exc, UnknownStrategyError):
        return ApiError(404, str(exc), "strategy")
    if isinstance(exc, FieldError):
        return ApiError(422, f"{prefix}{exc}", f"{prefix}{exc.field}")
    if isinstance(exc, ParamError):
        field = f"{prefix}params.{exc.param}" if str(exc.param).isidentifier() else f"{prefix}params"
        return ApiError(422, f"{field}: {exc}", field)
    if isinstance(exc, InsufficientDataError):
        return ApiError(422, f"{prefix}{exc}", f"{prefix}bars")
    text = str(exc)
    field = text.split(":", 1)[0] if text.startswith("strategy:") else None
    return ApiError(422, text, field)
