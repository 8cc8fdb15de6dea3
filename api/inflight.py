"""Concurrent in-flight request limits of one replica: per token, and in total for requests with a body.

Why: a request holds one of the replica's Serve slots (``max_ongoing_requests``)
from its headers to its last response byte, and a client decides how long
its body takes to arrive. Without a cap, a few dozen connections that
promise more body than they send hold every slot, and every other request
(``/v1/health`` included) waits behind them. The caps refuse the excess at
once instead: a token over its share gets 429, the replica over its total
gets 503, both with ``Retry-After``; the body-read timeout
(:class:`api.guard.Guard`) bounds how long an admitted request may wait for
its body.

The counts live in the replica's memory (the replica runs one event loop,
so no lock is needed); with one replica they are the API's limits.
Requests without a body (``GET``) count only against their token: they are
answered at the server's pace, never the client's.

WebSocket connections hold a slot for as long as they are open, so they
have a cap of their own (:class:`OpenStreams`), counted from the handshake
(before authentication). With ``max_inflight + max_streams`` below the
deployment's ``max_ongoing_requests``, requests without a body always find
a slot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = ["InflightLimits", "OpenStreams", "Refusal"]


@dataclass(frozen=True)
class Refusal:
    """Why a request was not admitted: HTTP ``status`` (429 or 503), a one-line ``message``, ``retry_after_s``."""

    status: int
    message: str
    retry_after_s: int = 1


class InflightLimits:
    """Admission counter: :meth:`enter` before a request runs, :meth:`leave` after (always, in ``finally``).

    Invariants: ``per_token[name] <= per_token_limit`` and ``with_body <=
    total_limit`` at all times; counts never go below zero.
    """

    def __init__(self, *, per_token_limit: int, total_limit: int) -> None:
        if per_token_limit <= 0 or total_limit <= 0:
            raise ValueError("limits must be > 0")
        self.per_token_limit = int(per_token_limit)
        self.total_limit = int(total_limit)
        self.per_token: Counter[str] = Counter()
        self.with_body = 0

    def enter(self, token_name: str, has_body: bool) -> Refusal | None:
        """Admit one request of ``token_name`` (counted) or say why not (nothing counted)."""
        if self.per_token[token_name] >= self.per_token_limit:
            return Refusal(429, f"token {token_name!r} has {self.per_token_limit} requests in flight, its limit; "
                                "retry after 1 s")
        if has_body and self.with_body >= self.total_limit:
            return Refusal(503, f"server busy: {self.total_limit} requests with a body in flight; retry after 1 s")
        self.per_token[token_name] += 1
        if has_body:
            self.with_body += 1
        return None

    def leave(self, token_name: str, has_body: bool) -> None:
        """Release what :meth:`enter` admitted."""
        left = self.per_token[token_name] - 1
        if left > 0:
            self.per_token[token_name] = left
        else:
            del self.per_token[token_name]
        if has_body:
            self.with_body = max(0, self.with_body - 1)


class OpenStreams:
    """Open WebSocket connections of a replica; :meth:`open` refuses past ``limit``. Invariant: ``0 <= count <= limit``."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("limit must be > 0")
        self.limit = int(limit)
        self.count = 0

    def open(self) -> bool:
        """Count one more connection; False (nothing counted) when ``limit`` are open."""
        if self.count >= self.limit:
            return False
        self.count += 1
        return True

    def close(self) -> None:
        """Release what :meth:`open` counted."""
        self.count = max(0, self.count - 1)
