"""Bearer tokens, scopes and the client allowlist.

Tokens
    ``rt_`` + 43 URL-safe characters (``secrets.token_urlsafe(32)``: 256
    random bits). The plaintext is returned once by :func:`create_token` and
    never stored: Redis keeps only ``sha256(token)`` (hex). A plain hash is
    enough here because the tokens are random 256-bit strings, not
    passwords: there is nothing to brute-force.

Redis layout (all keys under ``raytrader:api:``)
    ``token:<sha256>``  hash ``name, scopes (comma-separated), created_at
    (UTC seconds), rate_per_s, burst``; ``token-names`` hash ``name ->
    sha256``; ``bucket:<sha256>`` the rate-limit state (see
    :mod:`api.ratelimit`).

Scopes
    ``read`` (strategies, health), ``signal`` (signals, stream), ``trade``
    (order routes, later), ``admin`` (implies every scope).

Allowlist
    Client addresses are matched against CIDRs (default ``127.0.0.1/32``
    and ``::1/128``); IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are
    matched as IPv4. A peer address that is not an IP is refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from api.ratelimit import AUTH_SCRIPT
from raytrader.errors import InputError

__all__ = [
    "SCOPES", "TokenError", "TokenInfo", "AuthResult", "Authenticator",
    "new_token", "hash_token", "parse_scopes", "has_scope", "bearer_token",
    "parse_allowlist", "ip_allowed", "create_token", "revoke_token", "list_tokens",
    "token_key", "bucket_key", "NAMES_KEY", "KEY_PREFIX",
]

SCOPES = ("read", "signal", "trade", "admin")
KEY_PREFIX = "raytrader:api:"
NAMES_KEY = KEY_PREFIX + "token-names"
TOKEN_PREFIX = "rt_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: longest Authorization header value considered (a token is 46 characters)
_MAX_TOKEN_CHARS = 256


class TokenError(InputError):
    """A bad token request (name, scopes, rate); ``field`` names the argument at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class TokenInfo:
    """What Redis holds about a token (never the plaintext).

    Attributes:
        name: unique label.
        scopes: granted scopes.
        created_at: UTC seconds since the epoch.
        rate_per_s: bucket refill, requests per second.
        burst: bucket capacity, requests.
        token_id: first 12 hex digits of the token's sha256 (safe to show).
    """

    name: str
    scopes: tuple[str, ...]
    created_at: float
    rate_per_s: float
    burst: int
    token_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scopes": list(self.scopes), "rate_per_s": self.rate_per_s, "burst": self.burst,
                "token_id": self.token_id,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at))}


@dataclass(frozen=True)
class AuthResult:
    """One authentication + rate-limit step: ``known`` false means 401, ``allowed`` false means 429."""

    known: bool
    allowed: bool = False
    retry_after_s: int = 0
    name: str = ""
    scopes: tuple[str, ...] = ()


def new_token() -> str:
    """A fresh random token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """sha256 of the token, hex: the only form Redis sees."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_key(digest: str) -> str:
    return f"{KEY_PREFIX}token:{digest}"


def bucket_key(digest: str) -> str:
    return f"{KEY_PREFIX}bucket:{digest}"


