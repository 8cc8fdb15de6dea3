"""``RiskMonitor`` (named ``risk``): the limits and the trading state; halt, resume, kill switch.

It holds the :class:`risk.pretrade.RiskLimits` (from the :class:`actors.trading.TradingConfig`)
and the trading state ACTIVE / REDUCING / HALTED. Every change is journaled
first (a ``TRADING_STATE`` entry) and then published to the ``oms`` actor,
which runs the pre-trade check in its own process against what was published
(no actor hop per order). On start it rebuilds the state from the journal's
last ``TRADING_STATE`` entry (read backwards, :func:`journaled_trading_state`) and publishes it again.

Kill switch (:meth:`RiskMonitor.kill`, or automatically when the portfolio's
total loss in a quote currency exceeds ``max_loss``): HALTED (or REDUCING
while it flattens), then every open order on every venue is canceled; with
``flatten`` each position is closed by a market order, then HALTED.

Live risk (:mod:`risk.live`, pure): VaR/ES and drawdown per quote currency,
recomputed when a fill or a mark changed the portfolio's snapshot, at most
once per ``interval_s`` (the rate limit), against the
:class:`risk.live.LiveRiskLimits` (constructor, or :meth:`RiskMonitor.set_live_limits`
at run time). A breach raises an alert three ways: a log line (WARNING
``risk alert: ...``), the Ray metrics ``raytrader_var``/``raytrader_var_limit``,
``raytrader_es`` and ``raytrader_drawdown`` (the Prometheus rule
``RaytraderVarOverLimit`` fires on the first pair), and a JSON message on the
Redis pub/sub channel :func:`alert_channel` (``{"reason", "quote", "risk",
"limits", "ts_ms"}``); then the kill switch runs. All of it is in
:meth:`RiskMonitor.state` (``live``, ``live_limits``, ``alerts``), which the
API serves at ``GET /v1/risk``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from dataclasses import replace
from typing import Any

import ray

from actors import metrics
from actors.handles import NamedActors
from actors.journal import EntryKind, Journal
from actors.messages import TradingStateChange
from actors.trading import ACTOR_CPUS, OMS_NAME, PORTFOLIO_NAME, TradingConfig, redis_url
from risk.live import Holding, LiveRiskLimits, breaches, live_risk
from risk.pretrade import TradingState

__all__ = ["RiskMonitor", "loss_breach", "alert_channel", "holdings_of", "journaled_trading_state"]

log = logging.getLogger(__name__)


def loss_breach(pnl_by_quote: dict[str, dict[str, float]], max_loss: float | None) -> str | None:
    """Why the loss limit is breached (a quote currency whose total PnL is below ``-max_loss``), or None."""
    if max_loss is None:
        return None
    for quote, pnl in sorted(pnl_by_quote.items()):
        if pnl["total"] < -max_loss:
            return f"loss_limit: {quote} PnL {pnl['total']:.8g} < -{max_loss:g}"
    return None


def alert_channel(stream: str) -> str:
    """The Redis pub/sub channel a session's risk alerts are published on (one per journal stream)."""
    return f"raytrader:risk-alerts:{stream}"


def holdings_of(snapshot: dict[str, Any]) -> list[Holding]:
    """The positions of a portfolio snapshot (:func:`actors.portfolio.ledger_snapshot`) that have a mark."""
    return [Holding(f"{p['venue']}:{p['symbol']}", p["quote"], float(p["qty"]), float(p["mark"]))
            for p in snapshot.get("positions", []) if p.get("mark") is not None]


def journaled_trading_state(journal: Journal, default: TradingState = TradingState.ACTIVE) -> TradingState:
    """The trading state the journal's newest ``TRADING_STATE`` entry set (``default`` when there is none).

    Same answer as :func:`actors.trading.trading_state_of` over every entry, but it reads the stream
    backwards and decodes that one entry only (:meth:`actors.journal.Journal.last_of`).
    """
    last = journal.last_of(EntryKind.TRADING_STATE)
    return default if last is None else TradingState(last.payload.to_state)


