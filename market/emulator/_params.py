"""Request parameters and Binance SIGNED-endpoint checks for the emulator's HTTP layer.

Signing (Binance Spot): header ``X-MBX-APIKEY``; ``signature`` is the hex
HMAC-SHA256, keyed by the secret, of the query string followed by the form
body, both without ``signature``. Checks, in order: missing key -> 401
``-2014``; unknown key -> 401 ``-2015``; missing signature -> ``-1102``;
wrong signature -> ``-1022``; missing ``timestamp`` -> ``-1102``;
``recvWindow`` outside (0, max] -> ``-1131``; ``timestamp`` more than
``max_ahead_ms`` ahead of server time, or older than ``recvWindow`` ms ->
``-1021``. Times are wall-clock UTC ms.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from typing import Callable

from market.emulator.errors import BadParameter
from market.emulator.venue import ApiKey

__all__ = ["HttpError", "required", "decimal_param", "int_param", "authenticate", "strip_signature"]


class HttpError(Exception):
    """An HTTP-level refusal: ``status`` (401/400) with a Binance ``code`` and ``msg``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise BadParameter(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise BadParameter(f"Illegal characters found in parameter '{name}'; legal range is "
                           "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.", code=-1100)
    return value


def int_param(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
                           code=-1100) from None


def authenticate(lookup: Callable[[str], ApiKey | None], api_key: str, raw_query: str, raw_body: str,
                 params: dict[str, str], *, now_ms: int, default_recv_window_ms: int, max_recv_window_ms: int,
                 max_ahead_ms: int) -> ApiKey:
    """The request's key after Binance's SIGNED checks (see the module docstring); HttpError otherwise."""
    if not api_key:
        raise HttpError(401, -2014, "API-key format invalid.")
    key = lookup(api_key)
    if key is None:
        raise HttpError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    signature = params.get("signature")
    if not signature:
        raise HttpError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    payload = strip_signature(raw_query) + strip_signature(raw_body)
    expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise HttpError(400, -1022, "Signature for this request is not valid.")
    timestamp = int_param(params, "timestamp")
    if timestamp is None:
        raise HttpError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    recv_window = int_param(params, "recvWindow", default_recv_window_ms)
    if recv_window is None or recv_window <= 0 or recv_window > max_recv_window_ms:
        raise HttpError(400, -1131, "recvWindow must be less than 60000")
    if timestamp > now_ms + max_ahead_ms:
        raise HttpError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - timestamp > recv_window:
        raise HttpError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return key


def strip_signature(raw: str) -> str:
    """``raw`` without its ``signature=`` parameter (Binance signs everything else, in order)."""
    if not raw:
        return ""
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))
