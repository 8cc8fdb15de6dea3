"""``raytrader tokens add | list | revoke``: bearer tokens of the Serve API, stored hashed in the cluster's Redis.

``add`` prints the plaintext token once (``--json``: ``{"token": ...}``);
Redis keeps only its sha256 (see :mod:`api.auth`). ``list`` shows names,
scopes, limits and a 12-digit id of the hash, never a token.
"""

from __future__ import annotations

import argparse

import redis as redis_lib

from api.auth import SCOPES, create_token, list_tokens, parse_scopes, revoke_token
from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from cluster.lifecycle import ClusterError
from raytrader.state import read_state, redact_url

__all__ = ["register", "redis_client"]


def redis_client(config: Config) -> redis_lib.Redis:
    """A client of the cluster's Redis (``REDIS_URL`` or the private one of ``raytrader up``), checked with PING."""
    url = config.redis.url
    if not url:
        state = read_state(config.cluster.home)
        if state is None or state.redis is None:
            raise ClusterError(f"no raytrader cluster in {config.cluster.home}: run `raytrader up` first")
        url = state.redis.url()
    client = redis_lib.Redis.from_url(url, decode_responses=True, socket_connect_timeout=3, socket_timeout=5)
    try:
        client.ping()
    except redis_lib.exceptions.RedisError as exc:
        raise ClusterError(f"Redis at {redact_url(url)} does not answer ({type(exc).__name__}); "
                           f"is the cluster up? (`raytrader status`)") from None
    return client


def _add(args: argparse.Namespace, config: Config) -> Output:
    rate = config.serve.default_rate_per_s if args.rate is None else args.rate
    burst = config.serve.default_burst if args.burst is None else args.burst
    scopes = parse_scopes(args.scopes)
    token = create_token(redis_client(config), args.name, scopes, rate_per_s=rate, burst=burst)
    data = {"token": token, "name": args.name, "scopes": list(scopes), "rate_per_s": rate, "burst": burst}
    text = (f"token {args.name} (scopes {','.join(scopes)}, {rate:g}/s, burst {burst}); "
            f"shown once, store it now:\n{token}")
    return Output(data=data, text=text)


def _list(args: argparse.Namespace, config: Config) -> Output:
    tokens = [t.to_dict() for t in list_tokens(redis_client(config))]
    lines = [f"{t['name']:20s} {','.join(t['scopes']):24s} {t['rate_per_s']:>8g}/s burst {t['burst']:<6d} "
             f"id {t['token_id']}  added {t['created_at']}" for t in tokens]
    return Output(data={"tokens": tokens}, text="\n".join(lines) or "no tokens (add one with `raytrader tokens add`)")


def _revoke(args: argparse.Namespace, config: Config) -> Output:
    info = revoke_token(redis_client(config), args.name)
    return Output(data={"revoked": info.name, "token_id": info.token_id}, text=f"revoked token {info.name}")


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "tokens", "bearer tokens of the Serve API (stored hashed in Redis)")
    p = add_command(group, "add", _add, "create a token and print it once")
    p.add_argument("name", help="a unique name, e.g. notebook or grafana")
    p.add_argument("--scopes", required=True, help=f"comma-separated, of {', '.join(SCOPES)} (admin implies all)")
    p.add_argument("--rate", type=float, default=None, help="requests per second (default: [serve] default_rate_per_s)")
    p.add_argument("--burst", type=int, default=None, help="requests at once (default: [serve] default_burst)")
    add_command(group, "list", _list, "list tokens: names, scopes, limits (never the tokens)")
    p = add_command(group, "revoke", _revoke, "delete a token; requests with it get 401 at once")
    p.add_argument("name")
