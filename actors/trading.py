"""The trading pipeline's shared, pure parts: configuration, actor names, sizing, closed bars. No Ray.

The per-event decision path runs inside ONE process (the ``oms`` actor, see
:mod:`actors.oms`): a StrategyRunner sends the strategy's target (one actor
hop per closed bar), and the OMS sizes it (:func:`size_order`), checks it
against the limits and trading state the RiskMonitor publishes
(:func:`risk.pretrade.check_order`), moves the order state
(:mod:`actors.order_manager`), appends the journal entries and only then
sends the order to the venue's ExchangeActor. Actor hops (measured on the 2-core machine: one async
hop p50 about 2 ms, p99 7-9 ms) are for supervision, state and recovery, not per decision.

Actor names (all in :attr:`TradingConfig.ray_namespace`, detached, ``max_restarts=-1``):
``exchange:<venue>``, ``oms``, ``portfolio``, ``risk``, ``router``, ``strategy:<name>:<symbol>@<venue>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from actors.journal import EntryKind, JournalEntry
from actors.messages import BarTick
from raytrader.errors import InputError
from risk.pretrade import RiskLimits, TradingState

__all__ = ["TradingConfigError", "Sizing", "TradingConfig", "StrategySpec", "size_order", "trading_state_of",
           "ClosedBars", "WindowBars", "window_bars", "target_intent_id", "position_clash", "exchange_name", "strategy_name",
           "OMS_NAME", "PORTFOLIO_NAME", "RISK_NAME", "ROUTER_NAME", "redis_url", "ACTOR_CPUS", "RUNNER_STOP_S", "stop_runners"]

OMS_NAME, PORTFOLIO_NAME, RISK_NAME, ROUTER_NAME = "oms", "portfolio", "risk", "router"
#: CPU share of each trading actor: the whole pipeline (2 venues, 2 runners) stays under 0.5 CPU beside Serve
ACTOR_CPUS = 0.05


class TradingConfigError(InputError):
    """A trading setting (named in the message) is invalid."""


def exchange_name(venue: str) -> str:
    return f"exchange:{venue}"


def strategy_name(strategy: str, symbol: str, venue: str) -> str:
    return f"strategy:{strategy}:{symbol}@{venue}"


@dataclass(frozen=True)
class Sizing:
    """How a target (fraction of equity, the strategy's output) becomes an order amount.

    ``mode``: ``notional`` - a target of 1.0 means ``value`` quote currency of the base asset;
    ``equity`` - a target of 1.0 means ``value`` x the venue account's equity (quote currency).
    ``step``: the venue's lot size (base units; amounts are rounded down to it); ``min_qty``: the
    smallest order worth sending (base units).
    """

    mode: str = "notional"
    value: float = 1.0
    step: float = 1.0
    min_qty: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in ("notional", "equity"):
            raise TradingConfigError(f"sizing.mode {self.mode!r}: expected notional or equity")
        for name in ("value", "step", "min_qty"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise TradingConfigError(f"sizing.{name} must be a finite number > 0, got {v!r}")


@dataclass(frozen=True)
class StrategySpec:
    """One StrategyRunner: the registered strategy ``name`` with ``params`` on ``symbol`` at ``venue``;
    ``window``: bars kept for the strategy function (>= its ``min_bars``); ``bars_closed_on_publish``:
    the venue's kline stream carries closed bars only (the emulator), see :class:`ClosedBars`;
    ``target_sizing``: a sizing rule applied to the strategy's targets, in the words of ``raytrader backtest
    --sizing`` (``vol-target:0.2``, ``kelly:0.5``, ``fixed:0.5``; :mod:`backtest.sizing`), empty = none. The
    rule runs on the runner's window, so a rule with memory (the EWMA of ``vol-target``) starts from the
    window's first bar rather than the sample's: live and backtest agree once that memory has faded.
    ``execution``: ``direct`` (an OMS market order at ``venue``) or a parent order through the router
    (``route`` / ``twap`` / ``iceberg`` with ``exec_params``; :mod:`actors.strategy_execution`);
    ``route_venues``: the venues a ``route`` parent splits over (bars still come from ``venue``; the key
    names them all: ``strategy:<name>:<symbol>@<venue>+<venue>``)."""

    name: str
    symbol: str
    venue: str
    params: tuple[tuple[str, float | int | str | bool], ...] = ()
    window: int = 300
    bars_closed_on_publish: bool = False
    target_sizing: str = ""
    execution: str = "direct"
    exec_params: tuple[tuple[str, float], ...] = ()
    route_venues: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return strategy_name(self.name, self.symbol, "+".join(self.route_venues) if self.route_venues else self.venue)


@dataclass(frozen=True)
class TradingConfig:
    """Everything the trading actors share. ``stream``: the journal stream (one per session/account);
    ``namespace``: client-order-id prefix (1..11 of ``A-Z a-z 0-9 _``); ``venues``: venue names (each has
    an ExchangeActor named ``exchange:<venue>``); ``max_loss``: total loss (quote currency, per quote) that
    trips the kill switch, None = off; ``flatten_on_kill``: the kill switch also closes every position;
    ``reconcile_retry_s``: seconds between further reconciliations of a venue that failed them all at start
    (trading starts when every venue is reconciled); ``taker_bps``: ``(venue, taker fee in bps)`` pairs the
    router nets each venue's book prices with (a venue not named: the taker fee its ExchangeActor's market
    states, else 10 bps); ``book_max_age_s``: the oldest streamed book the router routes on (s; older, or no
    stream: the ExchangeActor fetches one over REST); ``max_reroutes``: how many times the router re-plans
    what a route parent's children left unfilled."""

    stream: str
    venues: tuple[str, ...]
    namespace: str = "paper"
    ray_namespace: str = "raytrader"
    limits: RiskLimits = field(default_factory=RiskLimits)
    sizing: Sizing = field(default_factory=Sizing)
    max_loss: float | None = None
    flatten_on_kill: bool = False
    poll_s: float = 0.25
    reconcile_retry_s: float = 15.0
    taker_bps: tuple[tuple[str, float], ...] = ()
    book_max_age_s: float = 2.0
    max_reroutes: int = 2

    def __post_init__(self) -> None:
        if not self.stream:
            raise TradingConfigError("trading.stream is empty")
        if not self.venues or len(set(self.venues)) != len(self.venues):
            raise TradingConfigError(f"trading.venues {self.venues!r}: expected distinct venue names")
        if self.max_loss is not None and not (self.max_loss > 0):
            raise TradingConfigError(f"trading.max_loss must be > 0 or None, got {self.max_loss!r}")
        if not (isinstance(self.reconcile_retry_s, (int, float)) and math.isfinite(self.reconcile_retry_s)
                and self.reconcile_retry_s > 0):
            raise TradingConfigError(f"trading.reconcile_retry_s must be a finite number > 0, "
                                     f"got {self.reconcile_retry_s!r}")
        for venue, bps in self.taker_bps:
            if isinstance(bps, bool) or not isinstance(bps, (int, float)) or not 0 <= bps < 1e4:
                raise TradingConfigError(f"trading.taker_bps {venue}: expected a fee in bps in [0, 10000), got {bps!r}")
        if isinstance(self.book_max_age_s, bool) or not isinstance(self.book_max_age_s, (int, float)) \
                or not 0 <= self.book_max_age_s < math.inf:
            raise TradingConfigError(f"trading.book_max_age_s must be a finite number >= 0, got {self.book_max_age_s!r}")
        if isinstance(self.max_reroutes, bool) or not isinstance(self.max_reroutes, int) or not 0 <= self.max_reroutes <= 100:
            raise TradingConfigError(f"trading.max_reroutes must be an integer in 0..100, got {self.max_reroutes!r}")


