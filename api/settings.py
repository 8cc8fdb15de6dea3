"""Settings of one API application: frozen and non-secret (they travel in the deployment's arguments).

Secrets are not settings: the Redis URL (with its password) is read inside
each replica (see :mod:`api.app`), tokens live hashed in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.auth import parse_allowlist

if TYPE_CHECKING:
    from raytrader.config import ServeConfig

__all__ = ["ApiSettings"]


@dataclass(frozen=True)
class ApiSettings:
    """How the API guards itself.

    Attributes:
        allowlist: client CIDRs allowed (others get 403), e.g.
            ``("127.0.0.1/32", "::1/128")``.
        max_body_bytes: largest request body, bytes (larger: 413).
        body_timeout_s: seconds a request's whole body may take to arrive,
            counted from when the guard admits the request (later: 408 and
            the connection is closed).
        max_inflight_per_token: requests one token may have in flight at
            once in a replica (more: 429 with ``Retry-After``).
        max_inflight: requests with a body in flight at once in a replica,
            all tokens together (more: 503 with ``Retry-After``). Keep
            ``max_inflight + max_streams`` below the deployment's
            ``max_ongoing_requests`` (64) so that requests without a body
            (health, strategies) always find a slot.
        max_streams: WebSocket connections open at once in a replica,
            authenticated or not (more: closed with 1013 at once).
        stream_max_window: most bars a WebSocket connection keeps (a client
            may ask for fewer).
        stream_default_window: bars kept when the client does not say (never
            fewer than the strategy needs).
        stream_auth_timeout_s: seconds a WebSocket may stay open without
            authenticating (then closed with 4401).
        stream_max_message_bytes: largest WebSocket message, bytes (larger:
            the socket is closed with 1009).
    """

    allowlist: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    max_body_bytes: int = 1_048_576
    body_timeout_s: float = 10.0
    max_inflight_per_token: int = 16
    max_inflight: int = 40
    max_streams: int = 16
    stream_max_window: int = 5_000
    stream_default_window: int = 1_000
    stream_auth_timeout_s: float = 5.0
    stream_max_message_bytes: int = 65_536

    def __post_init__(self) -> None:
        parse_allowlist(self.allowlist)  # raises InputError naming a bad entry
        for name in ("max_body_bytes", "max_inflight_per_token", "max_inflight", "max_streams",
                     "stream_max_message_bytes"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("body_timeout_s", "stream_auth_timeout_s"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0 seconds")
        if not 1 <= self.stream_default_window <= self.stream_max_window:
            raise ValueError("need 1 <= stream_default_window <= stream_max_window")

    @classmethod
    def from_text(cls, allowlist: str, max_body_bytes: int) -> "ApiSettings":
        """From the comma-separated allowlist of the ``[serve]`` config."""
        return cls(allowlist=tuple(s.strip() for s in allowlist.split(",") if s.strip()), max_body_bytes=max_body_bytes)

    @classmethod
    def from_config(cls, serve: "ServeConfig") -> "ApiSettings":
        """From the ``[serve]`` config section (allowlist, size, in-flight, timeout and WebSocket limits)."""
        return cls(allowlist=tuple(s.strip() for s in serve.allowlist.split(",") if s.strip()),
                   max_body_bytes=serve.max_body_bytes, body_timeout_s=serve.body_timeout_s,
                   max_inflight_per_token=serve.max_inflight_per_token, max_inflight=serve.max_inflight,
                   max_streams=serve.max_streams, stream_auth_timeout_s=serve.stream_auth_timeout_s,
                   stream_max_message_bytes=serve.stream_max_message_bytes)
