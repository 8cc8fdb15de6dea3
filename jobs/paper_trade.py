"""Paper trading: a registered strategy on emulated venues, through the trading actors, with checks at the end.

:class:`PaperSession` (Ray already initialised, this process on a cluster node):

1. starts one emulator per venue on free loopback ports in this process, in
   the venue's API dialect (:data:`VENUE_DIALECT`), replaying the bundled bar
   sample (and its real trades where the sample has them) at ``speed`` x real
   time; ``binance`` (Binance dialect) charges 10/10 bps maker/taker,
   ``coinbase`` (Coinbase Exchange dialect: ``client_oid`` UUIDs, fees in the
   quote asset on both sides) and ``binanceus`` (Binance dialect) 0/20 bps at
   prices 5 bps higher; the default session trades ``binance`` and ``coinbase``;
2. stores a throw-away key pair in a temporary encrypted key store; starts
   the actors through :func:`actors.deployment.start_trading_actors` (the one
   start path, which ``raytrader trade`` uses too), named and detached in a Ray
   namespace of this session and pinned to this node:
   ``exchange:<venue>`` (:class:`actors.exchange.ExchangeActor`), ``risk``,
   ``oms``, ``portfolio``, ``router`` when the strategy's orders go through it
   (``execution``, below), and one ``strategy:<name>:<symbol>@<venue>`` per
   venue; every actor restarts on a crash (``max_restarts=-1``): the trading
   actors rebuild from this session's journal stream in the cluster's Redis,
   an ExchangeActor reconnects to its venue by itself;
3. waits until the OMS has reconciled every venue (if one fails, the session
   stops with the reason: trading does not start), then replays for ``seconds``;

   ``execution`` (:mod:`actors.strategy_execution`): ``direct`` (default) - each
   runner's target change is one OMS market order at its venue; ``route`` - ONE
   runner ``strategy:<name>:<symbol>@<venue>+<venue>`` (bars from the first
   venue) sizes its target on the position and equity summed over all venues
   and hands the order to the router, which splits it across the venues by
   their books net of each venue's taker fee (:data:`VENUE_FEES`); ``twap`` /
   ``iceberg`` - a runner per venue, each order a parent at its venue. One
   working parent per runner (a new target cancels it and waits for it to end);
   the summary's ``checks.parents`` counts the parents by algorithm and status
   and checks that every child is journaled with its parent and filled at the
   venue as in the journal;
4. stops the strategies, settles the orders, and reports PnL, positions,
   orders by state, fills, the journal (entries, chain verified), the OMS's
   decision time (target received -> order handed to the venue actor, ms),
   and checks against the venues' own books: every order the venue has
   is in the journal and vice versa (none lost, none duplicated), each order
   has the same state and filled amount at the venue and in the OMS, none is
   still in a state whose outcome we do not know, and each venue's balance
   changes equal the ledger's.

Arbitrage mode (``strategy="arbitrage"``, exactly two venues): the second venue replays the same
sample dislocated by ``offset_bps`` from the first, and one :class:`actors.arb_runner.ArbRunner`
(``strategy:arbitrage:<symbol>@<venue>+<venue>``) replaces the StrategyRunners: it watches both venues'
books and sends each pair's two legs through the ``oms`` (pre-trade check and journal as for any order;
the legs' intent ids share the pair id). The summary adds ``arbitrage``
(:func:`actors.arbitrage.arb_report` on the journal: pairs, legs filled, PnL net of fees per venue and in
total in the quote currency, inventory per venue at the end) beside the same checks.

Command line: ``python -m jobs.paper_trade --strategy sma_cross -p fast=10 -p slow=30
--sample XRP-ETH-1m --venues binance,coinbase --speed 300 --seconds 30 [--execution route]``; arbitrage:
``python -m jobs.paper_trade --strategy arbitrage --venues binance,coinbase --offset-bps 80``.
"""

from __future__ import annotations

import argparse
import base64
import math
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from raytrader.errors import InputError
from raytrader.config import load_config
from raytrader.ports import free_ports
from raytrader.params import name_value_pairs

__all__ = ["PaperRequest", "PaperSession", "paper_trade", "main", "VENUE_FEES", "VENUE_DIALECT", "parse_params"]

#: venue -> (maker bps, taker bps, price offset bps) of the emulated venues
VENUE_FEES = {"binance": ("10", "10", "0"), "binanceus": ("0", "20", "5"), "coinbase": ("0", "20", "5")}
#: venue -> the ccxt exchange id whose API dialect its emulator speaks (see actors.exchange_config.DIALECTS)
VENUE_DIALECT = {"binance": "binance", "binanceus": "binance", "coinbase": "coinbaseexchange"}
ACCOUNT = "paper"
#: the emulator's order status -> the OMS state that agrees with it (ccxt reports an expired order, e.g. a
#: market order the book could not fill, as canceled)
_VENUE_STATE = {"NEW": "ACCEPTED", "PARTIALLY_FILLED": "PARTIALLY_FILLED", "FILLED": "FILLED",
                "CANCELED": "CANCELED", "EXPIRED": "CANCELED", "REJECTED": "REJECTED"}