def parse_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """``"signal,read"`` -> ``("read", "signal")`` (known scopes, sorted by :data:`SCOPES`, no duplicates).

    Raises:
        TokenError: empty, or a scope not in :data:`SCOPES`.
    """
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    names = {s.strip().lower() for s in items if s and s.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise TokenError("scopes", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not names:
        raise TokenError("scopes", f"give at least one of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in names)


def has_scope(granted: Iterable[str], needed: str) -> bool:
    """True when ``needed`` is granted, or ``admin`` is."""
    granted = tuple(granted)
    return needed in granted or "admin" in granted


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization or len(authorization) > _MAX_TOKEN_CHARS + 16:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowlist(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """Comma-separated (or listed) CIDRs -> networks.

    Raises:
        InputError: an entry is not a network, or the list is empty.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    nets = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise InputError(f"allowlist: {item!r} is not an IP network in CIDR form") from None
    if not nets:
        raise InputError("allowlist: at least one CIDR is needed")
    return tuple(nets)


def ip_allowed(host: str | None, networks: Iterable[IPNetwork]) -> bool:
    """True when ``host`` (a peer IP address) lies in one of ``networks``."""
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


# --------------------------------------------------------------------------- the token store (sync Redis)
def _check_limits(rate_per_s: float, burst: int) -> None:
    if not (isinstance(rate_per_s, (int, float)) and 0 < float(rate_per_s) <= 1e6):
        raise TokenError("rate", f"must be a number in (0, 1000000] requests per second, got {rate_per_s!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
        raise TokenError("burst", f"must be an integer in [1, 1000000] requests, got {burst!r}")


def create_token(redis: Any, name: str, scopes: str | Iterable[str], *, rate_per_s: float = 50.0,
                 burst: int = 100, now: float | None = None) -> str:
    """Store a new token's hash and metadata; return the plaintext token (shown once, never stored).

    ``redis`` is a ``redis.Redis`` client.

    Raises:
        TokenError: a bad name, scope, rate or burst, or the name is taken.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise TokenError("name", "1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
    granted = parse_scopes(scopes)
    _check_limits(rate_per_s, burst)
    token = new_token()
    digest = hash_token(token)
    if not redis.hsetnx(NAMES_KEY, name, digest):
        raise TokenError("name", f"a token named {name!r} exists; revoke it first")
    redis.hset(token_key(digest), mapping={
        "name": name, "scopes": ",".join(granted), "created_at": repr(time.time() if now is None else now),
        "rate_per_s": repr(float(rate_per_s)), "burst": str(int(burst))})
    return token


def revoke_token(redis: Any, name: str) -> TokenInfo:
    """Delete the token named ``name`` (record, bucket and name entry); return what it was.

    Raises:
        TokenError: no token of that name.
    """
    digest = redis.hget(NAMES_KEY, name)
    if digest is None:
        raise TokenError("name", f"no token named {name!r}")
    digest = digest.decode() if isinstance(digest, bytes) else digest
    info = _info(redis.hgetall(token_key(digest)), digest) or TokenInfo(name, (), 0.0, 0.0, 0, digest[:12])
    pipe = redis.pipeline(transaction=True)
    pipe.delete(token_key(digest), bucket_key(digest))
    pipe.hdel(NAMES_KEY, name)
    pipe.execute()
    return info


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _info(raw: dict[Any, Any], digest: str) -> TokenInfo | None:
    if not raw:
        return None
    rec = {_text(k): _text(v) for k, v in raw.items()}
    return TokenInfo(name=rec.get("name", ""), scopes=tuple(s for s in rec.get("scopes", "").split(",") if s),
                     created_at=float(rec.get("created_at", 0)), rate_per_s=float(rec.get("rate_per_s", 0)),
                     burst=int(rec.get("burst", 0)), token_id=digest[:12])


def list_tokens(redis: Any) -> list[TokenInfo]:
    """Every stored token's metadata, by name (never a plaintext token, never a full hash)."""
    out = []
    for _name, digest in sorted((_text(k), _text(v)) for k, v in redis.hgetall(NAMES_KEY).items()):
        info = _info(redis.hgetall(token_key(digest)), digest)
        if info is not None:
            out.append(info)
    return out


# --------------------------------------------------------------------------- the per-request check (async Redis)
class Authenticator:
    """Looks a bearer token up and takes one rate-limit credit, in one Redis round trip (a Lua script).

    ``redis`` is a ``redis.asyncio.Redis`` client.
    """

    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(AUTH_SCRIPT)

    async def check(self, token: str, cost: float = 1.0, now_ms: int | None = None) -> AuthResult:
        digest = hash_token(token)
        reply = await self._script(keys=[token_key(digest), bucket_key(digest)],
                                   args=[repr(float(cost)), "" if now_ms is None else str(int(now_ms))])
        if not reply or int(reply[0]) == 0:
            return AuthResult(known=False)
        scopes = tuple(s for s in _text(reply[4]).split(",") if s)
        return AuthResult(known=True, allowed=int(reply[1]) == 1, retry_after_s=int(reply[2]),
                          name=_text(reply[3]), scopes=scopes)
