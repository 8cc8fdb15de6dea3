"""Read a JSON request body into a pydantic model with pydantic-core's JSON parser.

FastAPI's body parameters parse with the stdlib ``json.loads`` and then
validate the Python objects; for a 500-bar series that is most of a
request's handler time. :func:`read_model` validates the raw bytes in one
pass (``Model.model_validate_json``) and, only when that fails, replays
FastAPI's own steps (content type, ``json.loads``, ``model_validate``), so
every error is the one FastAPI would give: the same
:class:`~fastapi.exceptions.RequestValidationError` (locations under
``body``), the same 400 for an undecodable body. Routes that use it declare
their body for the OpenAPI document with :func:`body_openapi`.
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

__all__ = ["read_model", "body_openapi", "is_json_content_type"]

M = TypeVar("M", bound=BaseModel)


def is_json_content_type(value: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (parameters allowed), as FastAPI decides."""
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors(include_url=False)]


def _slow_path(model: type[M], raw: bytes, json_body: bool) -> M:
    """FastAPI's own parse of ``raw`` (stdlib JSON, then Python-mode validation); raises its errors."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    value: Any = raw
    if json_body:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from None
        except Exception:  # noqa: BLE001 - not decodable text (FastAPI answers 400 the same way)
            raise HTTPException(status_code=400, detail="There was an error parsing the body") from None
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates a body field
    except ValidationError as exc:
        raise RequestValidationError(_body_errors(exc)) from None


async def read_model(request: Request, model: type[M]) -> M:
    """The request body as ``model``; JSON content types only (others fail validation as in FastAPI).

    Raises:
        RequestValidationError: missing body, invalid JSON or a schema
            error (answered 422 naming the field by :mod:`api.server`).
        HTTPException: 400 for a body that is not text; 413 when the body
            passes the size limit while read (:class:`api.guard.BodyTooLarge`).
    """
    raw = await request.body()
    json_body = is_json_content_type(request.headers.get("content-type"))
    if raw and json_body:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # replay FastAPI's path for the exact same error
    return _slow_path(model, raw, json_body)


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the required JSON request body.

    The schema is referenced from ``components/schemas``;
    :func:`api.server.create_app` adds the request models there.
    """
    return {"requestBody": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
                            "required": True}}
