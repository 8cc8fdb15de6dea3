"""``RouterActor`` (named ``router``): runs parent orders (route, TWAP, iceberg, direct) as children through the OMS.

A thin shell over :mod:`actors.parent_orders` (the state machine and the
decisions) and :mod:`actors.routing` / :mod:`actors.algos` (the numbers):

* :meth:`RouterActor.submit` takes a :class:`~actors.messages.ParentIntent`,
  reads the venues' books (:meth:`actors.exchange.ExchangeActor.book`: the
  ``book:<symbol>`` stream's newest snapshot when it is at most
  :attr:`~actors.trading.TradingConfig.book_max_age_s` old, else one fetched
  over REST; the answer's ``book_sources`` and the plan's journaled reason
  say which), stamps the arrival price (mid of the best touch across its venues; the
  last trade when a venue publishes no book) and the start time, and
  **journals the ``parent`` entry before any child**; a ``route`` parent's
  split (:func:`actors.routing.route`, fees from
  :attr:`actors.trading.TradingConfig.taker_bps`, else the taker fee the
  venue's market states, else :data:`DEFAULT_TAKER_BPS`; each venue's share capped by
  what its free balance pays for, read from its ExchangeActor's ``balance`` as it plans:
  :func:`actors.parent_orders.balance_caps`, the reason names a capped venue) is journaled
  with it as a ``parent_status`` ``working`` entry carrying the plan. A limit route's
  children are IOC: what they leave is re-routed on fresh books and balances. The answer holds the
  books it routed on, the plan, and the best single venue's plan on the same
  books.
* One loop follows the journal (the OMS writes each child's intent, state
  changes and fills there), folds it into the parents' states and acts on
  :func:`actors.parent_orders.decide`: each child is an ordinary order sent
  with :meth:`actors.oms.OmsActor.submit_intent` (pre-trade risk, state
  machine, journal, deterministic client order id from
  :func:`actors.algos.child_client_id`), each cancel with
  :meth:`actors.oms.OmsActor.cancel`.
* On every start (Ray restarts it: ``max_restarts=-1``) the parents are
  rebuilt from the journal and the unfinished ones continue. A child is never
  sent twice: its intent id is derived from the parent id and its index, and
  the OMS answers an intent id it has seen with the existing order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from typing import Any

import ray

from actors.handles import NamedActors
from actors.journal import EntryKind, Journal, JournalEntry
from actors.messages import BookSnapshot, MarketEvent, ParentIntent, stream_name
from actors.parent_orders import (
    ParentState,
    arrival_price,
    balance_caps,
    capped_text,
    child_intent,
    decide,
    fold,
    reroute_plan,
    route_plan,
    status_change,
    venue_book,
)
from actors.routing import RoutePlan
from actors.trading import ACTOR_CPUS, OMS_NAME, ROUTER_NAME, TradingConfig, exchange_name, redis_url

__all__ = ["RouterActor", "ROUTER_NAME", "DEFAULT_TAKER_BPS", "plan_json"]

log = logging.getLogger(__name__)

#: the taker fee (bps) a venue's book prices are netted with when the config names none for it
DEFAULT_TAKER_BPS = 10.0
#: seconds the loop waits for new journal entries when no parent has anything due sooner
IDLE_WAIT_S = 0.25
#: ms before a cancel the journal does not show settled yet is asked again
CANCEL_RETRY_MS = 2000


def _now() -> int:
    return int(time.time() * 1000)


def plan_json(plan: RoutePlan) -> dict[str, Any]:
    """A route plan as JSON: children ``(venue, qty, avg_price, cost)``, routed qty, net price, unfilled, and
    the venues its free-balance caps bound."""
    return {"children": [{"venue": c.venue, "qty": c.qty, "avg_price": c.avg_price, "cost": c.cost}
                         for c in plan.children],
            "qty": plan.qty, "net_price": plan.net_price, "unfilled": plan.unfilled, "capped": list(plan.capped)}


def _sources_text(sources: dict[str, dict[str, Any]]) -> str:
    """``alpha: stream 120 ms, beta: rest`` - where each venue's book came from (journaled with a plan)."""
    return ", ".join(f"{v}: {s['source']}" + (f" {s['age_ms']:.0f} ms" if s.get("source") == "stream" else "")
                     if "source" in s else f"{v}: none ({s.get('error')})" for v, s in sources.items())


