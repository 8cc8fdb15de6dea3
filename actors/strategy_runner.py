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
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any

import ray

from actors.exchange_core import SeqChecker
from actors.messages import MarketEvent, stream_name
from actors.trading import ACTOR_CPUS, OMS_NAME, ClosedBars, StrategySpec, TradingConfig, exchange_name, window_bars

__all__ = ["StrategyRunner"]

log = logging.getLogger(__name__)


@ray.remote(num_cpus=ACTOR_CPUS)
class StrategyRunner:
    """See the module docstring."""

    def __init__(self, config: TradingConfig, spec: StrategySpec) -> None:
        import strategies  # noqa: F401, PLC0415 - registers the built-in strategies in this worker
        from backtest.rl_policy import resolve_strategy  # noqa: PLC0415 - late: loads inside the actor process only

        self.config, self.spec = config, spec
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
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        stream = stream_name("bars", self.spec.symbol)
        while True:
            try:
                ex = ray.get_actor(exchange_name(self.spec.venue), namespace=self.config.ray_namespace)
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
                if not self.sent:  # the buffered history at (re)start: only its latest decision is acted on
                    todo = todo[-1:]
                for bar, target in todo:  # when behind, every change in order, each on its own bar
                    if target != self.last_target:
                        await self._send(bar, target)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an actor (re)starting; the next round retries
                self.errors += 1
                log.warning("%s: %s", self.spec.key, type(exc).__name__)
                await asyncio.sleep(0.2)

    async def _send(self, bar: Any, target: float) -> None:
        oms = ray.get_actor(OMS_NAME, namespace=self.config.ray_namespace)
        answer = await oms.on_target.remote(self.spec.key, self.spec.venue, self.spec.symbol, target, bar.close,
                                            bar.timestamp_ms, bar)
        self.sent.append({"bar_ts": bar.timestamp_ms, "target": target, **answer})
        if answer.get("status") == "on_target" or answer.get("state") not in (None, "DENIED"):
            self.last_target = target  # refused or denied: the next closed bar tries again

    async def status(self) -> dict[str, Any]:
        """Bars seen, window size, seq holes, decisions and what the OMS answered; this PID."""
        return {"key": self.spec.key, "after_seq": self.after, "window": len(self.window),
                "min_bars": self.min_bars, "holes": len(self.holes), "decisions": len(self.decisions),
                "last_target": self.last_target, "sent": list(self.sent[-1000:]), "errors": self.errors,
                "pid": os.getpid()}

    async def bars_seen(self) -> list[tuple[int, float, float, float, float]]:
        """``(open time ms, open, high, low, close)`` of the closed bars in the window."""
        return [(b.timestamp_ms, b.open, b.high, b.low, b.close) for b in self.window]

    async def decisions_made(self) -> list[tuple[int, float]]:
        """``(bar open time ms, target)`` for every closed bar decided on (for parity with the backtest)."""
        return list(self.decisions)

    async def ping(self) -> int:
        return os.getpid()
