""":class:`FastJSONResponse`: a JSON response encoded with orjson (stdlib ``json`` when orjson is absent).

orjson comes with ccxt. Output is compact UTF-8 JSON; NaN and infinities
are not valid JSON and the models never hold them (indicators are null
while not finite).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

try:  # pragma: no cover - which branch depends on the environment
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

__all__ = ["FastJSONResponse", "dumps"]


def dumps(content: Any) -> bytes:
    """``content`` (JSON-ready dicts, lists, str, int, float, bool, None) as compact JSON bytes."""
    if orjson is not None:
        return orjson.dumps(content)
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


class FastJSONResponse(JSONResponse):
    """``application/json`` rendered by :func:`dumps`."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
