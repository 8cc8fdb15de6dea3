"""``OmsActor`` (named ``oms``): the order manager's shell, and the one process of the decision path.

Per closed bar a StrategyRunner calls :meth:`OmsActor.on_target`; here, in one
process and with no actor hop: size the target (:func:`actors.trading.size_order`,
position from this actor's own ledger), check it against the limits and the
trading state the RiskMonitor publishes (:func:`actors.order_manager.submit`
runs :func:`risk.pretrade.check_order`), move the order state, **append the
journal entries, then** send the order through the venue's ExchangeActor with
its deterministic client order id. Acks and fills are applied through the pure
steps of :mod:`actors.order_manager`; a fill is idempotent by venue trade id
(the journal's fills are remembered, so a fill seen again after a restart is
not journaled twice).

Start (every start, including Ray's restart after a crash): rebuild the orders,
the ledger and the trading state from the journal, then reconcile with each
venue by client order id - the venue's open orders (ones we do not know are
adopted as external), the state of each of our orders still in flight, every
fill the ExchangeActor learnt (journaled if new), and the balances - and
journal one ``RECONCILIATION`` entry per venue. An order the journal says was
SUBMITTED but the venue does not know is sent again with the same client
order id (the intent was durable before the crash; the venue refuses a second
copy, so a retry cannot duplicate it). If any venue cannot be reconciled
(:data:`RECONCILE_ATTEMPTS` tries), trading does not start: :meth:`status`
says why and :meth:`on_target` refuses; the venues that failed are tried
again every ``config.reconcile_retry_s`` seconds in the background, and
trading starts once every venue is reconciled (a loaded machine or a venue
that was down at start no longer needs the actor restarted).

While trading, every ``poll_s`` the sync asks each venue's actor about the
orders in flight: an order none of whose venue calls is under way and that the
venue's actor does not know (its place call failed after the order was
journaled, or the actor died during it) is looked up at the venue by client
order id and sent again when the venue does not have it. A venue or an order
whose round fails does not hold up the others. The orders the sync walks are
the journal's (:class:`actors.oms_records.OrderRecords`: after an append that
raised, the journal is read back before the next decision - its entries may
have landed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from typing import Any, Sequence

import ray

from actors import metrics
from actors import order_manager as om
from actors.handles import NamedActors
from actors.exchange_config import UnknownClientOrder  # not actors.exchange: the OMS process never loads the ExchangeActor
from actors.journal import EntryKind, Journal
from actors.messages import BarTick, Fill, IntentContext, OrderIntent, OrderUpdate, ReconciliationResult
from actors.oms_records import OrderRecords
from actors.order_state import OrderState
from actors.trading import (
    ACTOR_CPUS,
    TradingConfig,
    exchange_name,
    redis_url,
    size_order,
    target_intent_id,
    trading_state_of,
)
from risk.pretrade import RiskView, TradingState

__all__ = ["OmsActor", "IN_FLIGHT", "RECONCILE_ATTEMPTS"]

log = logging.getLogger(__name__)

#: tries per venue before a failed reconciliation stops trading (a loaded machine times requests out)
RECONCILE_ATTEMPTS = 5
#: states whose outcome the venue must still tell us
IN_FLIGHT = (OrderState.SUBMITTED, OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL,
             OrderState.PENDING_UPDATE, OrderState.UNKNOWN)


def _now() -> int:
    return int(time.time() * 1000)


@ray.remote(num_cpus=ACTOR_CPUS)
class OmsActor(OrderRecords):
    """See the module docstring. The orders, intents, fills and ledger, kept equal to the journal, are the base
    class's (:class:`actors.oms_records.OrderRecords`). Every public method waits until start-up (rebuild +
    reconcile) is done."""

    def __init__(self, config: TradingConfig) -> None:
        super().__init__(Journal.from_url(redis_url(), config.stream),
                         om.initial_oms_state(config.namespace, config.limits, _now()), config.namespace)
        self.config = config
        self._peers = NamedActors(config.ray_namespace)  # cached handles (actors.handles)
        self.marks: dict[tuple[str, str], float] = {}
        # venue -> (its balances at reconciliation, this ledger's balances then): equity for ``equity`` sizing
        self.balances0: dict[str, tuple[dict[str, float], dict[tuple[str, str], float]]] = {}
        self.cursor = {v: 0 for v in config.venues}
        self.incarnation: dict[str, str | None] = {v: None for v in config.venues}  # of each ExchangeActor
        # client order id -> when each of its venue calls (place, cancel, a resolving query) under way began
        # (time.monotonic()); the sync never resolves an order with a call under way (no second place in parallel)
        self._sending: dict[str, list[float]] = {}
        self.trading_ok = False
        self.reason = "starting"
        self.reconciliations: list[ReconciliationResult] = []
        self.latency_ms: list[float] = []
        self.started_ms = _now()
        self._ready = asyncio.Event()
        self._tasks = [asyncio.get_running_loop().create_task(self._boot())]

    # ------------------------------------------------------------ venue calls under way
    def _call_began(self, cid: str) -> float:
        """Mark a venue call for ``cid`` under way; the mark to hand to :meth:`_call_ended`."""
        began = time.monotonic()
        self._sending.setdefault(cid, []).append(began)
        return began

    def _call_ended(self, cid: str, began: float) -> None:
        """Clear this call's own mark (``began``: a cancel ending first leaves the older place's mark and age)."""
        calls = self._sending.get(cid, [])
        if began in calls:
            calls.remove(began)
        if not calls:
            self._sending.pop(cid, None)

    def _call_age_s(self, cid: str) -> float | None:
        """Seconds the oldest venue call for ``cid`` still under way has lasted (None: no call under way)."""
        calls = self._sending.get(cid)
        return round(time.monotonic() - min(calls), 1) if calls else None

    def _exchange(self, venue: str) -> Any:
        return self._peers(exchange_name(venue))

    # ------------------------------------------------------------ start-up
    async def _boot(self) -> None:
        try:
            entries = list(self.journal.entries())
            self._load(entries)
            trading = trading_state_of(entries)
            self.state = replace(self.state, risk=replace(self.state.risk, trading=trading))
            results = []
            for venue in self.config.venues:
                for attempt in range(1, RECONCILE_ATTEMPTS + 1):
                    result = await self._reconcile(venue, attempt)
                    if result.ok or attempt == RECONCILE_ATTEMPTS:
                        break  # after the last try: status() answers now; _reconcile_later goes on
                    await asyncio.sleep(0.5 * attempt)
                results.append(result)
            self._reconciled(results)
            booted = True
        except Exception as exc:  # noqa: BLE001 - reported by status(); trading does not start
            self.trading_ok, self.reason = False, f"start-up failed: {type(exc).__name__}: {exc}"
            log.warning("oms start-up failed: %s", self.reason)
            booted = False
        finally:
            self._ready.set()
            metrics.set_trading_state(self.state.risk.trading.value)
        if self.trading_ok:
            self._tasks.append(asyncio.get_running_loop().create_task(self._sync_loop()))
        elif booted:
            self._tasks.append(asyncio.get_running_loop().create_task(self._reconcile_later()))

    def _reconciled(self, results: list[ReconciliationResult]) -> None:
        """Take each venue's latest reconciliation; trading is OK when every venue's is."""
        latest = {r.venue: r for r in self.reconciliations}
        latest.update((r.venue, r) for r in results)
        self.reconciliations = [latest[v] for v in self.config.venues if v in latest]
        bad = [r for r in self.reconciliations if not r.ok]
        self.trading_ok = not bad and len(self.reconciliations) == len(self.config.venues)
        self.reason = "; ".join(f"{r.venue}: {r.detail}" for r in bad) if bad else "trading"

    async def _reconcile_later(self) -> None:
        """Reconcile the venues that failed at start every ``reconcile_retry_s`` until all are reconciled;
        then trading starts (the sync loop runs). Every attempt is journaled like the first ones."""
        attempt = RECONCILE_ATTEMPTS
        while not self.trading_ok:
            await asyncio.sleep(self.config.reconcile_retry_s)
            attempt += 1
            failed = [r.venue for r in self.reconciliations if not r.ok]
            self._reconciled([await self._reconcile(venue, attempt) for venue in failed])
            if self.trading_ok:
                log.info("oms: reconciled after %d attempts; trading starts", attempt)
        self._tasks.append(asyncio.get_running_loop().create_task(self._sync_loop()))

    async def _reconcile(self, venue: str, attempt: int = 1) -> ReconciliationResult:
        """Align the journal's orders with ``venue`` (module docstring); journal the result (every attempt:
        a timeout is retried, :data:`RECONCILE_ATTEMPTS` in all, before trading is refused)."""
        adopted: list[str] = []
        missing: list[str] = []
        try:
            ex = self._exchange(venue)
            known = set(self.state.orders)
            for update in await ex.open_orders.remote():
                if update.client_order_id not in known:
                    adopted.append(update.client_order_id)
                self._apply_update(update)
            for cid, order in list(self.state.orders.items()):
                if order.venue != venue or order.state not in IN_FLIGHT:
                    continue
                try:
                    update = await ex.order_status.remote(cid, order.symbol)
                except UnknownClientOrder:
                    intent = self.intents.get(cid)
                    if intent is None:
                        raise
                    missing.append(cid)  # journaled before it was sent, never reached the venue: send it now
                    update = await ex.place.remote(intent)
                self._apply_update(update)
            before = len(self.fill_ids)
            await self._pull_fills(venue)
            inferred = len(self.fill_ids) - before
            balances = {b.asset: b.total for b in await ex.balance.remote()}
            self.balances0[venue] = (balances, self.ledger.balances())
            result = ReconciliationResult(venue, True, sum(1 for o in self.state.orders.values()
                                                           if o.venue == venue and o.is_open),
                                          tuple(adopted), tuple(missing), tuple(str(i) for i in range(inferred)),
                                          detail=f"balances {balances}")
        except Exception as exc:  # noqa: BLE001 - the reason is journaled; trading does not start
            first_line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            cause = type(getattr(exc, "cause", None) or exc).__name__
            result = ReconciliationResult(venue, False, 0, tuple(adopted), tuple(missing),
                                          detail=f"attempt {attempt} (of {RECONCILE_ATTEMPTS} at start, "
                                                 f"then every {self.config.reconcile_retry_s:g} s): {cause}: "
                                                 f"{first_line}"[:300])
        self.journal.append(EntryKind.RECONCILIATION, result)
        metrics.count_order_events([(EntryKind.RECONCILIATION, result)])
        return result

    def _equity(self, venue: str, symbol: str, price: float) -> float | None:
        """Quote-currency equity of ``venue``'s account in ``symbol``'s two assets at ``price``: the
        balances reconciliation read, plus what this ledger booked since."""
        if venue not in self.balances0:
            return None
        venue_then, ours_then = self.balances0[venue]
        now = self.ledger.balances()
        base, quote = symbol.split("/")

        def held(asset: str) -> float:
            return venue_then.get(asset, 0.0) + now.get((venue, asset), 0.0) - ours_then.get((venue, asset), 0.0)

        return held(quote) + held(base) * price

    # ------------------------------------------------------------ venue events
    def _apply_update(self, update: OrderUpdate) -> None:
        self._commit(om.on_update(self.state, update, _now()))
        if update.order_id and update.client_order_id in self.state.orders:
            key = (update.venue, update.order_id)
            self.order_ids[key] = update.client_order_id
            for fill in list(self.orphans.get(key, [])):  # now we know whose they are: count them on the order
                self._commit(om.on_fill(self.state, replace(fill, client_order_id=update.client_order_id), _now()))
            self.orphans.pop(key, None)

    def _apply_fill(self, fill: Fill) -> None:
        if (fill.venue, fill.trade_id) in self.fill_ids:
            return
        if fill.client_order_id is None and (fill.venue, fill.order_id) in self.order_ids:
            fill = replace(fill, client_order_id=self.order_ids[(fill.venue, fill.order_id)])
        self._commit(om.on_fill(self.state, fill, _now()))
        self._note_fill(fill)

    async def _pull_fills(self, venue: str) -> None:
        start, known = self.cursor[venue], self.incarnation[venue]
        incarnation, fills = await self._exchange(venue).fills_since.remote(start, known)
        # a restarted ExchangeActor answers from index 0 (fills are idempotent by trade id); two pulls may
        # overlap: never skip
        base = start if incarnation == known else 0
        if incarnation != self.incarnation[venue]:
            self.incarnation[venue], self.cursor[venue] = incarnation, 0
        for i, fill in enumerate(fills):
            self._apply_fill(fill)  # raises when the journal cannot take it: the cursor stays before it
            self.cursor[venue] = max(self.cursor[venue], base + i + 1)

    async def _sync_once(self) -> None:
        """One round over every venue. A venue (or one order) that fails does not stop the others: each is
        tried, and the first failure is raised at the end (the next round retries it)."""
        self._settle_doubt()
        failures: list[Exception] = []
        for venue in self.config.venues:
            try:
                await self._sync_venue(venue, failures)
            except Exception as exc:  # noqa: BLE001 - raised below, after the other venues had their round
                failures.append(exc)
        if failures:
            raise failures[0]

    async def _sync_venue(self, venue: str, failures: list[Exception]) -> None:
        ex = self._exchange(venue)
        ours = {cid: o for cid, o in self.state.orders.items() if o.venue == venue and o.state in IN_FLIGHT}
        if ours:
            listed = set()
            for update in await ex.orders_of.remote(tuple(ours)):
                listed.add(update.client_order_id)
                order = self.state.orders.get(update.client_order_id)
                if order is not None and order.state in IN_FLIGHT and update.status in ("open", "canceled",
                                                                                        "rejected"):
                    self._apply_update(update)
            # in flight here, unknown to the venue's actor and no call under way: the call's answer was
            # lost (the ExchangeActor died during it, or the call failed after the order was journaled). Ask
            # the venue; send a durable intent it never got.
            for cid, order in ours.items():
                if cid not in listed and cid not in self._sending and self.state.orders[cid].state in IN_FLIGHT:
                    try:
                        await self._resolve(ex, cid, order.symbol)
                    except Exception as exc:  # noqa: BLE001 - one order's failure must not starve the others
                        failures.append(exc)
        await self._pull_fills(venue)

    async def _resolve(self, ex: Any, cid: str, symbol: str) -> None:
        began = self._call_began(cid)
        try:
            try:
                update = await ex.order_status.remote(cid, symbol)
            except UnknownClientOrder:
                intent = self.intents.get(cid)
                if intent is None:
                    return
                update = await ex.place.remote(intent)  # same client order id: the venue refuses a second copy
            self._apply_update(update)
        finally:
            self._call_ended(cid, began)

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_s)
            try:
                await self._sync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - next round retries
                log.warning("oms sync failed: %s", type(exc).__name__)

    # ------------------------------------------------------------ the decision path
    def _view(self) -> RiskView:
        held = self.ledger.positions()
        positions = {(p.venue, p.symbol): p.qty for p in held}
        # the strategies' bar closes; until one came (after a restart), the last fill price the ledger has
        last = {(p.venue, p.symbol): p.mark_price for p in held if p.mark_price}
        return RiskView(positions=positions, last_prices={**last, **self.marks})

    async def _send(self, actions: tuple[Any, ...]) -> list[OrderUpdate]:
        updates = []
        for action in actions:
            ex = self._exchange(action.intent.venue if isinstance(action, om.PlaceOrder) else action.venue)
            began = self._call_began(action.client_order_id)
            try:
                if isinstance(action, om.PlaceOrder):
                    update = await ex.place.remote(action.intent)
                else:
                    update = await ex.cancel.remote(action.client_order_id, action.symbol)
            finally:  # one call's end (a cancel's must not clear the mark of a place still under way)
                self._call_ended(action.client_order_id, began)
            self._apply_update(update)
            if isinstance(action, om.CancelOrder) and update.status == "open":
                self._commit(om.on_cancel_rejected(self.state, action.client_order_id, "venue says still open",
                                                   _now()))
            updates.append(update)
            if update.filled:
                await self._pull_fills(update.venue)
        return updates

    async def _submit(self, intent: OrderIntent, t0: float | None = None) -> dict[str, Any]:
        self._settle_doubt()  # decide only on the orders the journal has
        # step -> journal -> state with no await in between: atomic on this actor's loop, no lock needed
        step = self._commit(om.submit(self.state, intent, self._view(), _now()))  # durable before it is sent
        cid = om.client_order_id(self.config.namespace, intent.intent_id)
        self.intents.setdefault(cid, intent)
        if t0 is not None and step.actions:
            self.latency_ms.append((time.perf_counter() - t0) * 1000)
        await self._send(step.actions)  # tick-to-order is observed by the ExchangeActor as it sends (place)
        order = self.state.orders[cid]
        return {"client_order_id": cid, "state": order.state.value, "filled": order.filled,
                "reason": order.last_reason, "ignored": step.ignored}

    def _publish_equity(self) -> None:
        """``raytrader_equity`` per venue: reconciled balances + booked since, at the strategies' last closes;
        and the trading state again (Ray forgets a gauge that is not re-reported)."""
        metrics.set_trading_state(self.state.risk.trading.value)
        for (venue, quote), value in metrics.equity_by_venue(
                {v: b for v, (b, _) in self.balances0.items()}, {v: o for v, (_, o) in self.balances0.items()},
                self.ledger.balances(), self.marks).items():
            metrics.set_gauge("raytrader_equity", value, venue=venue, quote=quote)

    async def _gate(self) -> str | None:
        await self._ready.wait()
        return None if self.trading_ok else f"trading not started: {self.reason}"

    async def on_target(self, strategy_key: str, venue: str, symbol: str, target: float, price: float,
                        bar_ts_ms: int, bar: BarTick | None = None) -> dict[str, Any]:
        """The hot path (module docstring): the strategy's ``target`` on the bar opened at ``bar_ts_ms``
        (close ``price``; ``bar`` itself when the runner passes it) becomes at most one market order, whose
        journaled intent carries the bar, the signal and the sizing (:class:`IntentContext`). Returns what
        happened."""
        t0 = time.perf_counter()
        why = await self._gate()
        if why:
            return {"status": "refused", "reason": why}
        self.marks[(venue, symbol)] = price
        self._publish_equity()
        held, pending, equity, refused = self._exposure((venue,), symbol, price)
        if refused:
            return refused
        position = held + pending
        sized = size_order(target, position, price, self.config.sizing, equity)
        if sized is None:
            return {"status": "on_target", "position": position}
        side, amount = sized
        sizing = self.config.sizing
        context = IntentContext(strategy_key, target, price, held, pending, equity, sizing.mode,
                                sizing.value, sizing.step, bar)
        intent = OrderIntent(venue, symbol, side, "market", amount, target_intent_id(strategy_key, bar_ts_ms),
                             context=context)
        return {"status": "order", **await self._submit(intent, t0)}

    def _exposure(self, venues: Sequence[str], symbol: str,
                  price: float) -> tuple[float, float, float | None, dict[str, Any] | None]:
        """``(held, pending, equity, refused)`` over ``venues`` for ``symbol`` at ``price``: the ledger's position
        (base units, summed), the in-flight orders' remaining quantity (signed), the accounts' summed equity
        (quote; None when unknown), and the answer to give instead when ``equity`` sizing has no equity yet."""
        pending = sum((o.remaining if o.side == "buy" else -o.remaining) for o in self.state.orders.values()
                      if o.venue in venues and o.symbol == symbol and o.state in IN_FLIGHT)
        held = sum(self.ledger.position(v, symbol).qty for v in venues)
        each = [self._equity(v, symbol, price) for v in venues]
        equity = None if any(e is None for e in each) else sum(e for e in each if e is not None)
        if equity is None and self.config.sizing.mode == "equity":
            missing = next(v for v, e in zip(venues, each) if e is None)
            return held, pending, None, {"status": "refused", "reason": f"no equity known for {missing} yet"}
        return held, pending, equity, None

    async def size_target(self, strategy_key: str, venue: str, venues: Sequence[str], symbol: str, target: float,
                          price: float) -> dict[str, Any]:
        """Size a strategy's ``target`` as :meth:`on_target` does, without sending anything: for a runner that
        executes through the router (:mod:`actors.strategy_execution`). The position and the equity are summed
        over ``venues`` (a routed strategy's account is every venue it trades on); ``price`` is ``venue``'s bar
        close (its mark). ``{"status": "order", "side", "amount", "position", "held", "pending", "equity"}``
        (``position`` = ``held``, the ledger's, + ``pending``, the orders in flight), ``on_target``, or ``refused``
        with the reason."""
        why = await self._gate()
        if why:
            return {"status": "refused", "reason": why}
        self.marks[(venue, symbol)] = price
        self._publish_equity()
        held, pending, equity, refused = self._exposure(tuple(venues), symbol, price)
        if refused:
            return refused
        position = held + pending
        sized = size_order(target, position, price, self.config.sizing, equity)
        if sized is None:
            return {"status": "on_target", "position": position, "strategy": strategy_key}
        side, amount = sized
        return {"status": "order", "side": side, "amount": amount, "position": position, "held": held,
                "pending": pending, "equity": equity, "strategy": strategy_key}

    async def submit_intent(self, intent: OrderIntent, last_price: float | None = None) -> dict[str, Any]:
        """A hand-made order (the API, tests) through the same check, journal and send."""
        why = await self._gate()
        if why:
            return {"status": "refused", "reason": why}
        if last_price is not None:
            self.marks[(intent.venue, intent.symbol)] = last_price
        return {"status": "order", **await self._submit(intent)}

    async def cancel(self, client_order_id: str, reason: str = "user") -> dict[str, Any]:
        """Cancel one open order (passes in every trading state, HALTED included)."""
        await self._ready.wait()
        self._settle_doubt()
        step = self._commit(om.cancel(self.state, client_order_id, reason, self._view(), _now()))
        await self._send(step.actions)
        order = self.state.orders[client_order_id]
        return {"client_order_id": client_order_id, "state": order.state.value, "filled": order.filled}

    async def cancel_all(self, reason: str = "kill_switch") -> list[dict[str, Any]]:
        """Cancel every open order on every venue."""
        await self._ready.wait()
        out = []
        for cid, order in list(self.state.orders.items()):
            if order.state in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.PENDING_UPDATE):
                out.append(await self.cancel(cid, reason))
        return out

    async def flatten(self, reason: str = "kill_switch") -> list[dict[str, Any]]:
        """A market order closing each non-zero position (passes REDUCING; refused when HALTED)."""
        await self._ready.wait()
        out = []
        stamp = _now()
        for p in self.ledger.positions():
            amount = round(abs(p.qty), 12)
            if amount < self.config.sizing.min_qty:
                continue
            intent = OrderIntent(p.venue, p.symbol, "sell" if p.qty > 0 else "buy", "market", amount,
                                 f"flatten:{reason}:{p.venue}:{p.symbol}:{stamp}")
            out.append(await self._submit(intent))
        return out

    async def set_trading(self, trading: str) -> str:
        """The RiskMonitor publishes its trading state here (it journaled it first)."""
        await self._ready.wait()
        self.state = replace(self.state, risk=replace(self.state.risk, trading=TradingState(trading)))
        metrics.set_trading_state(self.state.risk.trading.value)
        return self.state.risk.trading.value

    async def sync(self) -> None:
        """One round of order and fill sync now (tests, the end of a session)."""
        await self._ready.wait()
        await self._sync_once()

    # ------------------------------------------------------------ reading
    async def orders(self) -> list[dict[str, Any]]:
        await self._ready.wait()
        return [{"client_order_id": o.client_order_id, "venue": o.venue, "symbol": o.symbol, "side": o.side,
                 "amount": o.amount, "price": o.price, "state": o.state.value, "filled": o.filled,
                 "external": o.client_order_id not in self.intents, "call_s": self._call_age_s(o.client_order_id)}
                for o in self.state.orders.values()]

    async def status(self) -> dict[str, Any]:
        """Trading or not (and why), trading state, orders by state, fills, journal length, this PID."""
        await self._ready.wait()
        by_state: dict[str, int] = {}
        for o in self.state.orders.values():
            by_state[o.state.value] = by_state.get(o.state.value, 0) + 1
        return {"trading": self.trading_ok, "reason": self.reason, "trading_state": self.state.risk.trading.value,
                "orders_by_state": by_state, "fills": len(self.fill_ids), "pid": os.getpid(),
                "calls_in_flight": len(self._sending), "journal_doubt": self.journal_doubt,
                "started_ms": self.started_ms,
                "reconciliations": [{"venue": r.venue, "ok": r.ok, "open_orders": r.open_orders,
                                     "adopted": len(r.adopted), "resent": len(r.missing),
                                     "inferred_fills": len(r.inferred_fills), "detail": r.detail}
                                    for r in self.reconciliations],
                "decision_ms": list(self.latency_ms[-10_000:])}

    async def ping(self) -> int:
        return os.getpid()
