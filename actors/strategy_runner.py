"""``StrategyRunner`` (named ``strategy:<name>:<symbol>@<venue>``): the registered strategy on live bars.

It long-polls the ``bars:<symbol>`` stream of the venue's ExchangeActor,
checks ``seq`` holes (:class:`actors.exchange_core.SeqChecker`; a hole is
counted and reported, the ExchangeActor's own resync refills the bars),
turns the kline stream into closed bars (:class:`actors.trading.ClosedBars`),
and runs the same strategy function the backtests use
(:func:`strategies.registry.get_strategy`) on its rolling window. The
decision on bar ``t``'s close is the target for bar ``t + 1``: when it
changes, it goes to the ``oms`` actor (:meth:`actors.oms.OmsActor.on_target`,
one hop), which sizes it, checks it and sends a market order - so it fills at
the next trades, the paper counterpart of the backtest's fill at ``t + 1``'s
open.

When the ExchangeActor restarts (a new PID; its stream numbers start
again at 1) the runner reads the new stream from its start; bars at or
before its last closed bar are ignored.

On a restart the runner re-reads the ExchangeActor's buffered bars and
rebuilds its window; it sends the latest target again, which the OMS treats
as a no-op when the position is already there (and the intent id of a bar
is deterministic, so a decision half-sent before the crash is not doubled).

With ``spec.execution`` other than ``direct`` (:mod:`actors.strategy_execution`)
the runner asks the OMS only to size the target
(:meth:`actors.oms.OmsActor.size_target`, position summed over the venues it
trades) and hands the order to the ``router`` as a parent (route over
``spec.route_venues``, TWAP or iceberg at ``spec.venue``): one working parent
at a time, cancel-replaced when the target changes; when it has fallen behind
(several closed bars in one read) only the newest decision is acted on. A restarted runner adopts
its newest parent from the router (the parent ids carry its key's digest); its
first decision cancel-replaces that parent if it still works (the runner
does not remember which target the parent was for), so nothing is ordered
twice across a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any

import ray

from actors.exchange_core import SeqChecker
from actors.handles import NamedActors
from actors.messages import MarketEvent, stream_name
from actors.strategy_execution import Execution, decision_context, parent_action, parent_id_for, parent_intent
from actors.trading import (
    ACTOR_CPUS,
    OMS_NAME,
    ROUTER_NAME,
    ClosedBars,
    StrategySpec,
    TradingConfig,
    exchange_name,
    window_bars,
)

__all__ = ["StrategyRunner"]

log = logging.getLogger(__name__)


@ray.remote(num_cpus=ACTOR_CPUS)
class StrategyRunner:
    """See the module docstring."""

    def __init__(self, config: TradingConfig, spec: StrategySpec) -> None:
        import strategies  # noqa: F401, PLC0415 - registers the built-in strategies in this worker

        if spec.name.startswith("rl:"):  # an exported RL policy: gymnasium and the policy replay load only then
            from backtest.rl_policy import resolve_strategy  # noqa: PLC0415 - late: loads inside the actor process only
        else:  # what rl_policy.resolve_strategy does for any other name, without its imports (~0.4 s of CPU)
            from strategies.registry import get_strategy as resolve_strategy  # noqa: PLC0415 - late: as above

        self.config, self.spec = config, spec
        self._peers = NamedActors(config.ray_namespace)  # cached handles (actors.handles)
        self.strategy = resolve_strategy(spec.name)  # a registered strategy, or rl:<name> (an exported RL policy)
        if spec.target_sizing:  # the backtests' sizing rule, on the runner's window (actors.trading.StrategySpec)
            from backtest.sizing import parse_sizing, sized_strategy  # noqa: PLC0415 - late: loads inside the actor process only

            self.strategy = sized_strategy(self.strategy, parse_sizing(spec.target_sizing))
        self.params = dict(spec.params)
        self.min_bars = int(self.strategy.min_bars({**self.strategy.defaults(), **self.params}))
        self.window: deque = deque(maxlen=max(spec.window, self.min_bars))
        self.closed = ClosedBars(spec.bars_closed_on_publish)
        self.checker = SeqChecker()
        self.after = 0
        self.ex_pid: int | None = None  # the ExchangeActor process whose seq numbers ``after`` counts
        self.holes: list[tuple[str, int, int]] = []
        self.decisions: list[tuple[int, float]] = []  # (bar open time ms, target) for every closed bar
        self.sent: list[dict[str, Any]] = []
        self.last_target: float | None = None
        self.errors = 0
        self.execution = Execution(spec.execution, spec.exec_params)
        self.venues = spec.route_venues or (spec.venue,)
        self.parent_id: str | None = None  # the runner's last parent (routed execution), None before the first
        self.cancel_asked = False  # its cancel was asked (a newer target waits for it to end)
        self.owed = False  # a target is owed: its parent waits for the previous one to end
        self._adopted = not self.execution.routed
        self._stopping = False  # stop() asked: send nothing more
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        stream = stream_name("bars", self.spec.symbol)
        ex = self._peers(exchange_name(self.spec.venue))
        while not self._stopping:
            try:
                if self.ex_pid is None:
                    self.ex_pid = await ex.ping.remote()
                items = await ex.poll.remote(stream, self.after, 1.0, 10_000)
                if not items:
                    pid = await ex.ping.remote()
                    if pid != self.ex_pid:  # the ExchangeActor restarted: its streams count from seq 1 again
                        self.ex_pid, self.after, self.checker = pid, 0, SeqChecker()
                    continue
                self.holes += self.checker.check(items)
                self.after = items[-1].seq
                closed = [b for item in items if isinstance(item, MarketEvent) and item.bar is not None
                          for b in self.closed.push(item.bar)]
                todo = []
                for bar in closed:
                    self.window.append(bar)
                    if len(self.window) >= self.min_bars:
                        target = float(self.strategy.run(window_bars(self.window), self.params)[-1])
                        self.decisions.append((bar.timestamp_ms, target))
                        todo.append((bar, target))
                if not self.sent or self.execution.routed:
                    # the buffered history at (re)start: only its latest decision is acted on; a routed runner that
                    # fell behind acts on its newest decision only (a parent for an older bar would be cancelled
                    # and replaced at once)
                    todo = todo[-1:]
                for bar, target in todo:  # when behind, every change in order, each on its own bar
                    if self._stopping:
                        break
                    if target != self.last_target or self.owed:
                        await (self._send_parent(bar, target) if self.execution.routed else self._send(bar, target))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an actor (re)starting; the next round retries
                self.errors += 1
                log.warning("%s: %s", self.spec.key, type(exc).__name__)
                await asyncio.sleep(0.2)

    async def _send(self, bar: Any, target: float) -> None:
        oms = self._peers(OMS_NAME)
        answer = await oms.on_target.remote(self.spec.key, self.spec.venue, self.spec.symbol, target, bar.close,
                                            bar.timestamp_ms, bar)
        self.sent.append({"bar_ts": bar.timestamp_ms, "target": target, **answer})
        if answer.get("status") == "on_target" or answer.get("state") not in (None, "DENIED"):
            self.last_target = target  # refused or denied: the next closed bar tries again

    async def _adopt(self, router: Any) -> None:
        """After a (re)start: the newest parent of this runner the router knows becomes its last parent."""
        prefix = parent_id_for(self.spec.key, 0).rsplit("-", 1)[0] + "-"
        mine = [p for p in await router.parents_json.remote() if p["parent_id"].startswith(prefix)]
        if mine:
            self.parent_id = mine[-1]["parent_id"]
        self._adopted = True

    async def _send_parent(self, bar: Any, target: float) -> None:
        """Routed execution (module docstring): wait for / cancel the working parent, else size and submit."""
        router = self._peers(ROUTER_NAME)
        if not self._adopted:
            await self._adopt(router)
        if self.parent_id is not None:
            action = parent_action(await router.parent.remote(self.parent_id), self.cancel_asked)
            if action == "cancel":
                await router.cancel.remote(self.parent_id, f"replaced: target {target:g} on bar {bar.timestamp_ms}")
                self.cancel_asked = True
            if action != "send":
                self.owed = True  # the next closed bar looks again
                return
            self.parent_id, self.cancel_asked = None, False
        oms = self._peers(OMS_NAME)
        sized = await oms.size_target.remote(self.spec.key, self.spec.venue, self.venues, self.spec.symbol, target,
                                             bar.close)
        record = {"bar_ts": bar.timestamp_ms, "target": target, **sized}
        if sized["status"] != "order":
            self.sent.append(record)
            if sized["status"] == "on_target":
                self.last_target, self.owed = target, False
            return  # refused: the next closed bar tries again
        intent = parent_intent(self.execution, self.spec.key, self.venues, self.spec.symbol, sized["side"],
                               sized["amount"], bar.close, bar.timestamp_ms, self.config.sizing.step,
                               decision_context(self.spec.key, target, bar, sized, self.config.sizing))
        answer = await router.submit.remote(intent)
        record.update(status="parent", parent_id=intent.parent_id, router=answer["status"],
                      reason=answer.get("message"))
        self.sent.append(record)
        if answer["status"] not in ("accepted", "duplicate"):
            return  # invalid (e.g. a venue without a book yet): the next closed bar tries again
        self.parent_id = intent.parent_id
        parent = answer.get("parent") or {}
        if parent.get("status") == "cancelled" and not parent.get("filled"):
            return  # nothing to route within the limit: the next closed bar tries again
        self.last_target, self.owed = target, False

    async def stop(self) -> dict[str, Any]:
        """Send nothing more: the order or parent being sent (its OMS / router call under way) is finished and
        recorded first, then the loop ends (within its 1 s poll); the status. Killing a runner instead leaves a call
        it made running at the OMS or router: an order or parent that lands after whoever stopped the runner
        looked (a paper session's end checks saw a parent appear after every parent had been stopped)."""
        self._stopping = True
        await self._task
        return await self.status()

    async def status(self) -> dict[str, Any]:
        """Bars seen, window size, seq holes, decisions and what the OMS answered; this PID."""
        return {"key": self.spec.key, "after_seq": self.after, "window": len(self.window),
                "min_bars": self.min_bars, "holes": len(self.holes), "decisions": len(self.decisions),
                "last_target": self.last_target, "sent": list(self.sent[-1000:]), "errors": self.errors,
                "execution": self.execution.label(), "parent_id": self.parent_id, "pid": os.getpid()}

    async def bars_seen(self) -> list[tuple[int, float, float, float, float]]:
        """``(open time ms, open, high, low, close)`` of the closed bars in the window."""
        return [(b.timestamp_ms, b.open, b.high, b.low, b.close) for b in self.window]

    async def decisions_made(self) -> list[tuple[int, float]]:
        """``(bar open time ms, target)`` for every closed bar decided on (for parity with the backtest)."""
        return list(self.decisions)

    async def ping(self) -> int:
        return os.getpid()
