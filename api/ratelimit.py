"""Per-token rate limits: a token bucket, as a pure function and as the same arithmetic in Redis Lua.

A bucket holds up to ``burst`` request credits and refills at ``rate_per_s``
credits per second (continuously, in milliseconds). A request costs one
credit; when fewer than ``cost`` credits are left it is refused and told to
retry after ``ceil((cost - credits) / rate_per_s)`` seconds (at least 1).

Where the state lives: in Redis, next to the token record, and the step runs
as one Lua script (:data:`AUTH_SCRIPT`) that also reads the token record, so
a request costs one round trip and the limit holds across every replica and
node (an in-replica bucket would grant ``replicas x rate``). Time is Redis's
own clock (``TIME``), one clock for all replicas; a caller may pass
``now_ms`` explicitly (tests compare the script with :func:`take` this way).
The bucket key expires once it would be full again, so idle tokens cost no
memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BucketState", "Decision", "take", "AUTH_SCRIPT"]


@dataclass(frozen=True)
class BucketState:
    """Credits left (``0 <= credits <= burst``) as of ``at_ms`` (UTC ms)."""

    credits: float
    at_ms: int


@dataclass(frozen=True)
class Decision:
    """Outcome of one request: allowed or not, and when to retry (whole seconds, >= 1 when refused)."""

    allowed: bool
    retry_after_s: int
    credits_left: float


def take(state: BucketState | None, now_ms: int, rate_per_s: float, burst: float, cost: float = 1.0) -> tuple[Decision, BucketState]:
    """One token-bucket step; a missing state is a full bucket. Clock steps backwards count as zero time.

    Returns the decision and the new state (unchanged credits when refused,
    but refilled to ``now_ms``).
    """
    if rate_per_s <= 0 or burst <= 0:
        raise ValueError("rate_per_s and burst must be > 0")
    if state is None:
        credits, at = float(burst), now_ms
    else:
        elapsed = max(0, now_ms - state.at_ms)
        credits, at = min(float(burst), state.credits + elapsed * rate_per_s / 1000.0), max(now_ms, state.at_ms)
    if credits >= cost:
        credits -= cost
        return Decision(True, 0, credits), BucketState(credits, at)
    retry = max(1, math.ceil((cost - credits) / rate_per_s))
    return Decision(False, retry, credits), BucketState(credits, at)


#: KEYS[1] token record hash, KEYS[2] bucket hash; ARGV[1] cost, ARGV[2] now_ms ("" = Redis TIME).
#: Returns {0} for an unknown token, else {1, allowed (0/1), retry_after_s, name, scopes, credits_left}.
AUTH_SCRIPT = """
local rec = redis.call('HMGET', KEYS[1], 'name', 'scopes', 'rate_per_s', 'burst')
if not rec[1] then return {0} end
local rate = tonumber(rec[3])
local burst = tonumber(rec[4])
local cost = tonumber(ARGV[1])
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local b = redis.call('HMGET', KEYS[2], 'credits', 'at_ms')
local credits = tonumber(b[1])
local at = tonumber(b[2])
if credits == nil or at == nil then
  credits = burst
  at = now
else
  local elapsed = now - at
  if elapsed < 0 then elapsed = 0 end
  credits = math.min(burst, credits + elapsed * rate / 1000.0)
  if now > at then at = now end
end
local allowed = 0
local retry = 0
if credits >= cost then
  credits = credits - cost
  allowed = 1
else
  retry = math.ceil((cost - credits) / rate)
  if retry < 1 then retry = 1 end
end
redis.call('HSET', KEYS[2], 'credits', string.format('%.17g', credits), 'at_ms', string.format('%d', at))
redis.call('PEXPIRE', KEYS[2], math.ceil((burst - credits) / rate * 1000) + 1000)
return {1, allowed, retry, rec[1], rec[2], string.format('%.17g', credits)}
"""