#: OMS states whose outcome the venue has not told us yet
_UNSETTLED = ("SUBMITTED", "UNKNOWN", "PENDING_CANCEL", "PENDING_UPDATE")
#: the ``strategy`` of the arbitrage mode (module docstring), and the pair-id prefix of its legs
ARBITRAGE = "arbitrage"


class PaperInputError(InputError):
    """A paper-trading flag (named in the message) is invalid."""


def parse_params(items: Sequence[str]) -> tuple[tuple[str, float | int], ...]:
    """``["fast=10", "slow=30"]`` -> ``(("fast", 10), ("slow", 30))``; numbers only, each name once."""
    out = []
    for name, value in name_value_pairs(items, "-p", PaperInputError):
        try:
            number: float | int = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise PaperInputError(f"-p {name}: {value!r} is not a number") from None
        out.append((name, number))
    return tuple(out)


@dataclass(frozen=True)
class PaperRequest:
    """One paper session. ``speed``: replay x real time (1..3600); ``seconds``: replay after trading starts
    (1..3600); ``cash``: quote currency deposited per venue (the same value in base is deposited too);
    ``size``: fraction of the account's equity a target of 1.0 holds; ``warmup_bars``: bars replayed
    before the session starts (the venue's history); ``offset_bps``: the second venue's prices this many bps
    above the first's (-1000..1000; None: each venue's usual offset, :data:`VENUE_FEES`). Arbitrage mode
    (``strategy="arbitrage"``, two venues, ``params`` ignored): ``margin_bps`` - the least net edge traded
    (bps, after both taker fees); ``max_qty`` - the most base units per pair (None: the touch sizes and
    inventory only); ``max_base`` - the most base units one venue may hold (None: no cap); ``stale_s`` - a
    venue's book older than this (seconds since it arrived) is not decided on (0 < stale_s <= 60). ``execution``:
    how the strategy's orders go out (:mod:`actors.strategy_execution`): ``direct`` (one OMS market order per
    target change at each runner's venue), ``route`` (ONE runner over all ``venues``, its orders split by the
    router across them), ``twap`` / ``iceberg`` (a runner per venue, each order a parent at its venue), with
    ``exec_params`` (``(name, number)`` pairs: slices, duration_s, display, participation, limit_bps)."""

    strategy: str = "sma_cross"
    params: tuple[tuple[str, float | int], ...] = (("fast", 10), ("slow", 30))
    sample: str = "XRP-ETH-1m"
    venues: tuple[str, ...] = ("binance", "coinbase")
    speed: float = 300.0
    seconds: float = 30.0
    cash: float = 10.0
    size: float = 0.25
    warmup_bars: int = 30
    target_sizing: str = ""
    offset_bps: float | None = None
    margin_bps: float = 5.0
    max_qty: float | None = None
    max_base: float | None = None
    stale_s: float = 2.0
    execution: str = "direct"
    exec_params: tuple[tuple[str, float], ...] = ()
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def arbitrage(self) -> bool:
        return self.strategy == ARBITRAGE

    def __post_init__(self) -> None:
        if not 1 <= self.speed <= 3600:
            raise PaperInputError(f"speed: expected 1..3600 x real time, got {self.speed}")
        if not 1 <= self.seconds <= 3600:
            raise PaperInputError(f"seconds: expected 1..3600, got {self.seconds}")
        if not (self.cash > 0) or not math.isfinite(self.cash):
            raise PaperInputError(f"cash: expected a number > 0, got {self.cash}")
        if not 0 < self.size <= 1:
            raise PaperInputError(f"size: expected a fraction of equity in (0, 1], got {self.size}")
        unknown = [v for v in self.venues if v not in VENUE_FEES]
        if not self.venues or unknown or len(set(self.venues)) != len(self.venues):
            raise PaperInputError(f"venues {','.join(self.venues)}: expected distinct names among "
                                  f"{', '.join(VENUE_FEES)}")
        if self.offset_bps is not None and not (math.isfinite(self.offset_bps) and -1000 <= self.offset_bps <= 1000):
            raise PaperInputError(f"offset-bps: expected -1000..1000 bps, got {self.offset_bps}")
        if self.offset_bps is not None and len(self.venues) < 2:
            raise PaperInputError("offset-bps: dislocates the second venue; give two venues")
        import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
        from market.samples import list_samples  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from backtest.rl_policy import resolve_strategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from strategies.params import validate_params  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        bars = [s.name for s in list_samples() if s.kind == "ohlcv"]
        if self.sample not in bars:
            raise PaperInputError(f"sample {self.sample!r}: expected one of {', '.join(bars)}")
        if self.arbitrage:
            self._check_arbitrage()
            return
        from actors.strategy_execution import Execution, ExecutionError  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        try:
            Execution(self.execution, self.exec_params)
        except ExecutionError as exc:
            raise PaperInputError(str(exc)) from None
        strategy = resolve_strategy(self.strategy)  # rl:<name>: an exported RL policy
        if strategy.multi_asset:
            raise PaperInputError(f"strategy {self.strategy!r} is multi-asset; paper trading runs one symbol")
        validate_params(strategy, dict(self.params))
        if self.target_sizing:
            from backtest.sizing import parse_sizing  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

            if parse_sizing(self.target_sizing).method == "risk-parity":
                raise PaperInputError(f"sizing {self.target_sizing!r}: risk-parity splits risk across assets; "
                                      "a paper session trades one symbol (use fixed, vol-target or kelly)")

    def _check_arbitrage(self) -> None:
        if len(self.venues) != 2:
            raise PaperInputError(f"venues {','.join(self.venues)}: arbitrage trades between exactly two venues")
        if self.execution != "direct" or self.exec_params:
            raise PaperInputError("execution: arbitrage sends its own IOC legs (leave --execution direct)")
        if self.target_sizing:
            raise PaperInputError("sizing: arbitrage sizes each pair by the touches and inventory (use --max-qty)")
        if not (math.isfinite(self.margin_bps) and 0 <= self.margin_bps <= 1000):
            raise PaperInputError(f"margin-bps: expected 0..1000 bps, got {self.margin_bps}")
        for name in ("max_qty", "max_base"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise PaperInputError(f"{name.replace('_', '-')}: expected a number > 0 (base units), got {value}")
        if not (math.isfinite(self.stale_s) and 0 < self.stale_s <= 60):
            raise PaperInputError(f"stale-s: expected 0 < seconds <= 60, got {self.stale_s}")


def _instrument(symbol: str, price: float) -> Any:
    from market.emulator import Instrument  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    step = Decimal(1) if price < 1 else Decimal("0.001")
    return Instrument(symbol, tick_size=Decimal("0.00000001") if price < 1 else Decimal("0.01"), step_size=step,
                      min_qty=step, min_notional=Decimal("0.00001"), max_price=Decimal(str(max(1000.0, price * 100))))


def _trades_for(sample_symbol: str, sample_name: str) -> Any:
    from market.samples import list_samples, load_sample_frame  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    for s in list_samples():
        if s.kind == "trades" and s.symbol == sample_symbol and s.name.split("-")[:2] == sample_name.split("-")[:2]:
            return load_sample_frame(s.name)
    return None


def _replay_in_lockstep(servers: Sequence[Any], speed: float, stop: threading.Event) -> None:
    """Advance every venue along ONE :class:`market.emulator.replay.ReplayClock` until ``stop`` (a thread's body).

    Each server replaying by itself would start its clock when it started: the second venue's market would lag
    the first's by the first's start-up time x ``speed`` (about 1 s x 300 = 5 minutes of history here), a
    dislocation of its own that an arbitrage would trade. Each venue is advanced under its server's lock (its
    request handlers and feeds hold it too); the feeds poll the venue, so they publish what this advances."""
    from market.emulator.replay import ReplayClock  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    clock = ReplayClock(min(s.venue.now_ms for s in servers), time.monotonic(), speed)
    while not stop.is_set():
        due = []
        for server in servers:
            with server.lock:
                server.venue.advance_to(clock.replay_ms(time.monotonic()), max_events=200)
                nxt = server.venue.next_event_ms()
            if nxt is not None:
                due.append(nxt)
        if not due:
            return
        stop.wait(min(0.05, max(0.0, clock.wall_s(min(due)) - time.monotonic())))


def _parent_checks(entries: Sequence[Any], namespace: str, venue_filled: dict[str, float]) -> dict[str, Any]:
    """The parent orders in a session's journal (:func:`actors.parent_orders.parents_from_entries`): how many by
    algorithm and status, still working at the end, children (all, per venue, filled), and the children that
    break a rule - journaled with a ``parent_id`` no ``parent`` entry names (``orphans``), or whose parent's
    filled quantity exceeds its own (``overfilled``). ``venue_filled``: client order id -> the filled quantity the
    venue's own book has for it (base units), to compare with the children's journaled fills."""
    from actors.journal import EntryKind  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from actors.parent_orders import parents_from_entries  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    parents = parents_from_entries(entries, namespace)
    by: dict[str, dict[str, int]] = {}
    for p in parents.values():
        row = by.setdefault(p.intent.algo, {})
        row[p.status] = row.get(p.status, 0) + 1
    children = [c for p in parents.values() for c in p.children.values()]
    per_venue: dict[str, int] = {}
    for c in children:
        per_venue[c.venue] = per_venue.get(c.venue, 0) + 1
    orphans = sorted(e.payload.intent_id for e in entries if e.kind is EntryKind.INTENT
                     and e.payload.parent_id is not None and e.payload.parent_id not in parents)
    return {"by_algo": by, "total": len(parents), "working": sorted(k for k, p in parents.items() if p.status == "working"),
            "children": len(children), "children_by_venue": per_venue,
            "children_at_venues": sum(1 for c in children if c.client_order_id in venue_filled),
            "children_filled": round(sum(c.filled for c in children), 12),
            "children_filled_at_venues": round(sum(venue_filled.get(c.client_order_id, 0.0) for c in children), 12),
            "orphans": orphans,
            "overfilled": sorted(k for k, p in parents.items() if p.filled > p.intent.qty + p.intent.step / 2)}


def _retrying(read: Any) -> Any:
    """``read()`` of an emulator's books while its server thread replays (a dict may change size under us)."""
    for _ in range(100):
        try:
            return read()
        except RuntimeError:
            time.sleep(0.01)
    return read()


class PaperSession:
    """A running paper session (module docstring); a context manager that leaves nothing behind."""

    def __init__(self, request: PaperRequest) -> None:
        self.request = request
        self.ray_namespace = f"paper-{request.session}"
        self.stream = f"raytrader:journal:paper:{request.session}"
        self.venues: dict[str, Any] = {}
        self.servers: dict[str, Any] = {}  # venue -> its EmulatorServer (``.faults`` injects faults)
        self.handles: dict[str, Any] = {}
        self.deposits: dict[str, dict[str, float]] = {}
        self._stack = ExitStack()
        self.marks: dict[str, float] = {}

    # ------------------------------------------------------------ start
    def __enter__(self) -> "PaperSession":
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        from actors.deployment import start_trading_actors  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.exchange import ExchangeConfig  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.keystore import Credentials, KeyStore  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.trading import OMS_NAME, Sizing, StrategySpec, TradingConfig  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from market.emulator import ApiKey, FeeSchedule, MarketSpec, ReplayConfig, Venue, VenueConfig  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from market.emulator.coinbase import CoinbaseServer, coinbase_venue_config  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from market.emulator.server import EmulatorServer, ServerConfig  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from market.samples import load_sample  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        req = self.request
        bars = load_sample(req.sample)
        self.symbol = symbol = bars.symbol
        base, quote = symbol.split("/")
        first = float(bars.close[min(req.warmup_bars, len(bars.close) - 1)])
        inst = _instrument(symbol, first)
        trades = _trades_for(symbol, req.sample)
        # one key pair for every venue: a base64 secret (Coinbase signs with its decoded bytes; Binance with the
        # string) and a passphrase (Coinbase only)
        api_key, secret = "paper" + secrets.token_hex(6), base64.b64encode(secrets.token_bytes(32)).decode()
        passphrase = secrets.token_hex(8)
        home = Path(tempfile.mkdtemp(prefix="rt-paper-keys-"))
        self._stack.callback(shutil.rmtree, home, True)
        KeyStore(home, env={}).add("paper", "binance", Credentials(api_key, secret, passphrase))

        # the venues first (paused: replayed in lockstep below), then the actors that connect to them
        # distinct, and none the cluster's config promised to a server not bound yet (the API's replica ports)
        ports = dict(zip(req.venues, free_ports(len(req.venues), exclude=load_config().configured_ports())))
        server_class = {v: CoinbaseServer if VENUE_DIALECT[v] == "coinbaseexchange" else EmulatorServer
                        for v in req.venues}
        self.deposits = {v: {quote: req.cash, base: req.cash / first} for v in req.venues}
        offsets = {v: Decimal(VENUE_FEES[v][2]) for v in req.venues}
        if req.offset_bps is not None:  # the second venue dislocated from the first
            offsets[req.venues[1]] = offsets[req.venues[0]] + Decimal(str(req.offset_bps))
        self.offsets = {v: float(o) for v, o in offsets.items()}
        for name, port in ports.items():
            maker, taker, _ = VENUE_FEES[name]
            venue_config = VenueConfig(name=name, fees=FeeSchedule(Decimal(maker), Decimal(taker)),
                                       replay=ReplayConfig(price_offset_bps=offsets[name]))
            if server_class[name] is CoinbaseServer:
                venue_config = coinbase_venue_config(venue_config)
            venue = Venue([MarketSpec(inst, bars, trades)], keys=[ApiKey(api_key, secret, ACCOUNT, passphrase=passphrase)],
                          config=venue_config,
                          deposits={ACCOUNT: {a: Decimal(repr(x)) for a, x in self.deposits[name].items()}})
            venue.advance_to(venue.start_ms + req.warmup_bars * bars.timeframe_ms)
            self.venues[name] = venue
            self.servers[name] = self._stack.enter_context(server_class[name](venue, ServerConfig(port=port, replay_speed=None)))
        stop_replay = threading.Event()
        replay = threading.Thread(target=_replay_in_lockstep, args=(list(self.servers.values()), req.speed, stop_replay),
                                  name="paper-replay", daemon=True)
        replay.start()
        self._stack.callback(replay.join, 10)
        self._stack.callback(stop_replay.set)

        # the router routes on the venues' books; the arbitrage runner watches them
        streams = ("trades", "book") if req.arbitrage else (
            ("trades", "bars", "book") if req.execution != "direct" else ("trades", "bars"))
        exchanges = []
        for name, port in ports.items():
            url = f"http://127.0.0.1:{port}"
            exchanges.append(ExchangeConfig(venue=name, exchange_id=VENUE_DIALECT[name], symbols=(symbol,), base_url=url,
                                            ws_url=url.replace("http://", "ws://") + server_class[name].STREAM_PATHS[0],
                                            key_name="paper", keystore_home=str(home), namespace="paper",
                                            streams=streams))
        step = float(inst.step_size)
        self.config = config = TradingConfig(stream=self.stream, venues=tuple(req.venues), namespace="paper",
                                             ray_namespace=self.ray_namespace, sizing=Sizing("equity", req.size, step, step),
                                             taker_bps=tuple((v, float(VENUE_FEES[v][1])) for v in req.venues))
        self._stack.callback(self._drop_journal)
        if req.arbitrage:
            from actors.arb_runner import ArbSpec  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

            self.arb_spec = ArbSpec(symbol, tuple(req.venues), tuple(float(VENUE_FEES[v][1]) for v in req.venues),
                                    margin_bps=req.margin_bps, max_qty=req.max_qty or 1e12, step=step,
                                    max_base=req.max_base or math.inf, prefix=ARBITRAGE, tick=float(inst.tick_size),
                                    stale_s=req.stale_s)
            self.specs: list[Any] = []
            specs: list[Any] = [self.arb_spec]
        else:
            common = {"params": req.params, "bars_closed_on_publish": True, "target_sizing": req.target_sizing,
                      "execution": req.execution, "exec_params": req.exec_params}
            if req.execution == "route":  # one runner over every venue: bars from the first, position summed
                self.specs = [StrategySpec(req.strategy, symbol, req.venues[0], route_venues=tuple(req.venues),
                                           **common)]
            else:
                self.specs = [StrategySpec(req.strategy, symbol, v, **common) for v in req.venues]
            specs = list(self.specs)
        self.runner_keys = [spec.key for spec in specs]

        def created(name: str, handle: Any) -> None:
            self.handles[name] = handle
            self._stack.callback(ray.kill, handle, no_restart=True)

        def exchanges_started(handles: list[Any]) -> None:
            self._stack.callback(lambda: ray.get([e.stop.remote() for e in handles], timeout=30))

        # the one start path of every trading deployment; here pinned to this node, where the emulators run;
        # ExchangeActors restart like the others (a restarted one starts itself, see its module)
        start_trading_actors(config, exchanges, specs, on_created=created, on_exchanges_started=exchanges_started,
                             scheduling_strategy=NodeAffinitySchedulingStrategy(
                                 ray.get_runtime_context().get_node_id(), soft=False),
                             exchange_restarts=-1, router=False)
        self.oms = self.handles[OMS_NAME]
        # the session's clock starts once every runner has loaded its strategy: an rl:<name> runner imports torch
        # and loads its policy first (over 25 s on a loaded 2-core machine, most of a default 30 s session)
        ray.get([self.handles[k].ping.remote() for k in self.runner_keys], timeout=300)
        self.started = time.monotonic()

    def _drop_journal(self) -> None:
        """The session's journal stays in Redis for ``raytrader audit`` (nothing is deleted here)."""

    # ------------------------------------------------------------ running
    def actor(self, name: str) -> Any:
        return self.handles[name]

    def runners(self) -> dict[str, Any]:
        return {key: self.handles[key] for key in self.runner_keys}

    def wait_trading(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """Poll the OMS until it answers and trades (after a restart: rebuilt and reconciled)."""
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                status = ray.get(self.oms.status.remote(), timeout=max(1.0, deadline - time.monotonic()))
                if status["trading"]:
                    return status
                raise InputError(f"paper: trading did not start: {status['reason']}")
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - restarting
                last = exc
                time.sleep(0.1)
        raise InputError(f"paper: the oms did not come back within {timeout_s:g} s ({type(last).__name__})")

    def stop_strategies(self) -> None:
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        if self.request.arbitrage:  # no new pair, the one in flight finished; its counts for the summary
            try:
                self._runner_status = ray.get(self.handles[self.arb_spec.key].stop.remote(), timeout=150)
            except Exception:  # noqa: BLE001 - a runner restarting: the summary goes without them
                self._runner_status = None
        if not self.request.arbitrage:
            # stop each runner first: the order or parent it is sending is finished and recorded (killed mid-call, its
            # OMS / router call runs on: a parent or order that lands after stop_parents and the checks looked)
            from actors.trading import stop_runners  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

            stop_runners(self.runners().values())
        for handle in self.runners().values():
            ray.kill(handle, no_restart=True)
        if self.request.arbitrage:  # a leg left resting by a runner killed mid-pair is not meant to rest
            ray.get(self.oms.cancel_all.remote("arb_stop"), timeout=60)
        if self.request.execution != "direct":
            self.stop_parents()

    def stop_parents(self, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Cancel every parent still working (its open children are cancelled by the router) and wait until
        each has ended with every child settled (or ``timeout_s``); the router's parents."""
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        from actors.trading import ROUTER_NAME  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        router = self.handles[ROUTER_NAME]
        deadline = time.monotonic() + timeout_s
        while True:
            parents = ray.get(router.parents_json.remote(), timeout=60)
            busy = [p for p in parents if p["status"] == "working" or p["open_children"]]
            if not busy or time.monotonic() > deadline:
                return parents
            for p in busy:
                if p["status"] == "working":
                    ray.get(router.cancel.remote(p["parent_id"], "session end"), timeout=60)
            time.sleep(0.3)

    def settle(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Sync the OMS with the venues until no order is in flight (or ``timeout_s``); its status."""
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        deadline = time.monotonic() + timeout_s
        while True:
            ray.get(self.oms.sync.remote(), timeout=60)
            status = ray.get(self.oms.status.remote(), timeout=60)
            busy = {s: n for s, n in status["orders_by_state"].items()
                    if s in ("SUBMITTED", "PENDING_CANCEL", "PENDING_UPDATE", "UNKNOWN")}
            if not busy or time.monotonic() > deadline:
                return status
            time.sleep(0.3)

    # ------------------------------------------------------------ checks
    def venue_orders(self) -> dict[str, list[Any]]:
        """Every order each venue remembers for our account (the venue's own book, not our view of it), each
        named by our client order id: a Coinbase-dialect venue holds the ``client_oid`` UUID that encodes it,
        read back with :func:`actors.exchange_config.our_client_id` (other ids are left as the venue has them)."""
        from actors.exchange_config import dialect_of, our_client_id  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        out = {}
        for name, v in self.venues.items():
            dialect = dialect_of(VENUE_DIALECT[name])
            orders = _retrying(lambda v=v: v.engine.orders(ACCOUNT, self.symbol))
            out[name] = [replace(o, client_order_id=our_client_id(dialect, "paper", o.client_order_id))
                         for o in orders]
        return out

    def venue_balance_changes(self) -> dict[str, float]:
        out = {}
        for name, venue in self.venues.items():
            for b in _retrying(lambda venue=venue: venue.engine.ledger.balances(ACCOUNT)):
                out[f"{name}:{b.asset}"] = float(b.total) - self.deposits[name].get(b.asset, 0.0)
        return out

    def checks(self) -> dict[str, Any]:
        """The journal against the venues: orders (none lost, none duplicated), balances, chain."""
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        from actors.journal import EntryKind, Journal  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.ledger import ledger_from_entries  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.trading import redis_url  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        journal = Journal.from_url(redis_url(), self.stream)
        entries = list(journal.entries())
        report = journal.verify()
        sent = {}  # client order id -> venue, for every order the journal says went to a venue
        final: dict[str, str] = {}  # client order id -> its last state in the journal
        for e in entries:
            if e.kind is EntryKind.STATE_CHANGE:
                final[e.payload.client_order_id] = e.payload.to_state
                if e.payload.to_state == "SUBMITTED":
                    sent[e.payload.client_order_id] = e.payload.venue
        # sent, then refused by the venue (a 4xx such as 429 or a stale recvWindow) or proven absent there: known
        # not to be at the venue, so not lost (were it there after all, the venue's state would differ from
        # REJECTED: a state mismatch below)
        refused = {c for c in sent if final.get(c) == "REJECTED"}
        at_venue: dict[str, list[str]] = {}
        for name, orders in self.venue_orders().items():
            for o in orders:
                at_venue.setdefault(o.client_order_id, []).append(name)
        lost = sorted(c for c in sent if c not in at_venue and c not in refused)
        unknown = sorted(c for c in at_venue if c not in sent)
        duplicated = sorted(c for c, where in at_venue.items() if len(where) > 1)
        ledger = ledger_from_entries(entries)
        ours = {f"{v}:{a}": x for (v, a), x in ledger.balances().items()}
        venue = self.venue_balance_changes()
        diffs = {k: venue.get(k, 0.0) - ours.get(k, 0.0) for k in sorted(set(venue) | set(ours))}
        worst = max((abs(d) for d in diffs.values()), default=0.0)
        # the venue keeps Decimal amounts rounded to 8 places per trade and fee; the ledger adds floats
        tolerance = 1e-8 * max(1, ledger.fills_booked())
        oms_orders = ray.get(self.oms.orders.remote(), timeout=60)
        ours = {o["client_order_id"]: o for o in oms_orders}
        # each order the venue has: the same state and filled amount in the OMS
        mismatched = []
        for name, orders in self.venue_orders().items():
            for o in orders:
                mine = ours.get(o.client_order_id)
                if mine is not None and (_VENUE_STATE.get(o.status) != mine["state"]
                                         or abs(float(o.executed_qty) - mine["filled"]) > 1e-9):
                    mismatched.append(f"{name} {o.client_order_id}: venue {o.status} {o.executed_qty}, "
                                      f"oms {mine['state']} {mine['filled']}")
        # an order still in doubt after settle(): say whether the OMS still waits on a venue call for it (slow, not
        # lost: a place under way is never raced by a second one) or none is under way (the sync should have sent
        # or resolved it: a bug)
        unsettled = sorted(f"{c} {o['state']} " + ("(no venue call under way)" if o.get("call_s") is None
                                                   else f"(venue call under way {o['call_s']:g} s)")
                           for c, o in ours.items() if o["state"] in _UNSETTLED)
        venue_filled = {o.client_order_id: float(o.executed_qty) for orders in self.venue_orders().values() for o in orders}
        out_parents = {"parents": _parent_checks(entries, self.config.namespace, venue_filled)} \
            if any(e.kind is EntryKind.PARENT for e in entries) else {}
        return {**out_parents, "journal_entries": report.entries, "chain_ok": report.ok, "head": report.head_hash,
                "orders_sent": len(sent), "orders_rejected": len(refused), "venue_orders": sum(len(w) for w in at_venue.values()),
                "lost": lost, "duplicated": duplicated, "not_in_journal": unknown,
                "balance_diffs": diffs, "balances_match": worst <= tolerance, "balance_worst_diff": worst,
                "oms_orders": len(oms_orders), "state_mismatches": mismatched, "unsettled": unsettled}

    def summary(self) -> dict[str, Any]:
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        from actors.trading import PORTFOLIO_NAME, RISK_NAME  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        status = self.settle()
        snap = ray.get(self.handles[PORTFOLIO_NAME].snapshot.remote(), timeout=60)
        risk = ray.get(self.handles[RISK_NAME].state.remote(), timeout=60)
        checks = self.checks()
        lat = sorted(status["decision_ms"])

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else None

        out = {"job": "paper_trade", "session": self.request.session, "strategy": self.request.strategy,
                "params": {} if self.request.arbitrage else dict(self.request.params), "sample": self.request.sample,
                "symbol": self.symbol, "offsets_bps": self.offsets,
                "venues": list(self.request.venues), "speed": self.request.speed,
                "seconds": round(time.monotonic() - self.started, 2), "journal_stream": self.stream,
                "ray_namespace": self.ray_namespace, "trading_state": risk["trading_state"],
                "orders_by_state": status["orders_by_state"], "fills": status["fills"],
                "pnl": snap["pnl"], "pnl_by_venue": snap["pnl_by_venue"], "positions": snap["positions"],
                "fees": snap["fees"], "reconciliations": status["reconciliations"],
                "decision_ms": {"n": len(lat), "p50": pct(0.5), "p99": pct(0.99)},
                "execution": {"algo": self.request.execution, "params": dict(self.request.exec_params)},
                "checks": checks}
        if self.request.arbitrage:
            out["arbitrage"] = self.arbitrage_report()
        return out

    def marks_at_venues(self) -> dict[str, float]:
        """Each venue's mid (quote per base) from its own book now."""
        out = {}
        for name, venue in self.venues.items():
            bids, asks = _retrying(lambda venue=venue: venue.engine.depth(self.symbol, 1))
            out[name] = float((bids[0][0] + asks[0][0]) / 2)
        return out

    def arbitrage_report(self) -> dict[str, Any]:
        """Arbitrage mode: :func:`actors.arbitrage.arb_report` of this session's journal, its inventory per venue
        at the end (deposits + the journal's changes, asset units) and the runner's own counts. PnL is marked at
        one price for both venues: the mean of their mids at the end (:meth:`marks_at_venues`)."""
        import ray  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        from actors.arbitrage import arb_report  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.exchange_core import client_order_id  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.journal import EntryKind, Journal  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
        from actors.trading import redis_url  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

        entries = list(Journal.from_url(redis_url(), self.stream).entries())
        intents = [e.payload for e in entries if e.kind is EntryKind.INTENT]
        fills = [e.payload for e in entries if e.kind is EntryKind.FILL]
        mids = self.marks_at_venues()
        mark = sum(mids.values()) / len(mids)
        rep = arb_report(intents, fills, lambda i: client_order_id(self.config.namespace, i), ARBITRAGE,
                         self.symbol, mark, list(self.request.venues))
        base, quote = self.symbol.split("/")
        runner = getattr(self, "_runner_status", None)  # taken as it stopped (stop_strategies)
        if runner is None:
            try:
                runner = ray.get(self.handles[self.arb_spec.key].status.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - killed or restarting: its counts are gone
                runner = {}
        return {"margin_bps": self.request.margin_bps, "max_qty": self.request.max_qty,
                "max_base": self.request.max_base, "stale_s": self.request.stale_s, "offset_bps": self.request.offset_bps,
                "taker_bps": dict(zip(self.arb_spec.venues, self.arb_spec.taker_bps)),
                "pairs_opened": rep.pairs_opened, "pairs_complete": rep.pairs_complete,
                "pairs_unbalanced": rep.pairs_unbalanced, "legs_sent": rep.legs_sent,
                "legs_filled": rep.legs_filled, "quote": quote, "base": base, "mark": rep.mark, "mids": mids,
                "pnl_by_venue": rep.pnl_by_venue, "pnl_total": rep.pnl_total, "fees_quote": rep.fees_quote,
                "inventory": {v: {base: self.deposits[v][base] + rep.base_change[v],
                                  quote: self.deposits[v][quote] + rep.quote_change[v]}
                              for v in self.request.venues},
                "imbalance_base": rep.imbalance_base,
                "legs": [{"pair": g.pair, "venue": g.venue, "side": g.side, "amount": g.amount, "filled": g.filled}
                         for g in rep.legs[-200:]],
                "looks": runner.get("looks"), "best_edge_bps": runner.get("best_edge_bps"), "edges": runner.get("edges"),
                "snapshots": runner.get("snapshots"),
                "pair_ms": runner.get("pair_ms"), "runner_errors": runner.get("errors")}


def paper_trade(request: PaperRequest) -> dict[str, Any]:
    """Run one session (module docstring) on the cluster this process is attached to; the summary."""
    with PaperSession(request) as session:
        time.sleep(request.seconds)
        session.stop_strategies()
        return session.summary()


def add_paper_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of a paper session: ``python -m jobs.paper_trade`` and ``raytrader paper`` declare them here."""
    parser.add_argument("--strategy", default="sma_cross", help="registered strategy, or arbitrage: cross-venue arbitrage between two venues "
                             "(default sma_cross)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                        help="strategy parameter (repeatable)")
    parser.add_argument("--sample", default="XRP-ETH-1m", help="bundled bar sample to replay (default XRP-ETH-1m)")
    parser.add_argument("--venues", default="binance,coinbase",
                        help="emulated venues among binance, coinbase (Coinbase Exchange dialect), binanceus "
                             "(default binance,coinbase)")
    parser.add_argument("--speed", type=float, default=300.0, help="replay speed, x real time (default 300)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of trading (default 30)")
    parser.add_argument("--cash", type=float, default=10.0,
                        help="quote currency deposited on each venue, and the same value in the base asset "
                             "(default 10)")
    parser.add_argument("--size", type=float, default=0.25,
                        help="fraction of equity a full target holds (default 0.25)")
    parser.add_argument("--sizing", default="", metavar="RULE",
                        help="size the strategy's targets as backtests do: vol-target:0.2, kelly:0.5, fixed:0.5 "
                             "(default: none)")
    parser.add_argument("--offset-bps", type=float, default=None,
                        help="the second venue's prices this many bps above the first's (default: the venues' own "
                             "offsets: coinbase and binanceus 5 bps)")
    parser.add_argument("--margin-bps", type=float, default=None,
                        help="--strategy arbitrage: least net edge traded, bps after both taker fees (default 5)")
    parser.add_argument("--max-qty", type=float, default=None,
                        help="--strategy arbitrage: most base units per pair (default: touch sizes and inventory)")
    parser.add_argument("--max-base", type=float, default=None,
                        help="--strategy arbitrage: most base units one venue may hold (default: no cap)")
    parser.add_argument("--stale-s", type=float, default=None,
                        help="--strategy arbitrage: a venue's book older than this many seconds is not decided on "
                             "(default 2)")
    parser.add_argument("--execution", choices=("direct", "route", "twap", "iceberg"), default="direct",
                        help="how the strategy's orders go out: direct (an order at each runner's venue), route "
                             "(one runner; each order split across --venues by the router), twap, iceberg "
                             "(each order a parent at its runner's venue); default direct")
    parser.add_argument("--exec-param", action="append", default=[], metavar="NAME=VALUE",
                        help="execution parameter (repeatable): route participation, limit_bps; twap slices, "
                             "duration_s, limit_bps; iceberg display (base units), limit_bps (default 10)")


def request_from_args(args: argparse.Namespace) -> PaperRequest:
    arb = args.strategy == ARBITRAGE
    if arb and args.param:
        raise PaperInputError("-p: arbitrage takes no strategy parameters (use --margin-bps, --max-qty, --max-base)")
    for flag in ("margin_bps", "max_qty", "max_base", "stale_s"):
        if not arb and getattr(args, flag) is not None:
            raise PaperInputError(f"--{flag.replace('_', '-')}: applies to --strategy arbitrage only")
    from actors.strategy_execution import ExecutionError, parse_execution  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    try:
        execution = parse_execution(args.execution, args.exec_param)
    except ExecutionError as exc:
        raise PaperInputError(f"--{exc}") from None
    if arb and execution.algo != "direct":
        raise PaperInputError("--execution: arbitrage sends its own IOC legs (leave --execution direct)")
    return PaperRequest(execution=execution.algo, exec_params=execution.params,
                        strategy=args.strategy, params=parse_params(args.param), sample=args.sample,
                        venues=tuple(v.strip() for v in args.venues.split(",") if v.strip()), speed=args.speed,
                        seconds=args.seconds, cash=args.cash, size=args.size, target_sizing=args.sizing,
                        offset_bps=args.offset_bps,
                        margin_bps=PaperRequest.margin_bps if args.margin_bps is None else args.margin_bps,
                        max_qty=args.max_qty, max_base=args.max_base,
                        stale_s=PaperRequest.stale_s if args.stale_s is None else args.stale_s)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.paper_trade``: one JSON object; exit 2 on bad input (before Ray starts)."""
    from jobs._entry import run_job_main  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return run_job_main("paper_trade", __doc__, add_paper_arguments, request_from_args, paper_trade, argv)


if __name__ == "__main__":
    sys.exit(main())
