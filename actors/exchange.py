"""``ExchangeActor``: one Ray actor per venue connection, thin over :mod:`actors.exchange_core`.

The actor owns ONE async ccxt.pro client (REST and WebSocket, ``enableRateLimit``
on) for one venue and holds state; every decision (client order ids, error
verdicts, the unknown-outcome protocol, sequencing, gap checks, parsing) is a
pure function of :mod:`actors.exchange_core`.

Paper and live differ only by :class:`ExchangeConfig`: ``base_url`` /
``ws_url`` of an emulator (:class:`market.emulator.server.EmulatorServer`) or
None for the venue's own endpoints, and which key-store entry to use.

Keys: the constructor gets the key's *name* and the key-store folder; the
secret is decrypted in :meth:`ExchangeActor.start`, inside the actor process,
from :class:`actors.keystore.KeyStore` (master key from
``$RAYTRADER_MASTER_KEY`` as the *actor process* sees it, else the 0600
``master.key`` in that folder). It lives only on the ccxt client object: never
in the config, the actor's arguments, its repr, a log line or a message.

Market data: one stream per ``(kind, symbol)`` (``trades:XRP/ETH``,
``book:XRP/ETH``, ``bars:XRP/ETH``), numbered ``seq`` 1, 2, ... in a bounded
buffer. Subscribers long-poll ``poll(stream, after_seq, timeout_s)`` and check
holes with :class:`actors.exchange_core.SeqChecker`. When the upstream feed
breaks (WebSocket dropped, trade-id jump, or a kline time jump for which the
venue's REST klines do hold the bars in between) the stream gets a
``GapDetected``; the actor then fetches what was missed over REST (trades
since the last id, bars since the last bar, a book snapshot), publishes it in
order with ``recovered=True``, then a ``Resynced``, and carries on live. Bars: the
kline stream may publish a forming bar more than once; the last event per
``timestamp_ms`` wins. Those decisions are the per-stream trackers of
:mod:`actors.stream_trackers` (``on_live`` -> what to publish and what to fetch,
``on_fetched`` -> what to publish); the actor only waits, fetches and publishes.
Venue API differences (parameter names, client-id form, fills paging) come from
the dialect table :data:`actors.exchange_config.DIALECTS`.

Books on demand: :meth:`ExchangeActor.book` answers the newest book of a symbol
no older than the caller's age limit: the ``book`` stream's last snapshot when
one arrived recently enough, else a snapshot fetched over REST at that moment
(ccxt ``fetch_order_book``, ``book_depth`` levels), so a router can route on a
venue whose book is not streamed (a deployment streams books only when asked:
depth updates cost work even when no parent order is ever sent) or whose
stream is paused. The answer names its source (``stream`` / ``rest``).

Our fills and orders: where the dialect has a user stream (Binance: the user-data
stream's ``executionReport``; Coinbase: the ``user`` channel) the actor learns of a
fill when the venue pushes it (``watch_my_trades``) and, Binance, of every order
state change (``watch_orders``); the REST sync (every ``poll_s``) stays as the gap
filler: it resumes from the newest fill REST returned, and the venue trade id
makes a fill seen both ways count once. A filled order's own fills come with
the venue's answer where it sends them (Binance ``newOrderRespType=FULL``, which
ccxt asks for: each fill with its trade id and commission, ccxt ``order["trades"]``):
they are recorded from the answer when they add up to the order's filled
amount (``fills_answered``); else (Coinbase: no fills in the answer; an order
found by a query after a lost answer) they are fetched over REST at once. (That
fetch costs Binance ``myTrades`` 4 units of ccxt's client-side rate limit, 200 ms
of the venue's budget, against 0.2 units for the order: made after every fill it
held a venue to ~4-5 orders a second.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import ray

from actors import metrics
from actors.exchange_core import (
    ResolutionPolicy,
    StreamLog,
    answered_trades,
    client_order_id,
    parse_balance,
    parse_bar,
    parse_book,
    parse_fill,
    parse_order,
    parse_trade,
    place_order,
    resolve_unknown,
    unknown_update,
)
from actors.messages import (
    AssetBalance,
    BookSnapshot,
    Fill,
    GapDetected,
    MarketEvent,
    OrderIntent,
    OrderRejected,
    OrderUpdate,
    Resynced,
    StreamItem,
    stream_name,
)
from actors.exchange_config import (
    ExchangeConfig,
    ExchangeConfigError,
    UnknownClientOrder,
    dialect_of,
    our_client_id,
    time_in_force_params,
    venue_client_id,
)
from actors.stop_params import stop_params
from actors.stream_trackers import Emit, Fetch, Gap, Out, make_tracker, order_push_supersedes

__all__ = ["ExchangeConfig", "ExchangeActor", "ExchangeConfigError", "UnknownClientOrder"]

log = logging.getLogger(__name__)
#: bars remembered for tick-to-order, and tick-to-order samples kept (the latest)
TICK_MEMORY = 20_000
#: our fills asked for per REST request (Binance ``myTrades``: at most 1,000)
FILLS_PAGE = 1000


def _make_client(config: ExchangeConfig) -> Any:
    """The ccxt.pro client for ``config`` (no credentials yet)."""
    import ccxt.pro as ccxtpro  # noqa: PLC0415 - late: loads inside the actor process only

    cls = getattr(ccxtpro, config.exchange_id, None)
    if cls is None:
        raise ExchangeConfigError(f"ExchangeConfig.exchange_id {config.exchange_id!r}: not a ccxt.pro exchange")
    options: dict[str, Any] = {"recvWindow": config.resolution.recv_window_ms, "warnOnFetchOpenOrdersWithoutSymbol": False}
    settings: dict[str, Any] = {"enableRateLimit": True, "timeout": config.timeout_ms}
    if config.base_url is not None:
        from market.emulator.client import ccxt_config, point_at  # noqa: PLC0415 - late: loads inside the actor process only

        exchange = cls(ccxt_config(options=options, **settings))
        point_at(exchange, config.base_url, config.ws_url)
    else:
        exchange = cls({**settings, "options": options})
    return exchange


async def _parsed(raw: Any, parse: Any) -> list[Any]:
    """``parse(await raw)``: a ccxt answer into ticks."""
    return parse(await raw)


@ray.remote(num_cpus=0.05)
class ExchangeActor:
    """One venue connection (module docstring). Call :meth:`start` first and :meth:`stop` last."""

    def __init__(self, config: ExchangeConfig) -> None:
        self.config = config
        self.dialect = dialect_of(config.exchange_id)
        self._log = StreamLog(config.buffer)
        self._changed = asyncio.Event()
        self._ex: Any = None
        self._tasks: list[asyncio.Task] = []
        self._orders: dict[str, OrderUpdate] = {}
        self._intents: dict[str, tuple[OrderIntent, float]] = {}  # unknown-outcome orders still being resolved
        self._recheck: dict[str, str] = {}  # client order id -> symbol: known orders whose state went unknown
        self._fills_due: set[str] = set()  # symbols whose fills could not be fetched after an order
        self._fills: list[Fill] = []
        self._fill_ids: set[tuple[str, str]] = set()
        self._counts = {"gaps": 0, "resyncs": 0, "stream_errors": 0, "orders": 0, "fills_pushed": 0,
                        "fills_polled": 0, "fills_answered": 0, "user_stream_errors": 0, "orders_pushed": 0, "book_fetches": 0}
        # symbol -> (time.monotonic() when received, the book stream's newest snapshot): what book() answers
        self._book_at: dict[str, tuple[float, BookSnapshot]] = {}
        # symbol -> the newest fill learnt over REST (trade id, or time in ms where the venue pages by time): the
        # REST fill sync resumes there, so a fill the user stream lost is still fetched
        self._rest_cursor: dict[str, int] = {}
        self._incarnation = uuid.uuid4().hex  # a new one per process: fill indexes restart with it
        self._bar_seen: dict[tuple[str, int], float] = {}  # (symbol, bar open ms) -> perf_counter when received
        self._tick_to_order: deque[float] = deque(maxlen=TICK_MEMORY)  # ms, the latest orders' tick-to-order
        self._start_lock = asyncio.Lock()
        self._restarting: asyncio.Task | None = None
        if ray.get_runtime_context().was_current_actor_reconstructed:
            # Ray restarted this actor after a crash: nobody will call start() again, so start here
            # (retried until the venue answers); calls that need the venue wait for it (_started)
            self._restarting = asyncio.get_running_loop().create_task(self._restart())

    def __repr__(self) -> str:
        return f"ExchangeActor({self.config.venue})"

    # ------------------------------------------------------------ lifecycle
    async def _restart(self) -> None:
        """start() after Ray restarted this actor, retried every second until it succeeds; then fetch our
        recent fills at once (the crash may have come between an execution and its fill sync)."""
        while True:
            try:
                await self.start()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged by class name only; the venue may be busy
                log.warning("%s: start after a restart failed (%s); retrying", self.config.venue,
                            type(exc).__name__)
                await asyncio.sleep(1.0)
        self._fills_due.update(self.config.symbols)

    async def _started(self) -> None:
        """Wait (up to 60 s) for a start after a restart that is still under way."""
        task = self._restarting
        if self._ex is None and task is not None and not task.done():
            await asyncio.wait_for(asyncio.shield(task), 60)

    async def start(self) -> dict[str, Any]:
        """Load markets, decrypt the key (if any) here, start the streams and the order sync; idempotent."""
        async with self._start_lock:
            return await self._start_locked()

    async def _start_locked(self) -> dict[str, Any]:
        if self._ex is not None:
            return self.info()
        cfg = self.config
        exchange = _make_client(cfg)
        if cfg.key_name is not None:
            from pathlib import Path  # noqa: PLC0415 - late: loads inside the actor process only

            from actors.keystore import KeyStore  # noqa: PLC0415 - late: loads inside the actor process only

            creds = KeyStore(Path(cfg.keystore_home)).credentials(cfg.key_name)
            exchange.apiKey, exchange.secret = creds.api_key, creds.secret
            if creds.password:
                exchange.password = creds.password
            del creds
        try:
            await exchange.load_markets()
        except BaseException:
            await exchange.close()
            raise
        missing = [s for s in cfg.symbols if s not in exchange.markets]
        if missing:
            await exchange.close()
            raise ExchangeConfigError(f"ExchangeConfig.symbols: {missing} not listed on {cfg.venue}")
        self._ex = exchange
        for symbol in cfg.symbols:
            for kind in cfg.streams:
                self._tasks.append(asyncio.create_task(self._supervised(kind, symbol)))
        if cfg.key_name is not None:
            self._tasks.append(asyncio.create_task(self._sync_loop()))
            if self.dialect.user_stream:
                self._tasks += [asyncio.create_task(self._user_loop(symbol)) for symbol in cfg.symbols]
            if self.dialect.order_stream:
                self._tasks += [asyncio.create_task(self._order_push_loop(symbol)) for symbol in cfg.symbols]
        return self.info()

    async def stop(self) -> dict[str, Any]:
        """Cancel the stream tasks and close the ccxt client."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except BaseException:  # noqa: BLE001 - cancelled or already failed: either way it is over
                pass
        self._tasks = []
        if self._ex is not None:
            await self._ex.close()
            self._ex = None
        return self.info()

    def info(self) -> dict[str, Any]:
        """Venue, streams with their last seq, order/fill counts, gap/resync counters (no secrets)."""
        return {"venue": self.config.venue, "exchange_id": self.config.exchange_id,
                "live": self.config.base_url is None, "running": self._ex is not None,
                "streams": {s: self._log.last_seq(s) for s in self._log.streams()},
                "orders": len(self._orders), "unknown_orders": sorted(self._intents),
                "rechecking": sorted(self._recheck), "fills": len(self._fills),
                **self._counts}

    # ------------------------------------------------------------ market data fan-out
    def _publish(self, stream: str, make: Any) -> StreamItem:
        item = self._log.publish(stream, make)
        self._changed.set()
        self._changed = asyncio.Event()
        return item

    async def poll(self, stream: str, after_seq: int = 0, timeout_s: float = 0.0,
                   limit: int = 1000) -> tuple[StreamItem, ...]:
        """Items of ``stream`` with ``seq > after_seq`` (oldest first, at most ``limit``).

        Waits up to ``timeout_s`` seconds for the first one when none is there yet (long poll).
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            items = self._log.after(stream, after_seq, limit)
            left = deadline - time.monotonic()
            if items or left <= 0:
                return items
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def _event(self, stream: str, symbol: str, kind: str, recovered: bool = False, **payload: Any) -> StreamItem:
        if kind == "bar":  # when this bar reached us: the "tick" of tick-to-order (see place)
            self._bar_seen[(symbol, payload["bar"].timestamp_ms)] = time.perf_counter()
            if len(self._bar_seen) > TICK_MEMORY:
                self._bar_seen.pop(next(iter(self._bar_seen)))
        elif kind == "book":
            self._book_at[symbol] = (time.monotonic(), payload["book"])
        return self._publish(stream, lambda seq: MarketEvent(kind, stream, seq, self.config.venue, symbol,
                                                              recovered=recovered, **payload))

    def _gap(self, stream: str, symbol: str, reason: str, last_good: Any) -> None:
        self._counts["gaps"] += 1
        if stream == stream_name("book", symbol):
            self._book_at.pop(symbol, None)  # the stream's last book may be stale now: book() fetches one
        self._publish(stream, lambda seq: GapDetected(stream, seq, self.config.venue, symbol, reason,
                                                      None if last_good is None else str(last_good)))

    def _resynced(self, stream: str, symbol: str, recovered: int, resumed_from: Any) -> None:
        self._counts["resyncs"] += 1
        self._publish(stream, lambda seq: Resynced(stream, seq, self.config.venue, symbol, recovered,
                                                   None if resumed_from is None else str(resumed_from)))

    def _apply(self, stream: str, symbol: str, out: tuple[Out, ...]) -> None:
        """Publish what a tracker answered, in order."""
        for o in out:
            if isinstance(o, Emit):
                self._event(stream, symbol, o.kind, recovered=o.recovered, **{o.kind: o.payload})
            elif isinstance(o, Gap):
                self._gap(stream, symbol, o.reason, o.last_good)
            else:
                self._resynced(stream, symbol, o.recovered, o.resumed_from)

    async def _supervised(self, kind: str, symbol: str) -> None:
        """Run one stream loop; if it dies of a bug, report a gap (no resync is claimed) and restart it."""
        while True:
            try:
                await self._stream_loop(kind, symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged by class name only: messages may quote venue data
                self._counts["stream_errors"] += 1
                log.warning("%s %s %s loop failed (%s); restarting", self.config.venue, kind, symbol,
                            type(exc).__name__)
                self._gap(stream_name(kind, symbol), symbol, f"stream task failed: {type(exc).__name__}", None)
                await asyncio.sleep(self.config.reconnect_s)

    def _live(self, kind: str, symbol: str, tracker: Any) -> Any:
        """The coroutine function that waits for the next live batch of ``kind``, parsed into ticks: from the
        venue's WebSocket, or (kinds the dialect does not stream) a REST poll every ``rest_poll_s``."""
        ex, tf, depth = self._ex, self.config.bar_timeframe, self.config.book_depth
        if kind not in self.dialect.streamed:
            async def polled() -> list[Any]:
                await asyncio.sleep(self.config.rest_poll_s)
                if kind == "bars" and tracker.last is None:  # the first poll: the newest closed bars only
                    return [parse_bar(tf, r) for r in await ex.fetch_ohlcv(symbol, tf, limit=2)]
                return await self._fetch(Fetch(kind, None if kind == "book" else tracker.last), symbol)
            return polled
        if kind == "trades":
            return lambda: _parsed(ex.watch_trades(symbol), lambda raw: [parse_trade(t) for t in raw])
        if kind == "book":
            return lambda: _parsed(ex.watch_order_book(symbol), lambda raw: [parse_book(raw, depth)])
        return lambda: _parsed(ex.watch_ohlcv(symbol, tf), lambda raw: [parse_bar(tf, r) for r in raw])

    async def book(self, symbol: str, max_age_s: float = 2.0) -> dict[str, Any]:
        """The book stream's newest snapshot of ``symbol`` when it arrived at most ``max_age_s`` seconds ago
        (module docstring), else one fetched over REST now (a REST answer is never reused):
        ``{"book": BookSnapshot, "source": "stream" | "rest", "age_ms", "taker_bps"}``; ``taker_bps``: the taker
        fee the venue's market states (ccxt ``market["taker"]`` x 1e4), None if none. A REST failure raises
        (the venue is unreachable: the caller has no book from it)."""
        await self._started()
        if self._ex is None:
            raise ExchangeConfigError(f"ExchangeActor({self.config.venue}) is not started; call start() first")
        if symbol not in self.config.symbols:
            raise ExchangeConfigError(f"symbol {symbol!r} is not configured on {self.config.venue} "
                                      f"(configured: {', '.join(self.config.symbols)})")
        streamed = self._book_at.get(symbol)
        if streamed is not None and time.monotonic() - streamed[0] <= max_age_s:
            (at, snapshot), source = streamed, "stream"
        else:
            snapshot = (await self._fetch(Fetch("book", None), symbol))[0]
            at, source = time.monotonic(), "rest"
            self._counts["book_fetches"] += 1
        taker = (self._ex.markets.get(symbol) or {}).get("taker")
        return {"book": snapshot, "source": source, "age_ms": round((time.monotonic() - at) * 1000, 1),
                "taker_bps": round(float(taker) * 1e4, 9) if isinstance(taker, (int, float)) else None}

    async def _fetch(self, fetch: Fetch, symbol: str) -> list[Any]:
        """A tracker's REST fetch, parsed into ticks."""
        ex, tf, depth = self._ex, self.config.bar_timeframe, self.config.book_depth
        if fetch.kind == "trades":
            param = self.dialect.fills_from_id_param
            params = {param: fetch.after + 1} if param and fetch.after is not None else {}
            return [parse_trade(t) for t in await ex.fetch_trades(symbol, limit=1000, params=params)]
        if fetch.kind == "book":
            return [parse_book(await ex.fetch_order_book(symbol, max(depth, 5)), depth)]
        since = None if fetch.after is None else fetch.after + 1
        return [parse_bar(tf, r) for r in await ex.fetch_ohlcv(symbol, tf, since=since, limit=1000)]

    async def _stream_loop(self, kind: str, symbol: str) -> None:
        """Live batches into the stream's tracker (:mod:`actors.stream_trackers`); its fetches over REST."""
        stream = stream_name(kind, symbol)
        tracker = make_tracker(kind, self._ex.parse_timeframe(self.config.bar_timeframe) * 1000)
        live = self._live(kind, symbol, tracker)
        while True:
            try:
                batch = await live()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any stream failure is a potential gap
                self._counts["stream_errors"] += 1
                self._apply(stream, symbol, tracker.on_error(type(exc).__name__))
                await asyncio.sleep(self.config.reconnect_s)
                continue
            step = tracker.on_live(batch)
            self._apply(stream, symbol, step.out)
            if step.fetch is None:
                continue
            try:
                rows = await self._fetch(step.fetch, symbol)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - REST down too: keep the gap open, retry next round
                tracker.on_fetch_failed()
                await asyncio.sleep(self.config.reconnect_s)
                continue
            self._apply(stream, symbol, tracker.on_fetched(rows))

    # ------------------------------------------------------------ orders
    def _check_symbol(self, symbol: str) -> None:
        if self._ex is None:
            raise ExchangeConfigError(f"ExchangeActor({self.config.venue}) is not started; call start() first")
        if symbol not in self.config.symbols:
            raise ExchangeConfigError(f"symbol {symbol!r} is not configured on {self.config.venue} "
                                      f"(configured: {', '.join(self.config.symbols)})")
        if self.config.key_name is None:
            raise ExchangeConfigError(f"ExchangeConfig.key_name is not set on {self.config.venue}: market data only")

    def _parse_order(self, order: dict[str, Any]) -> OrderUpdate:
        """A ccxt order -> OrderUpdate named by our client order id (a ``uuid`` venue's id read back)."""
        update = parse_order(self.config.venue, order)
        ours = our_client_id(self.dialect, self.config.namespace, update.client_order_id)
        return update if ours == update.client_order_id else replace(update, client_order_id=ours)

    def _policy(self) -> ResolutionPolicy:
        """The unknown-outcome bounds; the absent rule's window is the venue's own where it fixes one."""
        window = self.dialect.sign_window_ms
        policy = self.config.resolution
        return policy if window is None else replace(policy, recv_window_ms=max(window, policy.recv_window_ms))

    async def _query(self, cid: str, symbol: str) -> OrderUpdate:
        venue_cid = venue_client_id(self.dialect, cid)
        order = await self._ex.fetch_order(None, symbol, {self.dialect.query_client_id: venue_cid})
        return self._parse_order(order)

    def client_order_id(self, intent_id: str) -> str:
        """The client order id this actor sends for ``intent_id`` (pure; see ``exchange_core.client_order_id``)."""
        return client_order_id(self.config.namespace, intent_id)

    async def tick_to_order_ms(self) -> list[float]:
        """Tick-to-order of the latest orders (at most :data:`TICK_MEMORY`), ms: from this actor receiving the bar
        an order's strategy decided on (``intent.context.bar``) until it sends the order to the venue. Exact for
        streams whose bars are closed when published (the emulator); hand-made orders carry no bar."""
        return list(self._tick_to_order)

    async def place(self, intent: OrderIntent) -> OrderUpdate:
        """Place ``intent`` with its deterministic client order id; never leaves an unknown unrecorded.

        Retrying the same intent returns the order the first attempt created
        (``resolved_by="query"``) instead of opening a second one.
        """
        await self._started()
        if intent.venue != self.config.venue:
            raise ExchangeConfigError(f"OrderIntent.venue {intent.venue!r} sent to the {self.config.venue} actor")
        self._check_symbol(intent.symbol)
        cid = self.client_order_id(intent.intent_id)
        ex = self._ex
        # the dialect's spelling of a stop and a time in force; a value it does not serve raises here, unsent
        params = {**stop_params(self.dialect.name, intent), **time_in_force_params(self.dialect, intent)}

        answer: list[dict[str, Any]] = []  # the venue's answer to the create (none when it was lost)

        async def submit() -> OrderUpdate:
            order = await ex.create_order(intent.symbol, intent.type, intent.side, intent.amount, intent.price,
                                          {self.dialect.create_client_id: venue_client_id(self.dialect, cid),
                                           **params})
            answer.append(order)
            return self._parse_order(order)

        self._counts["orders"] += 1
        policy = self._policy()
        t0 = time.perf_counter()
        bar = intent.context.bar if intent.context else None
        seen = self._bar_seen.get((intent.symbol, bar.timestamp_ms)) if bar else None
        if seen is not None:  # tick-to-order: the bar the strategy decided on reached us -> its order goes out now
            self._tick_to_order.append((t0 - seen) * 1000)
            metrics.observe("raytrader_tick_to_order_ms", (t0 - seen) * 1000, venue=self.config.venue)
        update = await place_order(intent, cid, submit=submit, query=lambda: self._query(cid, intent.symbol),
                                   policy=policy)
        metrics.observe("raytrader_order_latency_ms", (time.perf_counter() - t0) * 1000, venue=self.config.venue)
        self._remember(update)
        if update.status == "unknown":
            self._intents[cid] = (intent, time.monotonic())
        else:
            self._intents.pop(cid, None)
        if update.filled and not (update.resolved_by == "response" and answer
                                  and self._record_answered_fills(intent.symbol, update, answer[-1])):
            await self._try_sync_fills(intent.symbol)
        return update

    def _record_answered_fills(self, symbol: str, update: OrderUpdate, order: dict[str, Any]) -> bool:
        """Record the fills the venue's answer to a create carries (:func:`answered_trades`); True when they are
        all of the order's fills, so no fetch over REST is needed. A fill already pushed counts once (trade id)."""
        trades = answered_trades(symbol, order, update.filled)
        if trades is None:
            return False
        self._counts["fills_answered"] += self._record_fills(symbol, trades)
        return True

    async def _try_sync_fills(self, symbol: str) -> None:
        """Fetch new fills now if the venue answers; else the background sync fetches them later.

        (The order call itself succeeded: a failure to list its fills must not look like its failure.)
        """
        try:
            await self._sync_fills(symbol)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged by class name; the next sync round retries
            self._fills_due.add(symbol)
            log.warning("%s: fill sync after an order failed (%s); the background sync retries",
                        self.config.venue, type(exc).__name__)

    def _remember(self, update: OrderUpdate) -> None:
        """Record the venue's state of an order, and name it on fills learnt before its id was known.

        (The background fill sync can see an execution while ``place`` is still resolving a lost answer.)
        """

        self._orders[update.client_order_id] = update
        if update.order_id is not None:
            self._fills = [replace(f, client_order_id=update.client_order_id)
                           if f.client_order_id is None and f.order_id == update.order_id and f.symbol == update.symbol
                           else f for f in self._fills]

    async def cancel(self, client_order_id: str, symbol: str) -> OrderUpdate:
        """Cancel by client order id; whatever the cancel call says, the venue's resulting state is returned.

        When neither the cancel nor the follow-up queries are answered the result has status
        ``unknown`` (the cancel may or may not have happened) and the background sync keeps
        asking until the venue says.
        """
        await self._started()
        self._check_symbol(symbol)
        try:
            order = await self._ex.cancel_order(None, symbol, {self.dialect.query_client_id:
                                                               venue_client_id(self.dialect, client_order_id)})
            update = self._parse_order(order)
            if not update.client_order_id:
                update = await self._query(client_order_id, symbol)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - unknown order, already closed, or no answer: ask the venue
            update = await self.order_status(client_order_id, symbol)
        self._remember(update)
        if update.filled:
            await self._try_sync_fills(symbol)
        return update

    async def order_status(self, client_order_id: str, symbol: str) -> OrderUpdate:
        """The venue's current state of the order.

        Raises :class:`UnknownClientOrder` only when the venue answers that it does not know the
        id. When it does not answer (timeouts, 5xx, 429, dropped connections, three tries) the
        result has status ``unknown`` (``resolved_by="unresolved"``, the last known fields, the
        reason in ``rejection``) and the background sync keeps asking: a network error is never
        raised from here.
        """
        await self._started()
        self._check_symbol(symbol)
        errors: list[str] = []

        async def query() -> OrderUpdate:
            try:
                return await self._query(client_order_id, symbol)
            except Exception as exc:
                errors.append(type(exc).__name__)
                raise

        res = await resolve_unknown(query, failed_at=time.monotonic(),
                                    policy=ResolutionPolicy(max_queries=3, backoff_s=0.2, recv_window_ms=0,
                                                            clock_margin_s=0, not_found_confirmations=1))
        if res.outcome == "found" and res.update is not None:
            self._recheck.pop(client_order_id, None)
            self._remember(res.update)
            return res.update
        if res.outcome == "absent":
            raise UnknownClientOrder(f"client_order_id {client_order_id!r}: no such order for {symbol} on "
                                     f"{self.config.venue}")
        known = self._orders.get(client_order_id)
        if known is not None:
            self._recheck[client_order_id] = symbol
        return unknown_update(self.config.venue, symbol, client_order_id, known,
                              f"{self.config.venue} did not answer {res.queries} queries "
                              f"({', '.join(errors[-3:]) or 'no answer'})")

    async def open_orders(self) -> tuple[OrderUpdate, ...]:
        """Open orders of the account on every configured symbol, oldest first."""
        await self._started()
        out: list[OrderUpdate] = []
        for symbol in self.config.symbols:
            self._check_symbol(symbol)
            out += [self._parse_order(o) for o in await self._ex.fetch_open_orders(symbol)]
        return tuple(sorted(out, key=lambda u: (u.timestamp_ms or 0, u.order_id or "")))

    async def balance(self) -> tuple[AssetBalance, ...]:
        """Account balances with a non-zero total."""
        await self._started()
        if self._ex is None or self.config.key_name is None:
            raise ExchangeConfigError(f"ExchangeActor({self.config.venue}): balance needs start() and a key_name")
        return parse_balance(await self._ex.fetch_balance())

    def fills(self, after: int = 0) -> tuple[Fill, ...]:
        """Our fills in the order they were learnt, from index ``after`` (pass ``len`` of what you have)."""
        return tuple(self._fills[after:])

    def fills_since(self, after: int, incarnation: str | None) -> tuple[str, tuple[Fill, ...]]:
        """``(incarnation, fills)``: :meth:`fills` from index ``after`` when ``incarnation`` names this process,
        else every fill it learnt (a restarted actor's index starts again at 0; callers dedup by trade id)."""
        return self._incarnation, tuple(self._fills[after if incarnation == self._incarnation else 0:])

    def ping(self) -> int:
        """This actor's PID (a restart answers from a new one)."""
        return os.getpid()

    def orders(self) -> tuple[OrderUpdate, ...]:
        """The last known state of every order this actor placed or touched."""
        return tuple(self._orders.values())

    def orders_of(self, client_order_ids: tuple[str, ...]) -> tuple[OrderUpdate, ...]:
        """The last known state of those of ``client_order_ids`` this actor placed or touched."""
        return tuple(self._orders[c] for c in client_order_ids if c in self._orders)

    # ------------------------------------------------------------ background order sync
    async def _sync_fills(self, symbol: str, counter: str = "fills_polled") -> int:
        """Fetch our trades on ``symbol`` over REST and record the new ones; returns how many were new
        (added to ``counter``: ``fills_polled``, or ``fills_pushed`` when a push asked for the fetch).

        Resumes from the newest fill learnt over REST (``fromId`` where the venue has it, else by time with
        repeats deduplicated), not from pushed fills or those of an order's answer, so what the user stream
        lost is found here; page after page (:data:`FILLS_PAGE`) while a page comes back full and moves the
        cursor on (a cursor left many fills behind still reaches the newest).
        """
        param = self.dialect.fills_from_id_param
        new = 0
        while True:
            params: dict[str, Any] = {}
            since: int | None = None
            cursor = self._rest_cursor.get(symbol)
            if cursor is not None and param:
                params[param] = cursor + 1
            elif cursor is not None:
                since = cursor
            trades = await self._ex.fetch_my_trades(symbol, since=since, limit=FILLS_PAGE, params=params)
            for t in trades:
                mark = int(t["id"]) if param else int(t.get("timestamp") or 0)
                self._rest_cursor[symbol] = max(self._rest_cursor.get(symbol, mark), mark)
            got = self._record_fills(symbol, trades)
            self._counts[counter] += got
            new += got
            if len(trades) < FILLS_PAGE or self._rest_cursor.get(symbol) == cursor:
                return new

    def _record_fills(self, symbol: str, trades: list[dict[str, Any]]) -> int:
        """Record those of ccxt ``trades`` (ours, on ``symbol``) not seen before; returns how many."""
        by_order = {u.order_id: cid for cid, u in self._orders.items() if u.order_id}
        new = 0
        for t in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
            key = (symbol, str(t["id"]))
            if key in self._fill_ids:
                continue
            self._fill_ids.add(key)
            self._fills.append(parse_fill(self.config.venue, t, by_order.get(str(t.get("order")))))
            new += 1
        if new:
            self._changed.set()
            self._changed = asyncio.Event()
        return new

    async def _user_loop(self, symbol: str) -> None:
        """Our fills as the venue pushes them (its authenticated user channel, ccxt.pro ``watch_my_trades``).

        Where the push carries the fee the venue charged (the dialect's ``pushed_fees``: Binance
        ``executionReport``), a fill not seen before is recorded as it arrives (``fills_pushed``). Else (Coinbase
        ``match``: the fee *rate* only; the ledger books the fee charged, rounded to the asset's precision) it
        makes the actor fetch this symbol's fills over REST at once, without waiting for the poll. Either way the
        venue trade id deduplicates: the REST sync, which resumes from the newest fill *it* saw, finds the
        pushed ones again and counts none twice. When the channel (or that fetch) fails the background sync
        is asked to fetch the symbol's fills (what was pushed while the channel was down is lost to it), and
        the channel is subscribed again.
        """
        async for trades in self._pushes(self._ex.watch_my_trades, symbol, "user stream", "fills fetched over REST",
                                          lambda: self._fills_due.add(symbol)):
            mine = [t for t in trades if t.get("symbol") == symbol]
            pushed = {(symbol, str(t["id"])) for t in mine}
            if pushed <= self._fill_ids:
                continue
            if self.dialect.pushed_fees:
                self._counts["fills_pushed"] += self._record_fills(symbol, mine)
                continue
            try:
                await self._sync_fills(symbol, "fills_pushed")
                if not pushed <= self._fill_ids:  # the venue's fill list lags its push: the next sync asks again
                    self._fills_due.add(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged by class name only; the background sync retries
                self._fills_due.add(symbol)
                log.warning("%s: fill fetch after a push failed (%s)", self.config.venue, type(exc).__name__)

    async def _pushes(self, watch: Callable[[str], Awaitable[list]], symbol: str, stream: str, meanwhile: str,
                      on_failure: Callable[[], object] = lambda: None) -> AsyncIterator[list]:
        """What ``watch(symbol)`` (a ccxt.pro user-channel call) pushes, batch by batch, for ever. A failure is
        counted (``user_stream_errors``), logged by class name only (``stream`` failed; ``meanwhile``: what REST
        does), ``on_failure()`` is called, and the channel is subscribed again after :meth:`_user_backoff_s`."""
        failures = 0
        while True:
            try:
                batch = await watch(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged by class name only; REST covers the gap
                self._counts["user_stream_errors"] += 1
                on_failure()
                log.warning("%s: %s for %s failed (%s); %s", self.config.venue, stream, symbol,
                            type(exc).__name__, meanwhile)
                failures += 1
                await asyncio.sleep(self._user_backoff_s(failures))
                continue
            failures = 0
            yield batch

    def _user_backoff_s(self, failures: int) -> float:
        """Wait before re-subscribing a user stream after ``failures`` failures in a row, s: ``reconnect_s``,
        doubling up to 30 s (a venue that keeps refusing, e.g. a key without stream rights, is not hammered;
        REST keeps the fills and states meanwhile)."""
        base = self.config.reconnect_s
        return min(base * 2 ** min(failures - 1, 16), max(base, 30.0))

    async def _order_push_loop(self, symbol: str) -> None:
        """Our orders' states as the venue pushes them (ccxt.pro ``watch_orders``: Binance ``executionReport``).

        A pushed state replaces the known one when :func:`actors.stream_trackers.order_push_supersedes` says it
        is newer (pushes race the REST answers); its ``resolved_by`` is ``push`` and its fee is the sum of the
        order's recorded fills when there are any (a push carries only its last fill's commission). Orders this
        actor neither placed nor touched are not followed. A failed stream is subscribed again; the background
        sync keeps checking open orders over REST meanwhile.
        """
        async for orders in self._pushes(self._ex.watch_orders, symbol, "order stream", "states follow over REST"):
            for raw in orders:
                if raw.get("symbol") != symbol:
                    continue
                update = self._parse_order(raw)
                if not order_push_supersedes(self._orders.get(update.client_order_id), update):
                    continue
                fills = [f for f in self._fills if f.order_id == update.order_id and f.symbol == symbol]
                if fills:
                    update = replace(update, fee_cost=sum(f.fee_cost for f in fills), fee_currency=fills[0].fee_currency)
                self._remember(replace(update, resolved_by="push"))
                self._recheck.pop(update.client_order_id, None)
                self._counts["orders_pushed"] += 1

    async def sync(self) -> dict[str, Any]:
        """One round of the background work now: resolve unknown orders, refresh open orders, fetch fills."""
        policy = self._policy()
        for cid, (intent, failed_at) in list(self._intents.items()):
            res = await resolve_unknown(lambda cid=cid, symbol=intent.symbol: self._query(cid, symbol), failed_at=failed_at,
                                        policy=ResolutionPolicy(max_queries=1, recv_window_ms=policy.recv_window_ms,
                                                                clock_margin_s=policy.clock_margin_s,
                                                                not_found_confirmations=1))
            if res.outcome == "found" and res.update is not None:
                self._remember(res.update)
                del self._intents[cid]
            elif res.outcome == "absent":
                from actors.exchange_core import rejected_update  # noqa: PLC0415 - late: loads inside the actor process only

                self._orders[cid] = rejected_update(intent, cid, OrderRejected(
                    "not placed: not found after the recvWindow horizon", "ABSENT"), resolved_by="absent")
                del self._intents[cid]
        for cid, symbol in list(self._recheck.items()):
            try:
                self._remember(await self._query(cid, symbol))
                del self._recheck[cid]
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - still no answer: ask again next round
                pass
        new = 0
        for symbol in self.config.symbols:
            open_ids = {u.client_order_id for u in self._orders.values() if u.symbol == symbol and u.status == "open"}
            if not open_ids and symbol not in self._fills_due:
                continue
            venue_open = {u.client_order_id for u in [self._parse_order(o)
                                                      for o in await self._ex.fetch_open_orders(symbol)]}
            for cid in open_ids - venue_open:  # filled or canceled since we last looked
                self._remember(await self._query(cid, symbol))
            new += await self._sync_fills(symbol)
            self._fills_due.discard(symbol)
        return {"new_fills": new, "unknown_orders": sorted(self._intents), "rechecking": sorted(self._recheck)}

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_s)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - next round retries; the message names no secret
                log.warning("%s: order sync failed: %s", self.config.venue, type(exc).__name__)