@ray.remote(num_cpus=ACTOR_CPUS)
class RiskMonitor:
    """See the module docstring."""

    def __init__(self, config: TradingConfig, live_limits: LiveRiskLimits | None = None) -> None:
        self.config = config
        self._peers = NamedActors(config.ray_namespace)  # cached handles (actors.handles)
        self.journal = Journal.from_url(redis_url(), config.stream)
        self.trading = journaled_trading_state(self.journal)
        self.kills: list[dict[str, Any]] = []
        self.live_limits = live_limits or LiveRiskLimits()
        self.live: dict[str, Any] = {}
        self.alerts: list[dict[str, Any]] = []
        self._marks: dict[str, deque[float]] = {}
        self._pnl: dict[str, deque[float]] = {}
        self._last_sig: Any = None
        self.recomputations = 0
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publish_retrying()), loop.create_task(self._live_loop())]
        if config.max_loss is not None:
            self._tasks.append(loop.create_task(self._watch_loop()))

    def _oms(self) -> Any:
        return self._peers(OMS_NAME)

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
                "max_loss": self.config.max_loss, "kills": list(self.kills), "pid": os.getpid(),
                "live": self.live, "live_limits": self.live_limits.to_json(), "alerts": list(self.alerts[-50:]),
                "recomputations": self.recomputations}

    async def set_live_limits(self, **changes: Any) -> dict[str, Any]:
        """Change live risk limits now (``max_var=..., max_drawdown=...``; None turns one off); returns them all.

        Raises:
            RiskInputError: a value out of range (nothing is changed).
        """
        self.live_limits = replace(self.live_limits, **changes)
        self._last_sig = None  # judge the current numbers against the new limits at the next round
        return self.live_limits.to_json()

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
                snap = await self._peers(PORTFOLIO_NAME).snapshot.remote()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the portfolio is (re)starting
                continue
            why = loss_breach(snap["pnl"], self.config.max_loss)
            if why:
                log.warning("kill switch: %s", why)
                await self.kill(reason=why)

    async def _live_loop(self) -> None:
        """Recompute live risk when a fill or a mark changed the snapshot, at most every ``interval_s``."""
        while True:
            await asyncio.sleep(self.live_limits.interval_s)
            try:
                snap = await self._peers(PORTFOLIO_NAME).snapshot.remote()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the portfolio is (re)starting
                continue
            try:
                await self._on_snapshot(snap)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the loop (the kill switch depends on it)
                log.exception("live risk round failed")

    async def _on_snapshot(self, snap: dict[str, Any]) -> None:
        holdings = holdings_of(snap)
        pnl = {q: float(v["total"]) for q, v in snap.get("pnl", {}).items()}
        sig = (snap.get("fills"), tuple(sorted((h.key, h.qty, h.mark) for h in holdings)), tuple(sorted(pnl.items())))
        if sig == self._last_sig:
            return  # no fill, no new mark: nothing to recompute
        limits = self.live_limits
        if self._last_sig is not None or not self._pnl:  # a limits change re-judges without adding a sample
            for h in holdings:
                self._marks.setdefault(h.key, deque(maxlen=limits.window + 1)).append(h.mark)
            for q, v in pnl.items():
                self._pnl.setdefault(q, deque(maxlen=100_000)).append(v)
        self._last_sig = sig
        risk = live_risk(holdings, self._marks, self._pnl, limits)
        self.recomputations += 1
        self.live = {q: {**r.to_json(), "ts_ms": int(time.time() * 1000)} for q, r in risk.items()}
        for q, r in risk.items():
            if r.var is not None:
                metrics.set_var(r.var, limits.max_var, quote=q)
            if r.es is not None:
                metrics.set_gauge("raytrader_es", r.es, quote=q, method="historical")
            if r.drawdown is not None:
                metrics.set_gauge("raytrader_drawdown", r.drawdown, quote=q)
        why = breaches(risk, limits)
        if why and self.trading is not TradingState.HALTED:
            reason = "; ".join(why)
            await self._alert(reason, risk)
            await self.kill(reason=reason)

    async def _alert(self, reason: str, risk: dict[str, Any]) -> None:
        """A log line, and a message on :func:`alert_channel` (the metrics are set on every round)."""
        log.warning("risk alert: %s", reason)
        msg = {"reason": reason, "risk": {q: r.to_json() for q, r in risk.items()},
               "limits": self.live_limits.to_json(), "ts_ms": int(time.time() * 1000), "stream": self.config.stream}
        self.alerts.append(msg)
        try:
            await asyncio.to_thread(self.journal.client.publish, alert_channel(self.config.stream), json.dumps(msg))
        except Exception as exc:  # noqa: BLE001 - Redis down: the log line and the kill still happen
            log.warning("risk alert not published: %s", type(exc).__name__)

    async def ping(self) -> int:
        return os.getpid()
