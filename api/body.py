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

Duplicate keys: JSON parsers keep the last of ``{"fast": 5, "fast": 6}``
silently; this API refuses such a body with 422 naming the key
(``params.fast: duplicate JSON key 'fast'``), so a client never gets an
answer for parameters it did not mean. The check costs a few microseconds
on the fast path: every object key is followed by exactly one ``:`` outside
strings, so when the body holds no more ``:`` than the keys the validated
model was given (:func:`keys_given`), no key can repeat. Only otherwise (a
duplicate, or a ``:`` inside a string) is the body parsed again with an
``object_pairs_hook`` that finds the repeated key (:func:`find_duplicate_key`).
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

__all__ = ["read_model", "body_openapi", "is_json_content_type", "keys_given", "find_duplicate_key",
           "parse_json_object_pairs", "DuplicateKeyObject"]

M = TypeVar("M", bound=BaseModel)


class DuplicateKeyObject(dict):  # type: ignore[type-arg]
    """A JSON object in which ``key`` appeared more than once (the last value kept), from :func:`parse_json_object_pairs`."""

    key: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            dup = DuplicateKeyObject(obj)
            dup.key = key
            return dup
        seen.add(key)
    return obj  # pragma: no cover - unreachable: fewer entries than pairs means a repeat


def parse_json_object_pairs(raw: bytes | str) -> Any:
    """``json.loads`` that marks each object with a repeated key as a :class:`DuplicateKeyObject`.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``) or not decodable text.
    """
    return json.loads(raw, object_pairs_hook=_pairs)


def find_duplicate_key(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The location of the first repeated key in a :func:`parse_json_object_pairs` result, key last; None if none.

    ``{"params": {"fast": 5, "fast": 6}}`` -> ``("params", "fast")``.
    """
    if isinstance(value, DuplicateKeyObject):
        return (*loc, value.key)
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_duplicate_key(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, (dict, list)):
                found = find_duplicate_key(item, (*loc, i))
                if found is not None:
                    return found
    return None


def keys_given(value: Any) -> int:
    """How many JSON object keys produced ``value``: the set fields of models and the entries of dicts, recursively.

    Lists are walked only when their first element is a model, dict or
    list (the API's lists are homogeneous; columns of numbers cost one
    check). For a model validated from a body without repeated keys this is
    the number of keys in the body.
    """
    if isinstance(value, BaseModel):
        given = value.model_fields_set
        return len(given) + sum(keys_given(getattr(value, name)) for name in given)
    if isinstance(value, dict):
        return len(value) + sum(keys_given(item) for item in value.values())
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (BaseModel, dict, list, tuple)):
        return sum(keys_given(item) for item in value)
    return 0


def _duplicate_error(loc: tuple[str | int, ...]) -> RequestValidationError:
    return RequestValidationError([{"type": "duplicate_key", "loc": ("body", *loc),
                                    "msg": f"duplicate JSON key {loc[-1]!r}", "input": None}])


def _refuse_duplicates(raw: bytes) -> None:
    """Raise the 422 naming the first repeated key of ``raw``, if any (``raw`` is JSON pydantic-core accepted)."""
    try:
        value = parse_json_object_pairs(raw)
    except ValueError:  # pydantic-core took it, the stdlib does not: nothing more to learn here
        return
    loc = find_duplicate_key(value)
    if loc is not None:
        raise _duplicate_error(loc)


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
            value = parse_json_object_pairs(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from None
        except Exception:  # noqa: BLE001 - not decodable text (FastAPI answers 400 the same way)
            raise HTTPException(status_code=400, detail="There was an error parsing the body") from None
        loc = find_duplicate_key(value)
        if loc is not None:
            raise _duplicate_error(loc)
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates a body field
    except ValidationError as exc:
        raise RequestValidationError(_body_errors(exc)) from None


async def read_model(request: Request, model: type[M]) -> M:
    """The request body as ``model``; JSON content types only (others fail validation as in FastAPI).

    Raises:
        RequestValidationError: missing body, invalid JSON, a repeated
            object key or a schema error (answered 422 naming the field by
            :mod:`api.server`).
        HTTPException: 400 for a body that is not text; 413 when the body
            passes the size limit while read (:class:`api.guard.BodyTooLarge`).
    """
    raw = await request.body()
    json_body = is_json_content_type(request.headers.get("content-type"))
    if raw and json_body:
        try:
            parsed = model.model_validate_json(raw)
        except ValidationError:
            pass  # replay FastAPI's path for the exact same error
        else:
            colons = len(raw) - len(raw.replace(b":", b""))  # memchr speed; bytes.count(b":") is 8x slower
            if colons > keys_given(parsed):  # a repeated key, or a ':' inside a string
                _refuse_duplicates(raw)
            return parsed
    return _slow_path(model, raw, json_body)


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the required JSON request body.

    The schema is referenced from ``components/schemas``;
    :func:`api.server.create_app` adds the request models there.
    """
    return {"requestBody": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
                            "required": True}}
