"""``ArbRunner`` (named ``strategy:arbitrage:<symbol>@<venue>+<venue>``): cross-venue arbitrage on live books.

One task per venue long-polls the ``book:<symbol>`` stream of the venue's
ExchangeActor and keeps its latest snapshot (a ``GapDetected`` drops it until
the next snapshot; snapshots are whole, so a ``seq`` hole loses nothing but
is counted). On every new snapshot the decision task reads each venue's touch
(:func:`actors.arbitrage.fresh_touches`; a book older than ``stale_s`` is
not used) and the inventory, and calls the pure
:func:`actors.arbitrage.arbitrage`. An edge is acted on once it is
*confirmed*: seen again on a snapshot of every venue received after it was
first seen (``confirm``). One venue's feed lags the other's; when the price
jumps, the faster feed shows the new price beside the slower feed's old one,
an edge that vanishes with the slower feed's next snapshot (its legs would
meet a book that has already moved: one fills, the other does not).
Confirmation costs one snapshot interval of the slower feed per pair.
A confirmed decision becomes two limit orders (:func:`actors.arbitrage.leg_intents`; with ``spare``
their limits give the edge above the margin as room to fill, :func:`actors.arbitrage.spare_limits`,
else the touch prices), intent ids
``<pair>:buy`` / ``<pair>:sell``: the journal names both legs by their pair),
sent at once through the ``oms`` (:meth:`actors.oms.OmsActor.submit_intent`:
the pre-trade check, the journal before the send, the OMS's order states and
fills). Both legs are ``IOC``: the venue expires a leg's remainder that did not
fill at once (a leg the OMS still reports open is cancelled all the same), so a
leg fills at its limit or better, in part, or not at all.

Inventory is what each venue's account holds *free*, read from the venue
(:meth:`actors.exchange.ExchangeActor.balance`) at start and after every pair:
a leg that failed or filled in part leaves its imbalance in those balances,
and the next decision sizes from them (with the per-venue cap ``max_base``).
After a pair the runner waits for a new snapshot of every venue (the one it
decided on may show liquidity the pair has just taken).

Start (also Ray's restart after a crash): cancel any arbitrage leg still open
in the OMS, rebuild the pairs sent so far from the journal
(:func:`actors.arbitrage.journaled_pairs`: each leg's state and filled amount;
``rebuilt_pairs`` in the status), read the balances (the inventory: what the
venues hold now, every earlier pair's fills included), and begin a new pair
series (:func:`actors.arbitrage.pair_id` carries the start time, so pair ids
never repeat and no leg is sent twice). The journal is read only after the
OMS answered this process's first call (the open legs): a leg the killed
process had handed the OMS reached it before that call, and
:meth:`actors.oms.OmsActor.submit_intent` journals its intent in the same
step of the OMS's event loop in which it starts, so the rebuild misses no
pair the killed process sent (a leg still unsent when it died was never
journaled).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import ray

from actors import order_manager as om
from actors.arbitrage import (
    ArbDecision,
    ArbError,
    EdgeConfirmation,
    Inventory,
    Touch,
    arbitrage,
    best_edge_bps,
    fresh_touches,
    journaled_pairs,
    leg_intents,
    pair_id,
    spare_limits,
)
from actors.exchange_core import SeqChecker, client_order_id
from actors.handles import NamedActors
from actors.journal import EntryKind, Journal
from actors.messages import BookSnapshot, GapDetected, MarketEvent, stream_name
from actors.trading import ACTOR_CPUS, OMS_NAME, TradingConfig, exchange_name, redis_url, strategy_name

__all__ = ["ArbSpec", "ArbRunner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArbSpec:
    """One arbitrage runner. ``venues`` and their taker fees ``taker_bps`` (same order); ``margin_bps``: the
    least net edge acted on; ``max_qty``: the most base units per pair; ``step``: the lot (base units);
    ``max_base``: the most base any one venue may hold (``inf``: no cap); ``prefix``: the pair-id prefix
    (the legs' intent ids start with it); ``stale_s``: a book older than this is not traded on (s);
    ``leg_timeout_s``: how long to wait for a leg's answer before the pair is left to the OMS (s);
    ``confirm``: act on an edge only once snapshots of every venue received after it was first seen still show
    it (module docstring); ``spare``: leg limits with the edge above the margin as room
    (:func:`actors.arbitrage.spare_limits`), else at the touches; ``tick``: the price step (quote)."""

    symbol: str
    venues: tuple[str, ...]
    taker_bps: tuple[float, ...]
    margin_bps: float = 5.0
    max_qty: float = 1e12
    step: float = 1e-8
    max_base: float = math.inf
    prefix: str = "arb"
    stale_s: float = 2.0
    leg_timeout_s: float = 60.0
    confirm: bool = True
    spare: bool = True
    tick: float = 1e-8

    def __post_init__(self) -> None:
        if len(self.venues) < 2 or len(set(self.venues)) != len(self.venues):
            raise ArbError(f"ArbSpec.venues {self.venues!r}: expected two or more distinct venues")
        if len(self.taker_bps) != len(self.venues):
            raise ArbError("ArbSpec.taker_bps: expected one fee per venue")
        if not (self.max_base > 0):
            raise ArbError(f"ArbSpec.max_base must be > 0, got {self.max_base!r}")
        if not (self.stale_s > 0 and self.leg_timeout_s > 0):
            raise ArbError("ArbSpec.stale_s and leg_timeout_s must be > 0")
        pair_id(self.prefix, 0, 0)  # raises on a bad prefix
        arbitrage([], {}, self.margin_bps, self.max_qty, self.step)  # raises on a bad margin, clip or step

    @property
    def key(self) -> str:
        return strategy_name("arbitrage", self.symbol, "+".join(self.venues))


def _mid(t: Touch) -> float:
    return (t.bid + t.ask) / 2


@ray.remote(num_cpus=ACTOR_CPUS)
class ArbRunner:
    """See the module docstring."""

    def __init__(self, config: TradingConfig, spec: ArbSpec) -> None:
        self.config, self.spec = config, spec
        self._peers = NamedActors(config.ray_namespace)  # cached handles (actors.handles)
        self.fees = dict(zip(spec.venues, spec.taker_bps))
        self.books: dict[str, tuple[BookSnapshot, float]] = {}  # venue -> (latest snapshot, monotonic received)
        self.after = {v: 0 for v in spec.venues}
        self.ex_pid: dict[str, int | None] = {v: None for v in spec.venues}
        self.checkers = {v: SeqChecker() for v in spec.venues}
        self.holes = 0
        self.snapshots = {v: 0 for v in spec.venues}  # book snapshots received per venue
        self.gaps = 0
        self.changed = asyncio.Event()
        self.started_ms = int(time.time() * 1000)
        self.inventory: dict[str, Inventory] = {}
        self.looks = 0
        self.skipped: dict[str, int] = {}  # wakes on a new snapshot that gave no look, by fresh_touches' reason
        self.confirmation = EdgeConfirmation()
        self.best_edge: float | None = None
        self.pairs: list[dict[str, Any]] = []
        self.pair_ms: list[float] = []
        self.cancelled_at_start: list[str] = []
        self.rebuilt_pairs = 0
        self.errors = 0
        self.stopping = False
        self._idle = asyncio.Event()  # set while no pair is in flight
        self._idle.set()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch(v)) for v in spec.venues]
        self._tasks.append(loop.create_task(self._decide_loop()))

    # ------------------------------------------------------------ books
    async def _watch(self, venue: str) -> None:
        stream = stream_name("book", self.spec.symbol)
        while True:
            try:
                ex = self._peers(exchange_name(venue))
                if self.ex_pid[venue] is None:
                    self.ex_pid[venue] = await ex.ping.remote()
                items = await ex.poll.remote(stream, self.after[venue], 1.0, 10_000)
                if not items:
                    pid = await ex.ping.remote()
                    if pid != self.ex_pid[venue]:  # the ExchangeActor restarted: its streams count from 1 again
                        self.ex_pid[venue], self.after[venue], self.checkers[venue] = pid, 0, SeqChecker()
                        self.books.pop(venue, None)
                    continue
                self.holes += len(self.checkers[venue].check(items))
                self.after[venue] = items[-1].seq
                last = items[-1]
                if isinstance(last, GapDetected):  # the feed broke: no price from it until a new snapshot
                    self.gaps += 1
                    self.books.pop(venue, None)
                    continue
                books = [i.book for i in items if isinstance(i, MarketEvent) and i.book is not None]
                if books:
                    self.snapshots[venue] += len(books)
                    self.books[venue] = (books[-1], time.monotonic())
                    self.changed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an actor (re)starting; the next round retries
                self.errors += 1
                log.warning("%s %s book: %s", self.spec.key, venue, type(exc).__name__)
                await asyncio.sleep(0.2)

    def _touches(self) -> list[Touch] | None:
        touches, why_not = fresh_touches(self.books, self.spec.venues, self.spec.taker_bps, time.monotonic(),
                                         self.spec.stale_s)
        if touches is None:
            self.skipped[why_not] = self.skipped.get(why_not, 0) + 1
        return touches

    # ------------------------------------------------------------ inventory and decisions
    async def _read_inventory(self) -> None:
        base, quote = self.spec.symbol.split("/")
        inventory = {}
        for venue in self.spec.venues:
            ex = self._peers(exchange_name(venue))
            held = {b.asset: b.free for b in await ex.balance.remote()}
            inventory[venue] = Inventory(held.get(base, 0.0), held.get(quote, 0.0), self.spec.max_base)
        self.inventory = inventory

    async def _cancel_open_legs(self) -> None:
        """Cancel every order still open in the OMS on our venues and symbol: in an arbitrage session every
        order is a leg, and a leg is never meant to rest (module docstring)."""
        oms = self._peers(OMS_NAME)
        for o in await oms.orders.remote():
            if o["venue"] in self.fees and o["symbol"] == self.spec.symbol and o["state"] in (
                    "ACCEPTED", "PARTIALLY_FILLED"):
                await oms.cancel.remote(o["client_order_id"], "arb_restart")
                self.cancelled_at_start.append(o["client_order_id"])

    def _journaled_pairs(self) -> list[dict[str, Any]]:
        """The pairs this runner's earlier incarnations sent, from the journal (module docstring): each leg's state
        and filled amount as the OMS folds them (:func:`actors.order_manager.rebuild`)."""
        entries = list(Journal.from_url(redis_url(), self.config.stream).entries())
        orders = om.rebuild(om.initial_oms_state(self.config.namespace, self.config.limits, 0), entries).orders
        return journaled_pairs([e.payload for e in entries if e.kind is EntryKind.INTENT],
                               {c: o.state.value for c, o in orders.items()}, {c: o.filled for c, o in orders.items()},
                               lambda i: client_order_id(self.config.namespace, i), self.spec.prefix, self.spec.symbol)

    async def _decide_loop(self) -> None:
        while True:
            try:
                await self._cancel_open_legs()  # before the journal is read: see "Start" in the module docstring
                if not self.pairs:  # once per process: the pairs sent before it started
                    self.pairs = await asyncio.to_thread(self._journaled_pairs)
                    self.rebuilt_pairs = len(self.pairs)
                await self._read_inventory()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the OMS or a venue actor (re)starting
                self.errors += 1
                log.warning("%s start: %s", self.spec.key, type(exc).__name__)
                await asyncio.sleep(0.5)
        while True:
            await self.changed.wait()
            self.changed.clear()
            try:
                touches = self._touches()
                if touches is None:
                    continue
                self.looks += 1
                edge = best_edge_bps(touches)
                if edge is not None and (self.best_edge is None or edge > self.best_edge):
                    self.best_edge = edge
                decision = arbitrage(touches, self.inventory, self.spec.margin_bps, self.spec.max_qty,
                                     self.spec.step)
                has_edge = decision is not None and not self.stopping
                if self.spec.confirm:
                    confirmed = self.confirmation.observe(has_edge, self.snapshots)
                else:
                    confirmed = has_edge
                if decision is None or not confirmed:
                    continue
                self._idle.clear()
                try:
                    await self._open_pair(decision, {t.venue: _mid(t) for t in touches})
                finally:
                    self._idle.set()
                self.books.clear()  # decide again on snapshots taken after the pair
                await self._read_inventory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged; the next snapshot decides again
                self.errors += 1
                log.warning("%s decision: %s", self.spec.key, type(exc).__name__)
                await asyncio.sleep(0.2)

    async def _open_pair(self, decision: ArbDecision, mids: dict[str, float]) -> None:
        """Send both legs at once through the OMS; cancel what did not fill at once; record the pair."""
        oms = self._peers(OMS_NAME)
        pair = pair_id(self.spec.prefix, self.started_ms, len(self.pairs) + 1)
        limits = spare_limits(decision, self.fees[decision.buy_venue], self.fees[decision.sell_venue],
                              self.spec.margin_bps, self.spec.tick) if self.spec.spare else None
        legs = leg_intents(pair, decision, self.spec.symbol, limits)
        t0 = time.perf_counter()
        answers = await asyncio.gather(
            *(asyncio.wait_for(oms.submit_intent.remote(leg, mids[leg.venue]), self.spec.leg_timeout_s)
              for leg in legs), return_exceptions=True)
        record: dict[str, Any] = {"pair": pair, "buy_venue": decision.buy_venue, "sell_venue": decision.sell_venue,
                                  "qty": decision.qty, "buy_price": decision.buy_price,
                                  "sell_price": decision.sell_price, "buy_limit": legs[0].price,
                                  "sell_limit": legs[1].price, "edge_bps": decision.edge_bps,
                                  "expected_pnl": decision.expected_pnl}
        for leg, answer in zip(legs, answers):
            if isinstance(answer, BaseException):
                record[leg.side] = {"error": type(answer).__name__}
                continue
            if answer.get("state") in ("ACCEPTED", "PARTIALLY_FILLED"):  # the rest of an IOC leg: cancel it
                try:
                    answer = {**answer, **await asyncio.wait_for(
                        oms.cancel.remote(answer["client_order_id"], "arb_ioc"), self.spec.leg_timeout_s)}
                except Exception as exc:  # noqa: BLE001 - the OMS's sync settles it; the next start cancels it
                    answer = {**answer, "cancel_error": type(exc).__name__}
            record[leg.side] = answer
        self.pair_ms.append((time.perf_counter() - t0) * 1000)
        self.pairs.append(record)

    async def stop(self) -> dict[str, Any]:
        """Open no new pair; wait for the one in flight (both legs answered, remainders cancelled); the status."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), 2 * self.spec.leg_timeout_s)
        except asyncio.TimeoutError:
            log.warning("%s: a pair still in flight at stop", self.spec.key)
        return await self.status()

    # ------------------------------------------------------------ reading
    async def status(self) -> dict[str, Any]:
        """Looks (decisions made on two fresh touches), the best net edge seen (bps), the pairs sent and
        what the OMS answered for each leg, the pair round trip (both legs answered, ms), the inventory."""
        lat = sorted(self.pair_ms)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else None

        return {"key": self.spec.key, "stopping": self.stopping, "looks": self.looks, "skipped": dict(self.skipped),
                "stale_s": self.spec.stale_s, "best_edge_bps": self.best_edge,
                "edges": dict(self.confirmation.stats),
                "pairs": list(self.pairs[-1000:]), "pairs_sent": len(self.pairs),
                "pair_ms": {"n": len(lat), "p50": pct(0.5), "p99": pct(0.99)},
                "inventory": {v: {"base": i.base, "quote": i.quote} for v, i in self.inventory.items()},
                "snapshots": dict(self.snapshots), "holes": self.holes, "gaps": self.gaps, "errors": self.errors,
                "cancelled_at_start": list(self.cancelled_at_start), "rebuilt_pairs": self.rebuilt_pairs,
                "started_ms": self.started_ms, "pid": os.getpid()}

    async def ping(self) -> int:
        return os.getpid()
