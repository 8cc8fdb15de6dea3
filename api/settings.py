"""Settings of one API application: frozen and non-secret (they travel in the deployment's arguments).

Secrets are not settings: the Redis URL (with its password) is read inside
each replica (see :mod:`api.app`), tokens live hashed in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.auth import parse_allowlist

__all__ = ["ApiSettings"]


@dataclass(frozen=True)
class ApiSettings:
    """How the API guards itself.

    Attributes:
        allowlist: client CIDRs allowed (others get 403), e.g.
            ``("127.0.0.1/32", "::1/128")``.
        max_body_bytes: largest request body, bytes (larger: 413); also the
            largest WebSocket message.
        stream_max_window: most bars a WebSocket connection keeps (a client
            may ask for fewer).
        stream_default_window: bars kept when the client does not say (never
            fewer than the strategy needs).
    """

    allowlist: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    max_body_bytes: int = 1_048_576
    stream_max_window: int = 5_000
    stream_default_window: int = 1_000

    def __post_init__(self) -> None:
        parse_allowlist(self.allowlist)  # raises InputError naming a bad entry
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be > 0")
        if not 1 <= self.stream_default_window <= self.stream_max_window:
            raise ValueError("need 1 <= stream_default_window <= stream_max_window")

    @classmethod
    def from_text(cls, allowlist: str, max_body_bytes: int) -> "ApiSettings":
        """From the comma-separated allowlist of the ``[serve]`` config."""
        return cls(allowlist=tuple(s.strip() for s in allowlist.split(",") if s.strip()), max_body_bytes=max_body_bytes)