@ray.remote(num_cpus=ACTOR_CPUS)
class RouterActor:
    """See the module docstring."""

    def __init__(self, config: TradingConfig) -> None:
        self.config = config
        self._peers = NamedActors(config.ray_namespace)  # cached handles (actors.handles)
        self.fees = dict(config.taker_bps)
        self.venue_fees: dict[str, float] = {}  # venue -> the taker fee (bps) its market states, as learnt
        url = redis_url()
        self.journal = Journal.from_url(url, config.stream)
        self.tail = Journal.from_url(url, config.stream)  # its own connection for the loop's (blocking) reads
        self.parents: dict[str, ParentState] = {}
        self.children_of: dict[str, tuple[str, int]] = {}
        entries = list(self.journal.entries())
        for e in entries:
            fold(self.parents, e, config.namespace, self.children_of)
        self.last_id = entries[-1].stream_id if entries else "0-0"
        self.rebuilt = sum(1 for p in self.parents.values() if p.status == "working")
        self.errors: dict[str, str] = {}  # parent id -> the last error acting on it
        self._accepting: set[str] = set()  # parent ids being accepted (between the books and the journal)
        self._cancelled: dict[str, int] = {}  # child client order id -> when its cancel was last asked, ms
        self._append_lock = asyncio.Lock()  # one Journal instance is not thread-safe: one append at a time
        self.started_ms = _now()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _append(self, entries: list[tuple[EntryKind, Any]]) -> list[JournalEntry]:
        async with self._append_lock:
            return await asyncio.to_thread(self.journal.append_many, entries)

    # ------------------------------------------------------------ market data
    def _exchange(self, venue: str) -> Any:
        return self._peers(exchange_name(venue))

    def _fee(self, venue: str) -> float:
        """The taker fee (bps) ``venue``'s book prices are netted with: the config's, else the venue's own."""
        return self.fees.get(venue, self.venue_fees.get(venue, DEFAULT_TAKER_BPS))

    async def _book(self, venue: str, symbol: str) -> tuple[BookSnapshot | None, dict[str, Any]]:
        """``venue``'s fresh book (``(None, {"error"})`` when it gives none) and where it came from."""
        try:
            answer = await self._exchange(venue).book.remote(symbol, self.config.book_max_age_s)
        except Exception as exc:  # noqa: BLE001 - the venue (or its actor) is unreachable: no book from it
            return None, {"error": type(exc).__name__}
        if answer.get("taker_bps") is not None:
            self.venue_fees[venue] = float(answer["taker_bps"])
        return answer["book"], {"source": answer["source"], "age_ms": answer["age_ms"], "taker_bps": self._fee(venue)}

    async def _latest(self, venue: str, kind: str, symbol: str) -> MarketEvent | None:
        """The newest event of ``venue``'s ``kind`` stream for ``symbol`` (None when it has none)."""
        ex = self._exchange(venue)
        stream = stream_name(kind, symbol)
        last = int((await ex.info.remote())["streams"].get(stream, 0))
        if last <= 0:
            return None
        for item in reversed(await ex.poll.remote(stream, max(0, last - 20), 0.0, 20)):
            if isinstance(item, MarketEvent):
                return item
        return None

    async def _books(self, venues: tuple[str, ...], symbol: str) -> tuple[dict[str, BookSnapshot | None],
                                                                          dict[str, dict[str, Any]]]:
        """Each venue's fresh book (None: it gave none) and its source (``stream`` / ``rest`` / ``error``)."""
        got = await asyncio.gather(*(self._book(v, symbol) for v in venues))
        return {v: b for v, (b, _) in zip(venues, got)}, {v: src for v, (_, src) in zip(venues, got)}

    async def _arrival(self, intent: ParentIntent, books: dict[str, BookSnapshot | None]) -> float | None:
        price = arrival_price([b for b in books.values() if b is not None])
        if price is None:
            trade = await self._latest(intent.venues[0], "trades", intent.symbol)
            price = trade.trade.price if trade is not None and trade.trade is not None else intent.limit
        return price

    def _venue_books(self, intent: ParentIntent, books: dict[str, BookSnapshot | None]) -> list[Any]:
        return [venue_book(v, intent.side, b, self._fee(v), intent.step, intent.step)
                for v, b in books.items() if b is not None]

    async def _free(self, venue: str) -> dict[str, float] | None:
        """``venue``'s free balance per asset (its ExchangeActor's ``balance``), None when it gives none."""
        try:
            return {b.asset: b.free for b in await self._exchange(venue).balance.remote()}
        except Exception as exc:  # noqa: BLE001 - no key or the venue down: no cap (the venue refuses what it must)
            log.warning("router: %s balance: %s", venue, type(exc).__name__)
            return None

    async def _caps(self, intent: ParentIntent, venue_books: list[Any]) -> dict[str, float]:
        """Each venue's cap (base units) from its free balance now (:func:`actors.parent_orders.balance_caps`)."""
        venues = [b.venue for b in venue_books]
        got = await asyncio.gather(*(self._free(v) for v in venues))
        return balance_caps(intent, venue_books, {v: f for v, f in zip(venues, got) if f is not None})

    # ------------------------------------------------------------ parents in
    async def submit(self, intent: ParentIntent) -> dict[str, Any]:
        """Accept ``intent`` (module docstring): ``{"status": "accepted", "parent": ..., "books", "book_sources",
        "plan", "single_venue"}``; ``{"status": "duplicate", "parent"}`` when its id was used before (nothing new is
        sent); ``{"status": "invalid", "field", "message"}`` for a venue or book the parent cannot use."""
        pid = intent.parent_id
        if pid in self.parents or pid in self._accepting:
            known = self.parents.get(pid)
            return {"status": "duplicate", "parent": known.to_json() if known else {"parent_id": pid}}
        unknown = [v for v in intent.venues if v not in self.config.venues]
        if unknown:
            return {"status": "invalid", "field": "venues",
                    "message": f"venues {unknown}: not in this deployment ({', '.join(self.config.venues)})"}
        self._accepting.add(pid)
        try:
            books, sources = await self._books(intent.venues, intent.symbol)
            missing = [v for v, b in books.items() if b is None]
            if intent.algo == "route" and missing:
                why = ", ".join(f"{v}: {sources[v].get('error')}" for v in missing)
                return {"status": "invalid", "field": "venues",
                        "message": f"venues {missing} gave no order book for {intent.symbol} ({why}): a route "
                                   "needs every venue's book"}
            accepted = replace(intent, arrival_price=await self._arrival(intent, books), start_ms=_now())
            draft = ParentState(accepted)
            entries: list[tuple[EntryKind, Any]] = [(EntryKind.PARENT, accepted)]
            answer: dict[str, Any] = {"books": {v: {"bids": [list(x) for x in b.bids], "asks": [list(x) for x in b.asks]}
                                                for v, b in books.items() if b is not None},
                                      "book_sources": sources}
            if intent.algo == "route":
                venue_books = self._venue_books(accepted, books)
                caps = await self._caps(accepted, venue_books)
                routed, single = route_plan(accepted, venue_books, caps)
                answer.update(plan=plan_json(routed), single_venue=plan_json(single), caps=caps)
                if routed.children:
                    plan = tuple((c.venue, c.qty) for c in routed.children)
                    change = status_change(draft, "working", f"routed {routed.qty:g} of {accepted.qty:g} on "
                                                             f"{_sources_text(sources)}{capped_text(routed, caps)}",
                                           plan)
                    draft = replace(draft, plan=plan)
                else:
                    why = "no free balance for it" if routed.capped else "no visible liquidity within the limit"
                    change = status_change(draft, "cancelled", f"nothing to route: {why}{capped_text(routed, caps)}")
                    draft = replace(draft, status="cancelled", reason=change.reason)
                entries.append((EntryKind.PARENT_STATUS, change))
            # durable before any child. Folded here too, so that the id is known at once (a second submit is a
            # duplicate); the loop reads the same entries back in journal order, which folds to the same state
            for e in await self._append(entries):
                fold(self.parents, e, self.config.namespace, self.children_of)
        finally:
            self._accepting.discard(pid)
        return {"status": "accepted", "parent": draft.to_json(), **answer}

    async def cancel(self, parent_id: str, reason: str = "user") -> dict[str, Any]:
        """Stop a working parent: journal ``cancelled``; the loop then cancels every child still open."""
        ps = self.parents.get(parent_id)
        if ps is None:
            return {"status": "unknown", "parent_id": parent_id}
        if ps.status == "working":
            change = status_change(ps, "cancelled", reason)
            await self._append([(EntryKind.PARENT_STATUS, change)])
            ps = replace(ps, status="cancelled", reason=reason)
        return {"status": "ok", "parent": ps.to_json()}

    # ------------------------------------------------------------ the loop
    def _apply(self, entries: list[JournalEntry]) -> None:
        for e in entries:
            fold(self.parents, e, self.config.namespace, self.children_of)
        if entries:
            self.last_id = entries[-1].stream_id

    def _read_new(self) -> list[JournalEntry]:
        return list(self.tail.entries(after=None if self.last_id == "0-0" else self.last_id))

    async def _act(self, ps: ParentState, now: int) -> tuple[bool, int | None]:
        """Carry out ``decide(ps, now)``; ``(acted, wake_ms)``. What it journals is read back by the loop."""
        d = decide(ps, now, self.config.max_reroutes)
        pid = ps.intent.parent_id
        oms = self._peers(OMS_NAME)
        if d.needs_plan or d.reroute:
            books, sources = await self._books(ps.intent.venues, ps.intent.symbol)
            venue_books = self._venue_books(ps.intent, books)
            caps = await self._caps(ps.intent, venue_books)
            if d.reroute:  # the children left it short: plan the rest on fresh books (journaled before any send)
                change = reroute_plan(ps, venue_books, caps)
                change = replace(change, reason=f"{change.reason} (books {_sources_text(sources)})")
            else:  # restarted between the parent entry and its plan: route the parent now
                routed, _ = route_plan(ps.intent, venue_books, caps)
                plan = tuple((c.venue, c.qty) for c in routed.children)
                change = (status_change(ps, "working", "routed after a restart", plan) if plan
                          else status_change(ps, "cancelled", "nothing to route"))
            await self._append([(EntryKind.PARENT_STATUS, change)])
            return True, None
        acted = False
        if d.status is not None:
            await self._append([(EntryKind.PARENT_STATUS, d.status)])
            acted = True
        for cid in d.cancel:
            if now - self._cancelled.get(cid, 0) < CANCEL_RETRY_MS:
                continue  # asked already: its answer (or the fill that raced it) is on its way to the journal
            self._cancelled[cid] = now
            acted = True
            try:
                await oms.cancel.remote(cid, f"parent {pid}")
            except Exception as exc:  # noqa: BLE001 - already settled (a fill raced it): the journal says
                self.errors[pid] = f"cancel {cid}: {type(exc).__name__}"
        for spec in d.send:
            answer = await oms.submit_intent.remote(child_intent(ps.intent, spec), ps.intent.arrival_price)
            if answer.get("status") != "order":
                self.errors[pid] = f"child {spec.index}: {answer.get('reason')}"
                await asyncio.sleep(1.0)  # the OMS is not trading (yet): try again, not in a tight loop
            acted = True
        return acted, d.wake_ms

    async def _loop(self) -> None:
        while True:
            try:
                self._apply(await asyncio.to_thread(self._read_new))
                now, acted, wakes = _now(), False, []
                for pid in list(self.parents):
                    ps = self.parents[pid]
                    if ps.status == "working" or ps.open_children:
                        did, wake = await self._act(ps, now)
                        acted |= did
                        wakes += [wake] if wake is not None else []
                if acted:
                    continue  # read what the actions journaled before deciding again
                wait_ms = min([IDLE_WAIT_S * 1000] + [w - _now() for w in wakes])
                self._apply(await asyncio.to_thread(self.tail.wait_new, self.last_id, max(1, int(wait_ms))))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis or the OMS restarting: the next round retries
                log.warning("router loop: %s: %s", type(exc).__name__, str(exc)[:200])
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------ reading
    async def parents_json(self, working_only: bool = False) -> list[dict[str, Any]]:
        """Every parent (``working_only``: those still working), oldest first."""
        return [{**p.to_json(), "error": self.errors.get(p.intent.parent_id)}
                for p in sorted(self.parents.values(), key=lambda p: p.intent.start_ms)
                if not working_only or p.status == "working"]

    async def parent(self, parent_id: str) -> dict[str, Any] | None:
        """One parent with its children (index, client order id, venue, type, qty, price, state, filled, avg)."""
        ps = self.parents.get(parent_id)
        if ps is None:
            return None
        return {**ps.to_json(), "error": self.errors.get(parent_id),
                "children_detail": [{"index": c.index, "client_order_id": c.client_order_id, "venue": c.venue,
                                     "type": c.type, "qty": c.qty, "price": c.price, "state": c.state,
                                     "filled": c.filled, "avg_price": c.value / c.filled if c.filled else None,
                                     "sent_ms": c.sent_ms}
                                    for _, c in sorted(ps.children.items())]}

    async def status(self) -> dict[str, Any]:
        by: dict[str, int] = {}
        for p in self.parents.values():
            by[p.status] = by.get(p.status, 0) + 1
        return {"parents": by, "rebuilt_working": self.rebuilt, "pid": os.getpid(), "started_ms": self.started_ms,
                "last_id": self.last_id}

    async def ping(self) -> int:
        return os.getpid()