def size_order(target: float, position: float, price: float, sizing: Sizing,
               equity: float | None = None) -> tuple[str, float] | None:
    """``(side, amount)`` that moves ``position`` (base units, signed) to ``target`` (fraction; 1.0 = the
    full size), or None when the difference is below ``sizing.min_qty`` after rounding down to
    ``sizing.step``. ``price``: quote per base (> 0); ``equity``: quote currency, needed for ``equity`` mode.

    Like the backtest engine, it trades on target *changes* only: a position already on the target's side
    (long for a target > 0, short for < 0) is left as it is, however the price moved since it was opened."""
    if not (price > 0) or not math.isfinite(price):
        raise TradingConfigError(f"price must be a finite number > 0, got {price!r}")
    if not math.isfinite(target):
        raise TradingConfigError(f"target must be finite, got {target!r}")
    if target != 0 and position != 0 and (target > 0) == (position > 0):
        return None
    if sizing.mode == "equity":
        if equity is None or not math.isfinite(equity):
            raise TradingConfigError("sizing.mode equity needs the account's equity")
        budget = sizing.value * max(equity, 0.0)
    else:
        budget = sizing.value
    desired = target * budget / price
    delta = desired - position
    amount = math.floor(abs(delta) / sizing.step + 1e-9) * sizing.step
    amount = round(amount, 12)
    if amount < sizing.min_qty:
        return None
    return ("buy" if delta > 0 else "sell"), amount


