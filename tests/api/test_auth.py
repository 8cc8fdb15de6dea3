"""Tokens, scopes, allowlist and the token bucket: pure functions, and the token store on a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis as redis_lib
from hypothesis import given
from hypothesis import strategies as st

from api.auth import (
    Authenticator, TokenError, bearer_token, create_token, has_scope, hash_token, ip_allowed, list_tokens,
    parse_allowlist, parse_scopes, revoke_token,
)
from api.ratelimit import BucketState, take
from raytrader.errors import InputError


def test_scopes() -> None:
    assert parse_scopes("signal, read") == ("read", "signal")
    assert parse_scopes(["ADMIN"]) == ("admin",)
    with pytest.raises(TokenError, match="scopes: unknown scope"):
        parse_scopes("read,root")
    with pytest.raises(TokenError):
        parse_scopes(" , ")
    assert has_scope(("read",), "read") and not has_scope(("read",), "signal")
    assert all(has_scope(("admin",), s) for s in ("read", "signal", "trade"))


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer rt_abc") == "rt_abc"
    assert bearer_token("bearer   rt_abc ") == "rt_abc"
    for bad in (None, "", "Basic dXNlcg==", "Bearer", "Bearer a b", "Bearer " + "x" * 400):
        assert bearer_token(bad) is None


def test_allowlist() -> None:
    nets = parse_allowlist("127.0.0.1/32, ::1/128")
    assert ip_allowed("127.0.0.1", nets) and ip_allowed("::1", nets) and ip_allowed("::ffff:127.0.0.1", nets)
    assert not ip_allowed("127.0.0.2", nets) and not ip_allowed("10.0.0.1", nets)
    assert not ip_allowed("testclient", nets) and not ip_allowed(None, nets) and not ip_allowed("", nets)
    assert ip_allowed("10.1.2.3", parse_allowlist("10.0.0.0/8"))
    with pytest.raises(InputError, match="allowlist"):
        parse_allowlist("10.0.0.0/8,nonsense")


def test_bucket_refills_and_refuses() -> None:
    decision, state = take(None, 0, rate_per_s=2.0, burst=3)
    assert decision.allowed and state.credits == 2.0
    for _ in range(2):
        decision, state = take(state, 0, 2.0, 3)
        assert decision.allowed
    decision, state = take(state, 0, 2.0, 3)
    assert not decision.allowed and decision.retry_after_s == 1
    decision, state = take(state, 500, 2.0, 3)  # 0.5 s at 2/s: one credit back
    assert decision.allowed and state.credits == pytest.approx(0.0)
    decision, _ = take(state, 400, 2.0, 3)  # a clock step backwards adds nothing
    assert not decision.allowed
    decision, _ = take(BucketState(0.0, 0), 10_000_000, 2.0, 3)  # a long pause refills to burst, not beyond
    assert decision.allowed and decision.credits_left == 2.0
    assert not take(BucketState(0.0, 0), 0, 0.1, 3)[0].allowed and take(BucketState(0.0, 0), 0, 0.1, 3)[0].retry_after_s == 10


@given(st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([1.0, 2.0])), min_size=1, max_size=40),
       st.sampled_from([0.5, 3.0, 20.0]), st.integers(1, 5))
def test_bucket_never_grants_more_than_burst_plus_refill(steps: list, rate: float, burst: int) -> None:
    state, now, granted = None, 0, 0.0
    for dt, cost in steps:
        now += dt
        decision, state = take(state, now, rate, burst, cost)
        granted += cost if decision.allowed else 0.0
        assert 0.0 <= state.credits <= burst
        if not decision.allowed:
            assert decision.retry_after_s >= 1
    assert granted <= burst + now * rate / 1000.0 + 1e-9


def test_token_store_keeps_hashes_only(redis_client: redis_lib.Redis) -> None:
    token = create_token(redis_client, "alice", "signal,read", rate_per_s=5, burst=10, now=1_700_000_000.0)
    assert token.startswith("rt_") and len(token) == 46
    dump = {key: redis_client.hgetall(key) for key in redis_client.keys("*")}
    assert token not in repr(dump)
    assert f"raytrader:api:token:{hash_token(token)}" in dump
    (info,) = list_tokens(redis_client)
    assert (info.name, info.scopes, info.rate_per_s, info.burst) == ("alice", ("read", "signal"), 5.0, 10)
    assert info.to_dict()["created_at"] == "2023-11-14T22:13:20Z" and info.token_id == hash_token(token)[:12]
    with pytest.raises(TokenError, match="name"):
        create_token(redis_client, "alice", "read")
    for bad in ("", "-x", "a b", "x" * 65):
        with pytest.raises(TokenError, match="name"):
            create_token(redis_client, bad, "read")
    with pytest.raises(TokenError, match="rate"):
        create_token(redis_client, "bob", "read", rate_per_s=0)
    with pytest.raises(TokenError, match="burst"):
        create_token(redis_client, "bob", "read", burst=0)
    assert revoke_token(redis_client, "alice").name == "alice"
    assert list_tokens(redis_client) == [] and redis_client.keys("*") == []
    with pytest.raises(TokenError, match="no token named"):
        revoke_token(redis_client, "alice")


def test_lua_bucket_matches_the_pure_bucket(redis_url: str, redis_client: redis_lib.Redis) -> None:
    """The Redis script and :func:`take` make the same decisions on the same clock."""
    import redis.asyncio as aioredis

    token = create_token(redis_client, "lua", "read", rate_per_s=4.0, burst=3)
    steps = [0, 0, 0, 0, 100, 249, 250, 251, 900, 5000, 5000, 5000, 5000, 5001]

    async def run() -> list[tuple[bool, int]]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        auth = Authenticator(client)
        out = []
        for now in steps:
            result = await auth.check(token, now_ms=1_000_000 + now)
            assert result.known and result.name == "lua" and result.scopes == ("read",)
            out.append((result.allowed, result.retry_after_s))
        unknown = await auth.check("rt_unknown")
        await client.aclose()
        assert not unknown.known
        return out

    got = asyncio.run(run())
    state, expected = None, []
    for now in steps:
        decision, state = take(state, 1_000_000 + now, 4.0, 3)
        expected.append((decision.allowed, decision.retry_after_s))
    assert got == expected
    assert [a for a, _ in got].count(False) >= 3  # the sequence does exhaust the bucket
