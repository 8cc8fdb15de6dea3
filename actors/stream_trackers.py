"""Per-stream gap and resync state machines of the ExchangeActor, with no Ray, no ccxt, no sockets.

One tracker per ``(kind, symbol)`` stream. The actor feeds it what arrived
and does what it answers:

* ``on_live(batch) -> Step``: a batch from the live feed (WebSocket, or a REST
  poll on venues without a stream for that kind), already parsed into
  :mod:`actors.messages` ticks. ``Step.out`` is what to publish now;
  ``Step.fetch`` (when not None) says what to fetch over REST before going on;
* ``on_fetched(rows) -> tuple[Out, ...]``: the parsed REST answer to that
  fetch: what to publish (recovered items in order, then a :class:`Resync`);
* ``on_fetch_failed()``: the REST fetch failed too; the gap stays open and the
  held live batch is dropped (the next fetch starts again from the last
  published key, so nothing is lost);
* ``on_error(reason) -> tuple[Out, ...]``: the live feed raised; a
  :class:`Gap` the first time, nothing while the gap is already open.

Invariants (all three trackers): within a stream the published keys (trade
id, bar open time, book nonce) increase, except that a bar whose open time
equals the last published one is published again (the forming bar of a kline
stream, last event wins); every :class:`Gap` is followed by exactly one
:class:`Resync` before the next :class:`Gap`; a gap is closed only after a
REST fetch succeeded (or, with nothing published yet, when the feed resumes).

The user stream (our own orders, pushed) needs no tracker: pushed fills are deduplicated by venue trade id
and REST fills every gap; :func:`order_push_supersedes` decides whether a pushed order state replaces the one
the actor knows (pushes and REST answers race, so an older state must not overwrite a newer one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

from actors.exchange_core import bar_time_gap, merge_recovered, trade_id_gap
from actors.messages import BarTick, BookSnapshot, OrderUpdate, TradeTick
from raytrader.errors import InputError

__all__ = ["Emit", "Gap", "Resync", "Out", "Fetch", "Step", "TradesTracker", "BookTracker", "BarsTracker",
           "make_tracker", "order_push_supersedes"]


@dataclass(frozen=True)
class Emit:
    """Publish ``payload`` as a market event of ``kind`` (trade | book | bar); ``recovered``: fetched over REST."""

    kind: str
    payload: Any
    recovered: bool = False


@dataclass(frozen=True)
class Gap:
    """Publish a ``GapDetected``; ``last_good``: the last key published before it (None if none yet)."""

    reason: str
    last_good: int | None


@dataclass(frozen=True)
class Resync:
    """Publish a ``Resynced``: ``recovered`` items came over REST; live resumes after ``resumed_from``."""

    recovered: int
    resumed_from: int | None


Out = Union[Emit, Gap, Resync]


@dataclass(frozen=True)
class Fetch:
    """What to fetch over REST: ``trades`` with id > ``after``, ``bars`` with open time > ``after`` (ms), or a
    ``book`` snapshot (``after`` None)."""

    kind: str
    after: int | None


@dataclass(frozen=True)
class Step:
    """The answer to a live batch: publish ``out`` now; then, if ``fetch`` is set, fetch it and call
    ``on_fetched`` (or ``on_fetch_failed``)."""

    out: tuple[Out, ...]
    fetch: Fetch | None = None


class _Tracker:
    """Shared part: the open-gap flag and the first-error gap."""

    last: int | None
    gap_open: bool

    def __init__(self) -> None:
        self.last = None
        self.gap_open = False

    def on_error(self, reason: str) -> tuple[Out, ...]:
        """The live feed raised (``reason`` names the exception class): a Gap once per outage."""
        if self.gap_open:
            return ()
        self.gap_open = True
        return (Gap(f"stream error: {reason}", self.last),)

    def on_fetch_failed(self) -> None:
        """REST failed as well: keep the gap open; the held live batch is dropped (refetched next time)."""
        self._held: Sequence[Any] = ()


class TradesTracker(_Tracker):
    """Public trades; ``last`` is the last published trade id. For venues whose trade ids are consecutive per
    symbol (Binance, Coinbase): an id jump is a gap, recovered by fetching trades after ``last``."""

    def __init__(self) -> None:
        super().__init__()
        self._held: Sequence[TradeTick] = ()

    def on_live(self, ticks: Sequence[TradeTick]) -> Step:
        ticks = sorted(ticks, key=lambda t: int(t.trade_id))
        out: list[Out] = []
        jump = trade_id_gap(self.last, [int(t.trade_id) for t in ticks])
        if jump is not None and not self.gap_open:
            out.append(Gap(f"trade id jump: {jump[0]}..{jump[1]} missing", self.last))
            self.gap_open = True
        if self.gap_open and self.last is not None:
            self._held = ticks
            return Step(tuple(out), Fetch("trades", self.last))
        return Step(tuple(out) + self._merge(ticks, ()))

    def on_fetched(self, rows: Sequence[TradeTick]) -> tuple[Out, ...]:
        held, self._held = self._held, ()
        return self._merge(held, rows)

    def _merge(self, live: Sequence[TradeTick], fetched: Sequence[TradeTick]) -> tuple[Out, ...]:
        merged = merge_recovered(live, fetched, lambda t: int(t.trade_id), self.last)
        out: list[Out] = [Emit("trade", tick, recovered) for tick, recovered in merged]
        if merged:
            self.last = int(merged[-1][0].trade_id)
        if self.gap_open and (self.last is not None or merged):
            out.append(Resync(sum(r for _, r in merged), self.last))
            self.gap_open = False
        return tuple(out)


class BookTracker(_Tracker):
    """Order-book snapshots; ``last`` is the last published nonce. After a gap the next live update is not
    trusted: a REST snapshot is fetched and published (``recovered``), then a Resync. Updates whose nonce does
    not increase are dropped (a venue without nonces publishes every update)."""

    def on_live(self, snaps: Sequence[BookSnapshot]) -> Step:
        if self.gap_open:
            return Step((), Fetch("book", None))
        out: list[Out] = []
        for snap in snaps:
            if snap.nonce is None or self.last is None or snap.nonce > self.last:
                out.append(Emit("book", snap))
                self.last = snap.nonce
        return Step(tuple(out))

    def on_fetched(self, rows: Sequence[BookSnapshot]) -> tuple[Out, ...]:
        snap = rows[-1]
        self.last = snap.nonce
        self.gap_open = False
        return (Emit("book", snap, True), Resync(1, self.last))


class BarsTracker(_Tracker):
    """OHLCV bars of one timeframe; ``last`` is the open time (ms) of the last published bar.

    A bar more than one timeframe after ``last`` asks for the bars since over REST; it is a gap only if the
    venue does hold bars in between (real samples have empty minutes). The forming bar may come again with the
    same open time: it is published again; older ones are ignored.
    """

    def __init__(self, timeframe_ms: int) -> None:
        super().__init__()
        self.timeframe_ms = timeframe_ms
        self._held: Sequence[BarTick] = ()

    def on_live(self, bars: Sequence[BarTick]) -> Step:
        bars = sorted(bars, key=lambda b: b.timestamp_ms)
        times = ([] if self.last is None else [self.last]) + [b.timestamp_ms for b in bars]
        jump = any(bar_time_gap(a, b, self.timeframe_ms) for a, b in zip(times, times[1:]))
        if (self.gap_open or jump) and self.last is not None:
            self._held = bars
            return Step((), Fetch("bars", self.last))
        return Step(self._merge(bars, ()))

    def on_fetched(self, rows: Sequence[BarTick]) -> tuple[Out, ...]:
        held, self._held = self._held, ()
        return self._merge(held, rows)

    def _merge(self, bars: Sequence[BarTick], fetched: Sequence[BarTick]) -> tuple[Out, ...]:
        last = self.last
        live = [b for b in bars if last is None or b.timestamp_ms >= last]
        merged = merge_recovered(live, fetched, lambda b: b.timestamp_ms, None if last is None else last - 1)
        missed = sum(r for _, r in merged)
        out: list[Out] = []
        if missed and not self.gap_open:  # a time jump is a gap only if the venue has the bars in between
            out.append(Gap(f"kline time jump: {missed} bar(s) missed", last))
            self.gap_open = True
        out += [Emit("bar", bar, recovered) for bar, recovered in merged]
        if merged:
            self.last = merged[-1][0].timestamp_ms
        if self.gap_open:
            out.append(Resync(missed, self.last))
            self.gap_open = False
        return tuple(out)


def make_tracker(kind: str, timeframe_ms: int) -> TradesTracker | BookTracker | BarsTracker:
    """A fresh tracker for a stream of ``kind`` (trades | book | bars)."""
    if kind == "trades":
        return TradesTracker()
    if kind == "book":
        return BookTracker()
    if kind == "bars":
        return BarsTracker(timeframe_ms)
    raise InputError(f"stream kind {kind!r}: expected trades, book or bars")


_FINAL = frozenset({"closed", "canceled", "rejected"})


def order_push_supersedes(known: OrderUpdate | None, pushed: OrderUpdate) -> bool:
    """Whether a pushed order state (the venue's user stream) replaces ``known`` (what the actor holds).

    Only orders the actor placed or touched are followed (``known`` None: no). A final state (closed,
    canceled, rejected) is never replaced; an ``unknown`` one always is (the venue has spoken). Otherwise the
    push wins when it is newer: more filled, or as filled and now final. A push that repeats what is known,
    or is older (less filled, or open after a fill the actor already knows of), changes nothing.
    """
    if known is None or known.status in _FINAL or pushed.status == "unknown":
        return False
    if known.status == "unknown":
        return True
    if pushed.filled != known.filled:
        return pushed.filled > known.filled
    return pushed.status in _FINAL
