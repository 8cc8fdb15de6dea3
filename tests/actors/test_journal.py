"""The journal against real, private redis-server processes (never the shared cluster's Redis).

Each test starts its own redis-server (the binary ``raytrader up`` uses) on a
free loopback port with a password and a tmp data folder; the SIGKILL test
kills and restarts only that process.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from actors.journal import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    EntryKind,
    Journal,
    JournalEntry,
    JournalError,
    JournalNotDurableError,
    chain_hash,
)
from actors.messages import (
    CancelRequest,
    Fill,
    OrderIntent,
    OrderRejected,
    OrderStateChange,
    OrderUpdate,
    ReconciliationResult,
    TradingStateChange,
)
from actors.risk_monitor import journaled_trading_state
from actors.trading import trading_state_of
from risk.pretrade import RiskDecision, RiskReason, TradingState
from tests.actors._redis import PrivateRedis, running


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with running(tmp_path / "redis") as server:
        yield server


def _intent(i: int) -> OrderIntent:
    return OrderIntent(venue="binance", symbol="XRP/ETH", side="buy", type="limit", amount=1.0 + i, intent_id=f"i{i}",
                       price=0.0005)


def _all_kinds() -> list[tuple[EntryKind, object]]:
    ack = OrderUpdate(venue="binance", symbol="XRP/ETH", client_order_id="c1", order_id="42", status="open", side="buy",
                      type="limit", amount=2.0, filled=0.0, remaining=2.0, average=None, price=0.0005, fee_cost=0.0,
                      fee_currency=None, timestamp_ms=1_700_000_000_000)
    reject = OrderUpdate(venue="binance", symbol="XRP/ETH", client_order_id="c2", order_id=None, status="rejected",
                         side="sell", type="market", amount=1.0, filled=0.0, remaining=1.0, average=None, price=None,
                         fee_cost=0.0, fee_currency=None, timestamp_ms=None,
                         rejection=OrderRejected(reason="insufficient balance", code="-2010"))
    fill = Fill(venue="binance", symbol="XRP/ETH", trade_id="t1", order_id="42", client_order_id="c1", side="buy",
                price=0.0005, amount=2.0, fee_cost=0.000001, fee_currency="ETH", is_maker=False, timestamp_ms=1)
    risk = RiskDecision(approved=False, reason=RiskReason.RATE_LIMIT_EXCEEDED, action="submit", intent_id="i9",
                        venue="binance", symbol="XRP/ETH", side="buy", amount=1.0, price=0.0005,
                        detail="0 tokens left", ts_ms=5)
    return [
        (EntryKind.INTENT, _intent(1)),
        (EntryKind.RISK_DECISION, risk),
        (EntryKind.ACK, ack),
        (EntryKind.FILL, fill),
        (EntryKind.CANCEL, CancelRequest(venue="binance", symbol="XRP/ETH", client_order_id="c1", reason="user")),
        (EntryKind.REJECT, reject),
        (EntryKind.STATE_CHANGE, OrderStateChange("c1", "binance", "XRP/ETH", "SUBMITTED", "ACCEPTED", "ACCEPT")),
        (EntryKind.RECONCILIATION, ReconciliationResult(venue="binance", ok=True, open_orders=1, adopted=("x1",),
                                                        inferred_fills=("t7", "t8"))),
    ]


def test_every_kind_round_trips_typed_and_chained(private_redis: PrivateRedis) -> None:
    journal = Journal(private_redis.client(), "journal:rt", clock_ms=lambda: 1234)
    written = [journal.append(kind, payload) for kind, payload in _all_kinds()]
    assert [e.seq for e in written] == list(range(1, 9))
    read = list(Journal(private_redis.client(), "journal:rt").entries())
    assert [(e.kind, e.payload) for e in read] == _all_kinds()
    assert read == written  # same seq, hashes, stream ids, timestamps
    assert isinstance(read[1].payload.reason, RiskReason) and read[7].payload.adopted == ("x1",)
    # the chain, recomputed here from the stored bodies
    prev = GENESIS_HASH
    for _sid, fields in private_redis.client().xrange("journal:rt"):
        assert fields[b"prev"].decode() == prev
        prev = chain_hash(prev, fields[b"body"].decode())
        assert fields[b"hash"].decode() == prev
        assert json.loads(fields[b"body"])["v"] == SCHEMA_VERSION
    report = journal.verify()
    assert report.ok and report.entries == 8 and report.head_hash == written[-1].hash


def test_append_many_is_consecutive_and_a_second_writer_continues_the_chain(private_redis: PrivateRedis) -> None:
    a = Journal(private_redis.client(), "journal:many")
    b = Journal(private_redis.client(), "journal:many")
    first = a.append_many([(EntryKind.INTENT, _intent(i)) for i in range(5)])
    second = b.append(EntryKind.INTENT, _intent(5))
    third = a.append(EntryKind.INTENT, _intent(6))  # a's cached head is stale: it must re-chain, not fork
    assert [e.seq for e in first] == [1, 2, 3, 4, 5] and second.seq == 6 and third.seq == 7
    assert third.prev_hash == second.hash
    assert a.verify().ok and len(a) == 7


def test_wrong_payload_and_non_finite_numbers_are_refused(private_redis: PrivateRedis) -> None:
    journal = Journal(private_redis.client(), "journal:bad")
    with pytest.raises(JournalError, match="OrderIntent"):
        journal.append(EntryKind.INTENT, {"venue": "binance"})
    nan_fill = Fill(venue="b", symbol="X/Y", trade_id="t", order_id="o", client_order_id=None, side="buy",
                    price=float("nan"), amount=1.0, fee_cost=0.0, fee_currency=None, is_maker=None, timestamp_ms=1)
    with pytest.raises(JournalError, match="finite"):
        journal.append(EntryKind.FILL, nan_fill)
    assert len(journal) == 0


def test_a_redis_without_fsync_always_is_refused(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "everysec", appendfsync="everysec")
    server.start()
    try:
        with pytest.raises(JournalNotDurableError, match="appendfsync=everysec"):
            Journal(server.client(), "journal:x").append(EntryKind.INTENT, _intent(1))
        entry = Journal(server.client(), "journal:x", durability="none").append(EntryKind.INTENT, _intent(1))
        assert entry.seq == 1
    finally:
        server.stop()


def _copy_with(client: redis.Redis, src: str, dst: str, edit) -> list[str]:
    """Copy ``src`` to ``dst`` keeping stream ids, passing each (index, fields) through ``edit``
    (which returns the fields to write, or None to drop the entry). Returns the written ids."""
    ids = []
    for index, (sid, fields) in enumerate(client.xrange(src)):
        new = edit(index, dict(fields))
        if new is not None:
            client.xadd(dst, new, id=sid)
            ids.append(sid.decode())
    return ids


def test_verify_names_the_first_broken_entry(private_redis: PrivateRedis) -> None:
    client = private_redis.client()
    journal = Journal(client, "journal:src")
    entries = [journal.append(EntryKind.INTENT, _intent(i)) for i in range(10)]

    def altered(index: int, fields: dict) -> dict:
        if index == 4:
            fields[b"body"] = fields[b"body"].replace(b'"amount":5.0', b'"amount":50.0')
        return fields

    _copy_with(client, "journal:src", "journal:altered", altered)
    report = Journal(client, "journal:altered").verify()
    assert not report.ok and report.entries == 4
    assert report.first_broken.seq == 5 and report.first_broken.stream_id == entries[4].stream_id
    assert "altered" in report.first_broken.reason

    _copy_with(client, "journal:src", "journal:removed", lambda i, f: None if i == 6 else f)
    report = Journal(client, "journal:removed").verify()
    assert report.first_broken.seq == 7 and report.first_broken.stream_id == entries[7].stream_id

    def rechained(index: int, fields: dict) -> dict:  # a forged seq-3 entry with a valid own hash
        if index == 2:
            fields[b"body"] = fields[b"body"].replace(b'"amount":3.0', b'"amount":30.0')
            fields[b"hash"] = chain_hash(fields[b"prev"].decode(), fields[b"body"].decode()).encode()
        return fields

    _copy_with(client, "journal:src", "journal:forged", rechained)
    report = Journal(client, "journal:forged").verify()
    assert report.first_broken.seq == 4 and "prev" in report.first_broken.reason

    def bad_version(index: int, fields: dict) -> dict:
        if index == 0:
            fields[b"body"] = fields[b"body"].replace(f'"v":{SCHEMA_VERSION}'.encode(), b'"v":9')
            fields[b"hash"] = chain_hash(GENESIS_HASH, fields[b"body"].decode()).encode()
        return fields

    _copy_with(client, "journal:src", "journal:version", bad_version)
    report = Journal(client, "journal:version").verify()
    assert report.first_broken.seq == 1 and "schema version 9" in report.first_broken.reason
    assert Journal(client, "journal:src").verify().ok


def test_concurrent_writers_never_fork_the_chain(private_redis: PrivateRedis) -> None:
    writers, per_writer = 6, 60
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(w: int) -> None:
        try:
            journal = Journal(private_redis.client(), "journal:concurrent")
            barrier.wait()
            for i in range(per_writer):
                journal.append(EntryKind.INTENT, _intent(w * 1000 + i))
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    journal = Journal(private_redis.client(), "journal:concurrent")
    report = journal.verify()
    assert report.ok and report.entries == writers * per_writer
    entries = list(journal.entries())
    assert [e.seq for e in entries] == list(range(1, writers * per_writer + 1))
    ids = sorted(e.payload.intent_id for e in entries)
    assert ids == sorted(f"i{w * 1000 + i}" for w in range(writers) for i in range(per_writer))
    # the writers really interleaved (one writer's 60 entries are not one block)
    first_writer = [e.seq for e in entries if e.payload.intent_id.startswith("i") and int(e.payload.intent_id[1:]) < 1000]
    assert first_writer[-1] - first_writer[0] + 1 > per_writer


def test_no_acknowledged_entry_is_lost_when_redis_is_sigkilled(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "crash", appendfsync="always")
    server.start()
    acknowledged: list[JournalEntry] = []
    try:
        for round_ in range(3):
            stop = threading.Event()
            failure: list[BaseException] = []

            def write(round_: int = round_, stop: threading.Event = stop, failure: list = failure) -> None:
                # no client retries: the append cut by the SIGKILL fails at once (redis-py's default retries
                # held the writer ~4 s per round against the dead server before the same ConnectionError)
                journal = Journal(server.client(retries=False), "journal:crash")
                i = 0
                while not stop.is_set():
                    try:
                        acknowledged.append(journal.append(EntryKind.INTENT, _intent(round_ * 100_000 + i)))
                    except (redis.ConnectionError, redis.TimeoutError):
                        return  # this append was not acknowledged: it may or may not be stored
                    except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
                        failure.append(exc)
                        return
                    i += 1

            target = len(acknowledged) + 300
            writer = threading.Thread(target=write)
            writer.start()
            deadline = time.monotonic() + 120
            while len(acknowledged) < target and time.monotonic() < deadline and writer.is_alive():
                time.sleep(0.01)
            server.sigkill()  # mid-stream: the writer is appending as fast as it can
            stop.set()
            writer.join(timeout=60)
            assert not failure and len(acknowledged) >= target
            server.start()  # same port, password and data folder
            journal = Journal(server.client(), "journal:crash")
            stored = {e.seq: e for e in journal.entries()}
            for entry in acknowledged:
                assert entry.seq in stored, f"acknowledged entry {entry.seq} lost after SIGKILL round {round_}"
                assert stored[entry.seq].hash == entry.hash and stored[entry.seq].payload == entry.payload
            report = journal.verify()
            assert report.ok and report.entries == len(stored) >= len(acknowledged)
    finally:
        server.stop()


def test_fold_rebuilds_state_from_the_journal(private_redis: PrivateRedis) -> None:
    journal = Journal(private_redis.client(), "journal:fold")
    moves = [("c1", "INITIALIZED", "SUBMITTED"), ("c2", "INITIALIZED", "SUBMITTED"), ("c1", "SUBMITTED", "ACCEPTED"),
             ("c2", "SUBMITTED", "UNKNOWN"), ("c1", "ACCEPTED", "FILLED")]
    for cid, src, dst in moves:
        journal.append(EntryKind.STATE_CHANGE, OrderStateChange(cid, "binance", "XRP/ETH", src, dst, "x"))
    journal.append(EntryKind.INTENT, _intent(3))

    def step(states: dict[str, str], entry: JournalEntry) -> dict[str, str]:
        if entry.kind is EntryKind.STATE_CHANGE:
            assert states.get(entry.payload.client_order_id, "INITIALIZED") == entry.payload.from_state
            return {**states, entry.payload.client_order_id: entry.payload.to_state}
        return states

    fresh = Journal(private_redis.client(), "journal:fold")
    assert fresh.fold(step, {}) == {"c1": "FILLED", "c2": "UNKNOWN"}
    assert fresh.head() == (6, list(fresh.entries())[-1].hash)


def test_readers_continue_after_a_stream_id_and_followers_wait_for_new_entries(private_redis: PrivateRedis) -> None:
    journal = Journal(private_redis.client(), "journal:tail")
    first = [journal.append(EntryKind.INTENT, _intent(i)) for i in range(3)]
    assert [e.seq for e in journal.entries(after=first[0].stream_id)] == [2, 3]
    assert list(journal.entries(after=first[-1].stream_id)) == []
    follower = Journal(private_redis.client(), "journal:tail")
    assert [e.seq for e in follower.wait_new("0-0", block_ms=100)] == [1, 2, 3]
    assert follower.wait_new(first[-1].stream_id, block_ms=50) == []
    later: list[JournalEntry] = []
    writer = threading.Timer(0.3, lambda: later.append(journal.append(EntryKind.INTENT, _intent(9))))
    writer.start()
    got = follower.wait_new(first[-1].stream_id, block_ms=30_000)  # blocks until the writer appends
    writer.join()
    assert [e.seq for e in got] == [4] and got[0] == later[0]


def test_last_of_finds_the_newest_entry_of_a_kind_reading_backwards(private_redis: PrivateRedis) -> None:
    journal = Journal(private_redis.client(), "journal:last")
    assert journal.last_of(EntryKind.TRADING_STATE) is None  # an empty stream
    assert journal_state(journal) is TradingState.ACTIVE
    assert journaled_trading_state(journal, TradingState.HALTED) is TradingState.HALTED
    journal.append_many([(EntryKind.INTENT, _intent(i)) for i in range(300)])  # none, over several pages
    assert journal.last_of(EntryKind.TRADING_STATE) is None
    assert journal_state(journal) is TradingState.ACTIVE
    changes = [("ACTIVE", "HALTED", "manual"), ("HALTED", "REDUCING", "kill_switch"), ("REDUCING", "HALTED", "x")]
    written = [journal.append(EntryKind.TRADING_STATE, TradingStateChange(*c)) for c in changes]
    journal.append_many([(EntryKind.INTENT, _intent(i)) for i in range(5)])
    assert journal.last_of(EntryKind.TRADING_STATE) == written[-1]
    assert journal_state(journal) is TradingState.HALTED
    for start in range(0, 1500, 500):  # the state entry far back, behind 1,500 entries of other kinds
        journal.append_many([(EntryKind.STATE_CHANGE, OrderStateChange(f"c{i}", "binance", "XRP/ETH", "SUBMITTED",
                                                                       "ACCEPTED", '"kind":"trading_state"'))
                             for i in range(start, start + 500)])
    assert journal.last_of(EntryKind.TRADING_STATE) == written[-1]
    assert journal.last_of(EntryKind.INTENT) == [e for e in journal.entries() if e.kind is EntryKind.INTENT][-1]
    assert journal_state(journal) is TradingState.HALTED
    resumed = journal.append(EntryKind.TRADING_STATE, TradingStateChange("HALTED", "ACTIVE", "manual"))
    assert Journal(private_redis.client(), "journal:last").last_of(EntryKind.TRADING_STATE) == resumed
    assert journal_state(journal) is TradingState.ACTIVE


def journal_state(journal: Journal) -> TradingState:
    """The risk monitor's start-up read, checked against the forward fold over every entry it replaced."""
    state = journaled_trading_state(journal)
    assert state is trading_state_of(journal.entries())
    return state