def position_clash(holders: Sequence[tuple[Sequence[str], str]]) -> tuple[int, int, str] | None:
    """One owner per venue position: the first ``(earlier index, later index, venue)`` at which two of ``holders``
    (each a runner's ``(venues, symbol)``) trade one symbol on one venue, else None. A runner sizes on the whole
    position the venue's account holds in its symbol, so a second runner there would treat the first's trades as
    its own and undo them (the trade file and :func:`actors.deployment.start_trading_actors` refuse it)."""
    owner: dict[tuple[str, str], int] = {}
    for i, (venues, symbol) in enumerate(holders):
        for venue in dict.fromkeys(venues):
            first = owner.setdefault((venue, symbol), i)
            if first != i:
                return first, i, venue
    return None


def trading_state_of(entries: Iterable[JournalEntry], default: TradingState = TradingState.ACTIVE) -> TradingState:
    """The trading state the last ``TRADING_STATE`` entry set (``default`` when there is none)."""
    state = default
    for entry in entries:
        if entry.kind is EntryKind.TRADING_STATE:
            state = TradingState(entry.payload.to_state)
    return state


def target_intent_id(strategy_key: str, bar_ts_ms: int) -> str:
    """The intent id of the order a strategy's decision on the bar opened at ``bar_ts_ms`` produces:
    deterministic, so a runner or OMS restarted mid-decision re-derives the same client order id."""
    return f"{strategy_key}#{bar_ts_ms}"


class ClosedBars:
    """Turns a kline stream into closed bars. ``closed_on_publish`` False (Binance's own stream: the
    forming bar is published again and again, last version wins): a bar is closed when a bar with a
    later open time arrives. True (the emulator publishes closed bars only): each new bar is closed as it
    comes. Either way, bars at or before the last closed one are ignored (a replay after a reconnect)."""

    def __init__(self, closed_on_publish: bool = False) -> None:
        self.closed_on_publish = closed_on_publish
        self.forming: BarTick | None = None
        self.last_closed_ts: int | None = None

    def push(self, bar: BarTick) -> list[BarTick]:
        """Feed one bar event; returns the bars it closed (zero or one)."""
        if self.last_closed_ts is not None and bar.timestamp_ms <= self.last_closed_ts:
            return []
        if self.closed_on_publish:
            self.last_closed_ts = bar.timestamp_ms
            return [bar]
        if self.forming is None or bar.timestamp_ms == self.forming.timestamp_ms:
            self.forming = bar
            return []
        if bar.timestamp_ms < self.forming.timestamp_ms:
            return []
        closed, self.forming = self.forming, bar
        self.last_closed_ts = closed.timestamp_ms
        return [closed]


@dataclass(frozen=True)
class WindowBars:
    """A rolling window of closed bars as the 1-D float64 arrays a strategy function reads."""

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def window_bars(bars: Sequence[BarTick]) -> WindowBars:
    return WindowBars(*(np.asarray([getattr(b, f) for b in bars], dtype=np.float64)
                        for f in ("timestamp_ms", "open", "high", "low", "close", "volume")))


def redis_url() -> str:
    """The cluster's Redis URL as this process sees it (``REDIS_URL``/config, else the run folder's
    0600 state of ``raytrader up``); resolved inside the actor so the password never travels as an argument."""
    from raytrader.state import cluster_redis_url  # noqa: PLC0415 - the config is read only when Redis is needed

    return cluster_redis_url()


#: seconds strategy runners get to finish the order, parent or pair they are sending before they are killed
RUNNER_STOP_S = 60.0


def stop_runners(handles: Iterable[Any], timeout_s: float = RUNNER_STOP_S) -> None:
    """Ask each strategy runner to stop (it finishes and records the order, parent or pair it is sending, then sends
    nothing more) and wait up to ``timeout_s`` for all; call before killing them. A runner killed mid-call leaves its
    OMS or router call running on: an order or parent that lands after whoever stopped the runners looked.

    A runner restarting, stuck or dead is not waited for further: the caller kills it all the same."""
    import ray  # noqa: PLC0415 - this module stays importable without Ray (the CLI reads its names)

    refs = [handle.stop.remote() for handle in handles]
    if refs:
        try:
            ray.get(refs, timeout=timeout_s)
        except Exception:  # noqa: BLE001 - see the docstring: the runner is killed all the same
            pass
