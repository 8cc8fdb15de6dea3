"""``PortfolioActor`` (named ``portfolio``): positions, cash and PnL folded from the journal's fills.

On every start it rebuilds the :class:`actors.ledger.Ledger` from the whole
journal, then tails it (``XREAD BLOCK``, :meth:`actors.journal.Journal.wait_new`)
and books each new ``FILL`` entry (idempotent by venue trade id). Marks: the
latest public trade price per ``(venue, symbol)``, long-polled from each
venue's ExchangeActor trades stream. Nothing here is the only copy: the
journal is.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import ray

from actors import metrics
from actors.handles import NamedActors
from actors.journal import Journal
from actors.ledger import Ledger, ledger_from_entries
from actors.messages import MarketEvent, stream_name
from actors.trading import ACTOR_CPUS, TradingConfig, exchange_name, redis_url

__all__ = ["PortfolioActor", "ledger_snapshot"]

log = logging.getLogger(__name__)

#: after a poll that brought trades, the mark loop waits this long (seconds) before the next: a busy replay
#: (x600: ~35 trades a second per venue) is then polled at most 10 times a second instead of once per trade. The
#: marks are read by the live-risk round (every 0.5 s at most) and the metrics (1 s); an empty poll is a long poll
MARK_BATCH_S = 0.1


def ledger_snapshot(ledger: Ledger) -> dict[str, Any]:
    """JSON-able positions, PnL (per quote currency) and balance changes of a ledger."""
    return {
        "positions": [{"venue": p.venue, "symbol": p.symbol, "qty": p.qty, "avg_price": p.avg_price,
                       "realized_pnl": p.realized_pnl, "unrealized_pnl": p.unrealized_pnl,
                       "mark": p.mark_price, "quote": p.quote} for p in ledger.positions()],
        "pnl": {q: {"realized": v.realized, "unrealized": v.unrealized, "total": v.total,
                    "gross_notional": v.gross_notional} for q, v in ledger.pnl_total().items()},
        "pnl_by_venue": {f"{v}/{q}": {"realized": p.realized, "unrealized": p.unrealized, "total": p.total}
                         for (v, q), p in ledger.pnl_by_venue().items()},
        "balance_changes": {f"{v}:{a}": x for (v, a), x in ledger.balances().items()},
        "fees": {f"{v}:{a}": x for (v, a), x in ledger.fees().items()},
        "fills": ledger.fills_booked(),
    }


@ray.remote(num_cpus=ACTOR_CPUS)
class PortfolioActor:
    """See the module docstring. ``symbols``: the symbols to mark on each venue."""

    def __init__(self, config: TradingConfig, symbols: tuple[str, ...]) -> None:
        self.config, self.symbols = config, symbols
        self._peers = NamedActors(config.ray_namespace)  # cached handles (actors.handles)
        url = redis_url()
        self.journal = Journal.from_url(url, config.stream)
        self.tail = Journal.from_url(url, config.stream)  # its own connection for the blocking read
        entries = list(self.journal.entries())
        self.ledger = ledger_from_entries(entries)
        self.last_id = entries[-1].stream_id if entries else "0-0"
        self.rebuilt_from = len(entries)
        self.booked_seq = entries[-1].seq if entries else 0
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tail_loop()), loop.create_task(self._metrics_loop())]
        self._tasks += [loop.create_task(self._mark_loop(v, s)) for v in config.venues for s in symbols]

    async def _tail_loop(self) -> None:
        while True:
            try:
                new = await asyncio.to_thread(self.tail.wait_new, self.last_id, 500)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting: try again
                log.warning("portfolio journal tail failed: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if new:
                ledger_from_entries(new, self.ledger)
                self.last_id = new[-1].stream_id
                self.booked_seq = new[-1].seq
                metrics.set_gauge("raytrader_journal_lag_ms", max(0.0, time.time() * 1000 - new[-1].ts_ms),
                                  consumer="portfolio")

    async def _metrics_loop(self) -> None:
        """Once a second: PnL and gross exposure per quote currency, and how far this tail is behind the journal."""
        while True:
            await asyncio.sleep(1.0)
            try:
                for quote, pnl in self.ledger.pnl_total().items():
                    for kind, value in (("realized", pnl.realized), ("unrealized", pnl.unrealized),
                                        ("total", pnl.total)):
                        metrics.set_gauge("raytrader_pnl", value, quote=quote, kind=kind)
                    metrics.set_gauge("raytrader_exposure", pnl.gross_notional, quote=quote)
                head_seq, _ = await asyncio.to_thread(self.journal.head)
                behind = max(0, head_seq - self.booked_seq)
                metrics.set_gauge("raytrader_journal_lag_entries", behind, consumer="portfolio")
                if behind == 0:
                    metrics.set_gauge("raytrader_journal_lag_ms", 0.0, consumer="portfolio")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting: the next round sets them
                log.debug("portfolio metrics not set: %s", type(exc).__name__)

    async def _mark_loop(self, venue: str, symbol: str) -> None:
        """Mark ``symbol`` on ``venue`` at each public trade, long-polling the venue actor's trades stream.

        An empty poll (no trade for 1 s) is followed by a ``ping``: a restarted ExchangeActor (new PID) numbers
        its streams from 1 again, so ``after`` is reset; a restart between two polls raises nothing, and only the
        PID tells. Busy, the loop polls at most every :data:`MARK_BATCH_S`.
        """
        after = 0
        stream = stream_name("trades", symbol)
        ex_pid = None  # the ExchangeActor process whose seq numbers ``after`` counts
        ex = self._peers(exchange_name(venue))
        while True:
            try:
                if ex_pid is None:
                    ex_pid = await ex.ping.remote()
                items = await ex.poll.remote(stream, after, 1.0, 1000)
                if not items:
                    pid = await ex.ping.remote()
                    if pid != ex_pid:  # the ExchangeActor restarted: its stream counts from seq 1 again
                        ex_pid, after = pid, 0
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the venue's actor is (re)starting
                await asyncio.sleep(0.5)
                continue
            for item in items:
                after = item.seq
                if isinstance(item, MarketEvent) and item.trade is not None:
                    self.ledger.mark(venue, symbol, item.trade.price)
            if items:
                await asyncio.sleep(MARK_BATCH_S)  # the trades of the next 0.1 s come in one poll, not one poll each

    async def snapshot(self) -> dict[str, Any]:
        """Positions, PnL per quote currency and per venue, balance changes, fees; this process's PID."""
        return {**ledger_snapshot(self.ledger), "pid": os.getpid(), "rebuilt_from_entries": self.rebuilt_from}

    async def ping(self) -> int:
        return os.getpid()
