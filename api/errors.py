"""The API's one error shape and the exceptions that map to it.

Every error response, whatever raised it, has the body::

    {"error": {"code": "invalid_input", "message": "bars.close[17]: must be finite", "field": "bars.close[17]"}}

``field`` names the part of the request at fault (a JSON path such as
``items[2].bars.high[5]``, ``params.fast``, ``strategy``, ``Authorization``)
or is null when no single field is. ``message`` is one line of plain text
and never holds a traceback, a secret or a token. Codes, by status:

=====  ==================================================================
400    ``bad_request`` (malformed WebSocket message)
401    ``unauthorized`` (no token, unknown or revoked token); the response
       carries ``WWW-Authenticate: Bearer``
403    ``forbidden`` (address not in the allowlist, token lacks the scope)
404    ``not_found`` (no such route, unknown strategy)
405    ``method_not_allowed``
408    ``request_timeout`` (the body did not arrive within
       ``body_timeout_s``; the connection is closed)
413    ``payload_too_large``
422    ``invalid_input`` (schema, duplicate JSON keys, market-data rules,
       strategy parameters, too few bars)
429    ``rate_limited`` (token bucket empty, or the token has
       ``max_inflight_per_token`` requests in flight); the response
       carries ``Retry-After`` (seconds)
500    ``internal`` (a bug; the details go to the replica log only)
503    ``unavailable`` (Redis unreachable, or ``max_inflight`` requests
       with a body in flight); with ``Retry-After``
=====  ==================================================================
"""

from __future__ import annotations

import logging

from raytrader.errors import InputError

__all__ = ["ApiError", "FieldError", "error_body", "STATUS_CODES", "LOGGER_NAME", "flush_log"]

#: the API's logger: a child of Serve's ``ray.serve`` logger, so that in a replica its records land in the
#: replica log (``<ray session>/logs/serve/replica_<app>_<deployment>_<id>.log``) with Serve's own lines
LOGGER_NAME = "ray.serve.raytrader.api"

#: the code used for each status this API answers with
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    408: "request_timeout", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_input",
    429: "rate_limited", 500: "internal", 503: "unavailable",
}


class ApiError(Exception):
    """An error the API answers with ``status``; ``headers`` are added to the response."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    @property
    def code(self) -> str:
        return STATUS_CODES.get(self.status, "error")


class FieldError(InputError):
    """Bad request data; ``field`` is the JSON path at fault (``bars.close[17]``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message if message.startswith(f"{field}:") else f"{field}: {message}")


def error_body(status: int, message: str, field: str | None = None) -> dict[str, object]:
    """The JSON body of an error response (one line of text, no traceback)."""
    text = " ".join(str(message).split())[:1000]
    return {"error": {"code": STATUS_CODES.get(status, "error"), "message": text, "field": field}}


def flush_log() -> None:
    """Write the API logger's buffered records now.

    Under ``RAY_SERVE_THROUGHPUT_OPTIMIZED`` Serve buffers up to 1,000
    replica-log records and writes them early only for an ERROR; call this
    after a WARNING an operator should see at once (a protocol violation,
    a body timeout).
    """
    logger: logging.Logger | None = logging.getLogger(LOGGER_NAME)
    while logger is not None:
        for handler in logger.handlers:
            handler.flush()
        logger = logger.parent if logger.propagate else None
