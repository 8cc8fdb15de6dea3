"""The ExchangeActor's per-stream gap/resync trackers (actors/stream_trackers.py), without Ray or sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import BarTick, BookSnapshot, TradeTick
from actors.stream_trackers import (
    BarsTracker,
    BookTracker,
    Emit,
    Fetch,
    Gap,
    Resync,
    TradesTracker,
    make_tracker,
)
from raytrader.errors import InputError

MIN = 60_000


def tick(i: int) -> TradeTick:
    return TradeTick(str(i), 1.0 + i / 1000, 1.0, "buy", 1_000 + i)


def bar(minute: int, close: float = 1.0) -> BarTick:
    return BarTick("1m", minute * MIN, 1.0, 1.0, 1.0, close, 1.0)


def book(nonce: int | None) -> BookSnapshot:
    return BookSnapshot(((1.0, 1.0),), ((1.1, 1.0),), nonce, None)


def keys(out) -> list[int]:
    return [int(o.payload.trade_id) for o in out if isinstance(o, Emit)]


def test_trades_in_order_publish_at_once_and_an_id_jump_is_fetched_and_resynced() -> None:
    t = TradesTracker()
    step = t.on_live([tick(3), tick(1), tick(2)])
    assert step.fetch is None and keys(step.out) == [1, 2, 3] and not any(o.recovered for o in step.out)
    step = t.on_live([tick(7), tick(8)])  # 4..6 never came
    assert step.out == (Gap("trade id jump: 4..6 missing", 3),) and step.fetch == Fetch("trades", 3)
    out = t.on_fetched([tick(i) for i in range(2, 9)])  # REST answers more than the hole (ids <= 3 and live ones)
    assert keys(out) == [4, 5, 6, 7, 8]
    assert [o.recovered for o in out if isinstance(o, Emit)] == [True, True, True, False, False]
    assert out[-1] == Resync(3, 8) and t.last == 8 and not t.gap_open
    assert keys(t.on_live([tick(8), tick(9)]).out) == [9]  # a replayed id is not published twice


def test_a_stream_error_opens_one_gap_a_failed_fetch_keeps_it_open_and_nothing_is_lost() -> None:
    t = TradesTracker()
    t.on_live([tick(1)])
    assert t.on_error("NetworkError") == (Gap("stream error: NetworkError", 1),)
    assert t.on_error("NetworkError") == ()  # one gap per outage
    step = t.on_live([tick(5)])
    assert step.out == () and step.fetch == Fetch("trades", 1)
    t.on_fetch_failed()
    assert t.gap_open and t.last == 1
    step = t.on_live([tick(6)])
    assert step.out == () and step.fetch == Fetch("trades", 1)  # again from the last published id
    out = t.on_fetched([tick(i) for i in range(1, 7)])
    assert keys(out) == [2, 3, 4, 5, 6] and out[-1] == Resync(4, 6)


def test_a_gap_before_anything_was_published_closes_when_the_feed_resumes() -> None:
    t = TradesTracker()
    assert t.on_error("ConnectionClosed") == (Gap("stream error: ConnectionClosed", None),)
    step = t.on_live([tick(10)])
    assert step.fetch is None and keys(step.out) == [10] and step.out[-1] == Resync(0, 10)


def test_book_drops_stale_nonces_and_resyncs_from_a_rest_snapshot() -> None:
    b = BookTracker()
    assert [o.payload.nonce for o in b.on_live([book(5)]).out] == [5]
    assert b.on_live([book(5)]).out == () and b.on_live([book(4)]).out == ()
    assert [o.payload.nonce for o in b.on_live([book(6)]).out] == [6]
    assert b.on_error("NetworkError") == (Gap("stream error: NetworkError", 6),)
    step = b.on_live([book(9)])  # the first update after a gap is not trusted
    assert step.out == () and step.fetch == Fetch("book", None)
    out = b.on_fetched([book(8)])
    assert out == (Emit("book", book(8), True), Resync(1, 8))
    assert [o.payload.nonce for o in b.on_live([book(9)]).out] == [9]
    nonce_free = BookTracker()  # a venue without nonces: every update is published
    assert len(nonce_free.on_live([book(None)]).out) == 1 and len(nonce_free.on_live([book(None)]).out) == 1


def test_bars_republish_the_forming_bar_and_a_time_jump_is_a_gap_only_if_the_venue_has_bars_between() -> None:
    b = BarsTracker(MIN)
    assert [o.payload.timestamp_ms for o in b.on_live([bar(1), bar(2)]).out] == [MIN, 2 * MIN]
    out = b.on_live([bar(2, close=2.0)]).out  # the forming bar again: last event wins
    assert len(out) == 1 and out[0].payload.close == 2.0
    assert b.on_live([bar(1)]).out == ()  # older: ignored
    step = b.on_live([bar(5)])
    assert step.out == () and step.fetch == Fetch("bars", 2 * MIN)
    out = b.on_fetched([bar(5)])  # the venue has nothing for minutes 3 and 4: no gap
    assert [type(o) for o in out] == [Emit] and out[0].payload.timestamp_ms == 5 * MIN and not out[0].recovered
    step = b.on_live([bar(9)])
    out = b.on_fetched([bar(6), bar(7), bar(9)])  # the venue holds 6 and 7: a gap, recovered
    assert out[0] == Gap("kline time jump: 2 bar(s) missed", 5 * MIN)
    assert [(o.payload.timestamp_ms // MIN, o.recovered) for o in out[1:-1]] == [(6, True), (7, True), (9, False)]
    assert out[-1] == Resync(2, 9 * MIN)


def test_make_tracker_names_a_bad_kind() -> None:
    assert isinstance(make_tracker("bars", MIN), BarsTracker)
    with pytest.raises(InputError, match="'candles'"):
        make_tracker("candles", MIN)


# A venue tape 1..N; the feed delivers batches with some ids dropped and some errors; REST may fail.
_events = st.lists(st.tuples(st.sampled_from(["batch", "error"]), st.integers(1, 6), st.booleans(),
                             st.booleans()), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(_events)
def test_trades_tracker_publishes_each_id_once_in_order_and_alternates_gap_and_resync(events) -> None:
    t = TradesTracker()
    tape = 0
    published: list[int] = []
    marks: list[str] = []

    def take(out) -> None:
        for o in out:
            if isinstance(o, Emit):
                published.append(int(o.payload.trade_id))
            else:
                marks.append(type(o).__name__)

    for what, size, drop, rest_fails in events:
        if what == "error":
            take(t.on_error("NetworkError"))
            continue
        ids = list(range(tape + 1, tape + size + 1))
        tape += size
        live = ids[1:] if drop and len(ids) > 1 else ids  # the feed lost the first trade of the batch
        step = t.on_live([tick(i) for i in live])
        take(step.out)
        if step.fetch is not None:
            if rest_fails:
                t.on_fetch_failed()
            else:
                take(t.on_fetched([tick(i) for i in range(max(1, tape - 1000), tape + 1)]))
    assert published == sorted(set(published))  # each id once, increasing
    assert all(a != b for a, b in zip(marks, marks[1:]))  # Gap, Resync, Gap, ... never two of a kind in a row
    assert not marks or marks[0] == "Gap"
    if not t.gap_open and published:
        # once resynced, everything from the first published id up to the last is there (REST filled the holes)
        assert published == list(range(published[0], published[-1] + 1))
