"""``RiskMonitor`` (named ``risk``): the limits and the trading state; halt, resume, kill switch.

It holds the :class:`risk.pretrade.RiskLimits` (from the :class:`actors.trading.TradingConfig`)
and the trading state ACTIVE / REDUCING / HALTED. Every change is journaled
first (a ``TRADING_STATE`` entry) and then published to the ``oms`` actor,
which runs the pre-trade check in its own process against what was published
(no actor hop per order). On start it rebuilds the state from the journal's
last ``TRADING_STATE`` entry and publishes it again.

Kill switch (:meth:`RiskMonitor.kill`, or automatically when the portfolio's
total loss in a quote currency exceeds ``max_loss``): HALTED (or REDUCING
while it flattens), then every open order on every venue is canceled; with
``flatten`` each position is closed by a market order, then HALTED.
Portfolio risk (VaR/ES limits, the risk issue) plugs in as more
:class:`risk.pretrade.Rule`\\ s in the OMS's check and as more triggers in
:meth:`RiskMonitor._watch_loop`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from actors.journal import EntryKind, Journal
from actors.messages import TradingStateChange
from actors.trading import ACTOR_CPUS, OMS_NAME, PORTFOLIO_NAME, TradingConfig, redis_url, trading_state_of
from risk.pretrade import TradingState

__all__ = ["RiskMonitor", "loss_breach"]

log = logging.getLogger(__name__)


def loss_breach(pnl_by_quote: dict[str, dict[str, float]], max_loss: float | None) -> str | None:
    """Why the loss limit is breached (a quote currency whose total PnL is below ``-max_loss``), or None."""
    if max_loss is None:
        return None
    for quote, pnl in sorted(pnl_by_quote.items()):
        if pnl["total"] < -max_loss:
            return f"loss_limit: {quote} PnL {pnl['total']:.8g} < -{max_loss:g}"
    return None


@ray.remote(num_cpus=ACTOR_CPUS)
class RiskMonitor:
    """See the module docstring."""

    def __init__(self, config: TradingConfig) -> None:
        self.config = config
        self.journal = Journal.from_url(redis_url(), config.stream)
        self.trading = trading_state_of(self.journal.entries())
        self.kills: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publish_retrying())]
        if config.max_loss is not None:
            self._tasks.append(loop.create_task(self._watch_loop()))

    def _oms(self) -> Any:
        return ray.get_actor(OMS_NAME, namespace=self.config.ray_namespace)

    async def _publish(self) -> None:
        await self._oms().set_trading.remote(self.trading.value)

    async def _publish_retrying(self) -> None:
        while True:
            try:
                await self._publish()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the oms is (re)starting; it also reads the journal itself
                await asyncio.sleep(0.5)

    async def _set(self, to: TradingState, reason: str) -> None:
        self.journal.append(EntryKind.TRADING_STATE, TradingStateChange(self.trading.value, to.value, reason))
        self.trading = to
        await self._publish()

    async def state(self) -> dict[str, Any]:
        """The trading state, the limits, the kill-switch history and this PID."""
        from dataclasses import asdict  # noqa: PLC0415 - late: loads inside the actor process only

        return {"trading_state": self.trading.value, "limits": asdict(self.config.limits),
                "max_loss": self.config.max_loss, "kills": list(self.kills), "pid": os.getpid()}

    async def halt(self, reason: str = "manual") -> str:
        """HALTED: new orders are refused, cancels pass."""
        await self._set(TradingState.HALTED, reason)
        return self.trading.value

    async def reduce(self, reason: str = "manual") -> str:
        """REDUCING: only orders that shrink a position pass."""
        await self._set(TradingState.REDUCING, reason)
        return self.trading.value

    async def resume(self, reason: str = "manual") -> str:
        await self._set(TradingState.ACTIVE, reason)
        return self.trading.value

    async def kill(self, flatten: bool | None = None, reason: str = "kill_switch") -> dict[str, Any]:
        """Cancel every open order on every venue and, with ``flatten`` (default: the config's), close
        every position; ends HALTED."""
        flatten = self.config.flatten_on_kill if flatten is None else flatten
        await self._set(TradingState.REDUCING if flatten else TradingState.HALTED, reason)
        oms = self._oms()
        canceled = await oms.cancel_all.remote(reason)
        flattened = await oms.flatten.remote(reason) if flatten else []
        if flatten:
            await self._set(TradingState.HALTED, reason)
        report = {"reason": reason, "canceled": len(canceled), "flatten_orders": len(flattened),
                  "trading_state": self.trading.value}
        self.kills.append(report)
        return report

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.trading is TradingState.HALTED:
                continue
            try:
                snap = await ray.get_actor(PORTFOLIO_NAME, namespace=self.config.ray_namespace).snapshot.remote()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the portfolio is (re)starting
                continue
            why = loss_breach(snap["pnl"], self.config.max_loss)
            if why:
                log.warning("kill switch: %s", why)
                await self.kill(reason=why)

    async def ping(self) -> int:
        return os.getpid()
