"""Starting the trading actors, and ``TradingControl`` (named ``control``): the one door into a deployment.

:func:`start_trading_actors` is the one place that creates the trading
actors, for a paper session (:class:`jobs.paper_trade.PaperSession`) and for
the long-lived deployment (:mod:`jobs.trade_deploy`) alike: one
``exchange:<venue>`` :class:`~actors.exchange.ExchangeActor` per venue
(started: markets loaded, key decrypted inside it), then ``risk``, ``oms``,
``portfolio`` and ``router`` (:class:`~actors.router.RouterActor`: parent
orders, route/TWAP/iceberg); it waits until the OMS has rebuilt from the journal and
reconciled every venue (if one fails, trading does not start and
:class:`TradingStartError` says why), then starts one
``strategy:<name>:<symbol>@<venue>`` runner per strategy (a
:class:`~actors.strategy_runner.StrategyRunner` per
:class:`~actors.trading.StrategySpec`, an :class:`~actors.arb_runner.ArbRunner`
per :class:`~actors.arb_runner.ArbSpec`). All are named and detached in
``config.ray_namespace``, pinned where the caller's ``scheduling_strategy``
says (a paper session: its own node, where its emulators run); the trading
actors restart on a crash (``max_restarts=-1``), the ExchangeActors as the
caller says (``exchange_restarts``). The router is started unless the caller
says it is not needed (``router=False``: a paper session whose strategies all
execute ``direct``); a strategy that executes through it always gets it.

:class:`TradingControl` is what the CLI (``raytrader trade|portfolio|orders``)
and the Serve API (``/v1/portfolio``, ``/v1/orders``, ``/v1/risk``) call: one
RPC core over the ``oms``, ``portfolio``, ``risk`` and ``router`` actors, answering plain
JSON-able dicts, so that neither transport imports the actors' types. Hand-made
orders go through the same pre-trade check, journal and send as a strategy's
(:meth:`actors.oms.OmsActor.submit_intent`), priced for the check at the
venue's last public trade.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any, Callable, Sequence

import ray

from actors.arb_runner import ArbRunner, ArbSpec
from actors.exchange import ExchangeActor, ExchangeConfig
from actors.messages import MarketEvent, OrderIntent, ParentIntent, stream_name
from actors.oms import IN_FLIGHT, OmsActor
from actors.portfolio import PortfolioActor
from actors.risk_monitor import RiskMonitor
from actors.router import RouterActor
from actors.strategy_execution import Execution
from actors.strategy_runner import StrategyRunner
from actors.trading import (
    ACTOR_CPUS,
    OMS_NAME,
    PORTFOLIO_NAME,
    RISK_NAME,
    ROUTER_NAME,
    StrategySpec,
    TradingConfig,
    exchange_name,
    position_clash,
)
from raytrader.errors import InputError

__all__ = ["start_trading_actors", "TradingStartError", "PositionOwnerError", "TradingControl", "OPEN_STATES",
           "CALL_TIMEOUT_S"]

#: order states still waiting for the venue's last word (``raytrader orders --open``, ``GET /v1/orders?open=true``)
OPEN_STATES = tuple(s.value for s in IN_FLIGHT)
#: seconds the control actor waits for one call to another trading actor
CALL_TIMEOUT_S = 30.0


class TradingStartError(InputError):
    """Trading did not start: an exchange did not connect, or the OMS could not reconcile a venue (the reason)."""


def _named(cls: Any, name: str, namespace: str, restarts: int, scheduling_strategy: Any,
           on_created: Callable[[str, Any], None] | None, *args: Any) -> Any:
    options: dict[str, Any] = {"name": name, "namespace": namespace, "lifetime": "detached",
                               "max_restarts": restarts}
    if scheduling_strategy is not None:
        options["scheduling_strategy"] = scheduling_strategy
    handle = cls.options(**options).remote(*args)
    if on_created is not None:
        on_created(name, handle)
    return handle


class PositionOwnerError(TradingStartError):
    """Two strategies of one deployment would trade the same symbol on the same venue (names both)."""


def _check_specs(config: TradingConfig, specs: Sequence[StrategySpec | ArbSpec]) -> bool:
    """Every spec's venues are the deployment's and its execution is valid; True when one routes.

    **One owner per venue position**: a runner sizes on the whole position (and free balance) the venue's
    account holds in its symbol - a direct runner on its venue's, a routed one on the sum over its venues, an
    arbitrage runner on each venue's inventory - so two runners trading one symbol on one venue would each
    treat the other's trades as their own and undo them. :class:`PositionOwnerError` names both."""
    routed = False
    holders = []  # (venues, symbol) of each spec
    for spec in specs:
        venues = spec.venues if isinstance(spec, ArbSpec) else (spec.venue, *spec.route_venues)
        unknown = [v for v in venues if v not in config.venues]
        if unknown:
            raise TradingStartError(f"strategy {spec.key}: venues {unknown} are not in this deployment "
                                    f"({', '.join(config.venues)})")
        holders.append((venues, spec.symbol))
        if isinstance(spec, StrategySpec):
            routed |= Execution(spec.execution, spec.exec_params).routed  # ExecutionError names a bad param
    clash = position_clash(holders)
    if clash is not None:
        first, later, venue = clash
        raise PositionOwnerError(
            f"strategies {specs[first].key} and {specs[later].key} both trade {specs[later].symbol} on {venue}: a "
            "runner sizes on the venue's whole position, so each symbol on a venue has one owner (give one of them "
            "another venue or account, or route one strategy over both venues)")
    return routed


def start_trading_actors(config: TradingConfig, exchanges: Sequence[ExchangeConfig],
                         specs: Sequence[StrategySpec | ArbSpec], *,
                         scheduling_strategy: Any = None, on_created: Callable[[str, Any], None] | None = None,
                         on_exchanges_started: Callable[[list[Any]], None] | None = None,
                         exchange_restarts: int = 0, start_timeout_s: float = 120.0,
                         router: bool = True) -> dict[str, Any]:
    """Create and start the trading actors (module docstring); ``{name: handle}``.

    ``on_created(name, handle)`` is called as each actor is created (a caller registers its clean-up
    there: if this function raises, what was created is still running), ``on_exchanges_started(handles)``
    once the ExchangeActors are started. ``exchanges`` must cover ``config.venues`` exactly.
    ``router``: start the ``router`` (always, when a strategy executes through it).

    Raises:
        TradingStartError: the OMS did not reconcile a venue (its reason), so no runner was started; or a
            strategy names a venue the deployment does not have.
        ExecutionError: a strategy's execution parameters are invalid (before any actor is created).
    """
    if sorted(e.venue for e in exchanges) != sorted(config.venues):
        raise TradingStartError(f"exchanges {[e.venue for e in exchanges]} do not match venues {list(config.venues)}")
    router = _check_specs(config, specs) or router
    ns = config.ray_namespace
    handles: dict[str, Any] = {}

    def named(cls: Any, name: str, restarts: int, *args: Any) -> Any:
        handles[name] = _named(cls, name, ns, restarts, scheduling_strategy, on_created, *args)
        return handles[name]

    started = [named(ExchangeActor, exchange_name(cfg.venue), exchange_restarts, cfg) for cfg in exchanges]
    for attempt in range(3):  # load_markets may time out on a loaded machine; start() is idempotent
        try:
            ray.get([e.start.remote() for e in started], timeout=start_timeout_s)
            break
        except Exception as exc:  # noqa: BLE001 - a timeout or a refused connection: retried, then reported
            if attempt == 2:
                first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
                raise TradingStartError(f"trading did not start: an exchange did not connect "
                                        f"({type(exc).__name__}: {first[:300]})") from None
            time.sleep(1.0)
    if on_exchanges_started is not None:
        on_exchanges_started(started)
    symbols = tuple(dict.fromkeys(s for cfg in exchanges for s in cfg.symbols))
    named(RiskMonitor, RISK_NAME, -1, config)
    oms = named(OmsActor, OMS_NAME, -1, config)
    named(PortfolioActor, PORTFOLIO_NAME, -1, config, symbols)
    status = ray.get(oms.status.remote(), timeout=start_timeout_s)
    if not status["trading"]:
        raise TradingStartError(f"trading did not start: {status['reason']}")
    if router:
        named(RouterActor, ROUTER_NAME, -1, config)  # after the OMS trades: it resumes unfinished parents at once
    for spec in specs:
        named(ArbRunner if isinstance(spec, ArbSpec) else StrategyRunner, spec.key, -1, config, spec)
    return handles


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


@ray.remote(num_cpus=ACTOR_CPUS)
class TradingControl:
    """See the module docstring. ``info``: JSON-able facts about the deployment (file, venues, strategies,
    start time) returned by :meth:`status`; ``venue_symbols``: ``((venue, (symbol, ...)), ...)`` tradable."""

    def __init__(self, config: TradingConfig, info: dict[str, Any],
                 venue_symbols: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.config, self.info = config, dict(info)
        self.symbols = {v: tuple(s) for v, s in venue_symbols}
        self.strategy_keys = tuple(info.get("strategies", ()))

    def _actor(self, name: str) -> Any:
        return ray.get_actor(name, namespace=self.config.ray_namespace)

    async def _call(self, name: str, method: str, *args: Any) -> Any:
        return await asyncio.wait_for(getattr(self._actor(name), method).remote(*args), CALL_TIMEOUT_S)

    async def _try(self, name: str, method: str, *args: Any) -> tuple[Any, str | None]:
        try:
            return await self._call(name, method, *args), None
        except Exception as exc:  # noqa: BLE001 - reported in the answer: one actor down is a fact of status
            return None, f"{name}: {type(exc).__name__}"

    # ------------------------------------------------------------ reading
    async def status(self) -> dict[str, Any]:
        """The deployment's facts, the OMS (trading or not and why, orders by state, fills, decision time),
        the RiskMonitor's state, the router's parent orders by status, and each runner's counters; ``errors``
        names an actor that did not answer."""
        errors = []
        oms, err = await self._try(OMS_NAME, "status")
        errors += [err] if err else []
        risk, err = await self._try(RISK_NAME, "state")
        errors += [err] if err else []
        router, err = await self._try(ROUTER_NAME, "status")
        errors += [err] if err else []
        runners = {}
        for key in self.strategy_keys:
            st, err = await self._try(key, "status")
            if err:
                errors.append(err)
                continue
            runners[key] = {k: st[k] for k in ("decisions", "last_target", "holes", "errors", "window", "pid")}
            runners[key]["orders"] = sum(1 for s in st["sent"] if s.get("status") == "order")
            runners[key]["parents"] = sum(1 for s in st["sent"] if s.get("status") == "parent")
            runners[key]["execution"] = st.get("execution", "direct")
        if oms is not None:
            lat = list(oms.pop("decision_ms", []))
            oms["decision_ms"] = {"n": len(lat), "p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99)}
        return {"deployment": self.info, "ray_namespace": self.config.ray_namespace, "journal": self.config.stream,
                "oms": oms, "risk": risk, "router": router, "strategies": runners, "errors": errors,
                "control_pid": os.getpid()}

    async def portfolio(self) -> dict[str, Any]:
        """The PortfolioActor's snapshot: positions, PnL per quote currency and per venue, fees."""
        return await self._call(PORTFOLIO_NAME, "snapshot")

    async def orders(self, open_only: bool = False) -> list[dict[str, Any]]:
        """Every order the OMS knows (``open_only``: those still in flight, see :data:`OPEN_STATES`)."""
        orders = await self._call(OMS_NAME, "orders")
        return [o for o in orders if o["state"] in OPEN_STATES] if open_only else orders

    async def risk(self) -> dict[str, Any]:
        """The RiskMonitor's state (limits, trading state, and whatever else it publishes) and the OMS's
        trading flag and reason."""
        state = await self._call(RISK_NAME, "state")
        oms = await self._call(OMS_NAME, "status")
        return {**state, "trading": oms["trading"], "reason": oms["reason"]}

    # ------------------------------------------------------------ acting
    async def halt(self, reason: str = "manual") -> dict[str, Any]:
        """HALTED: new orders are refused (cancels pass). Journaled by the RiskMonitor first."""
        return {"trading_state": await self._call(RISK_NAME, "halt", reason), "reason": reason}

    async def resume(self, reason: str = "manual") -> dict[str, Any]:
        """ACTIVE again."""
        return {"trading_state": await self._call(RISK_NAME, "resume", reason), "reason": reason}

    async def _last_price(self, venue: str, symbol: str) -> float | None:
        """The venue's last public trade price for ``symbol`` (from its ExchangeActor's trades stream)."""
        ex = self._actor(exchange_name(venue))
        stream = stream_name("trades", symbol)
        info = await asyncio.wait_for(ex.info.remote(), CALL_TIMEOUT_S)
        last = int(info["streams"].get(stream, 0))
        if last <= 0:
            return None
        items = await asyncio.wait_for(ex.poll.remote(stream, max(0, last - 50), 0.0, 50), CALL_TIMEOUT_S)
        for item in reversed(items):
            if isinstance(item, MarketEvent) and item.trade is not None:
                return float(item.trade.price)
        return None

    async def submit_order(self, venue: str, symbol: str, side: str, type: str, amount: float,
                           price: float | None = None, client_id: str | None = None,
                           time_in_force: str = "GTC") -> dict[str, Any]:
        """A hand-made order through the OMS's pre-trade check, journal and send (``time_in_force``: GTC, IOC
        or FOK for a limit order, :class:`~actors.messages.OrderIntent`).

        Returns ``{"status": "invalid", "field", "message"}`` for a bad field, ``{"status": "refused",
        "reason"}`` when trading has not started, else the OMS's answer (``status`` ``order``; ``state``
        ``DENIED`` with the risk rule's reason, or the order's state; ``ignored`` when ``client_id`` was
        used before: the existing order is answered)."""
        if venue not in self.symbols:
            return {"status": "invalid", "field": "venue",
                    "message": f"venue {venue!r}: not in this deployment ({', '.join(sorted(self.symbols))})"}
        if symbol not in self.symbols[venue]:
            return {"status": "invalid", "field": "symbol",
                    "message": f"symbol {symbol!r}: not traded on {venue} ({', '.join(self.symbols[venue])})"}
        intent_id = f"api:{client_id or uuid.uuid4().hex[:16]}"
        try:
            intent = OrderIntent(venue, symbol, side, type, amount, intent_id, price,  # type: ignore[arg-type]
                                 time_in_force=time_in_force)  # type: ignore[arg-type]
        except InputError as exc:
            text = str(exc)
            fld = text.split(" ", 1)[0].removeprefix("OrderIntent.")
            fld = "client_id" if fld == "intent_id" else fld
            return {"status": "invalid", "field": fld if fld.isidentifier() else None, "message": text}
        last = await self._last_price(venue, symbol)
        return await self._call(OMS_NAME, "submit_intent", intent, last)

    async def submit_parent(self, parent_id: str | None, venues: Sequence[str], symbol: str, side: str,
                            qty: float, algo: str, limit: float | None = None,
                            params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A parent order (:class:`~actors.messages.ParentIntent`: ``algo`` route | twap | iceberg | direct,
        ``params`` its ``slices``, ``duration_s``, ``display``, ``participation``, ``step``) to the router.

        Returns ``{"status": "invalid", "field", "message"}`` for a bad field (named without the class
        prefix), else the router's answer (``accepted`` with the parent, and for a route the books, the plan
        and the best single venue's plan; ``duplicate`` when ``parent_id`` was used before)."""
        venues = tuple(venues)
        for venue in venues:
            if venue not in self.symbols:
                return {"status": "invalid", "field": "venues",
                        "message": f"venue {venue!r}: not in this deployment ({', '.join(sorted(self.symbols))})"}
            if symbol not in self.symbols[venue]:
                return {"status": "invalid", "field": "symbol",
                        "message": f"symbol {symbol!r}: not traded on {venue} ({', '.join(self.symbols[venue])})"}
        try:
            intent = ParentIntent(parent_id or f"p{uuid.uuid4().hex[:12]}", venues, symbol, side, qty,  # type: ignore[arg-type]
                                  algo, limit, **(params or {}))  # type: ignore[arg-type]
        except TypeError as exc:
            return {"status": "invalid", "field": None, "message": f"parent order: {exc}"}
        except InputError as exc:
            text = str(exc)
            fld = text.split(" ", 1)[0].removeprefix("ParentIntent.").rstrip(":")
            return {"status": "invalid", "field": fld if fld.isidentifier() else None, "message": text}
        return await self._call(ROUTER_NAME, "submit", intent)

    async def parents(self, working_only: bool = False) -> list[dict[str, Any]]:
        """Every parent order the router knows (``working_only``: those still working)."""
        return await self._call(ROUTER_NAME, "parents_json", working_only)

    async def parent(self, parent_id: str) -> dict[str, Any] | None:
        """One parent with its children, or None."""
        return await self._call(ROUTER_NAME, "parent", parent_id)

    async def cancel_parent(self, parent_id: str, reason: str = "user") -> dict[str, Any]:
        """Stop a working parent (its open children are cancelled)."""
        return await self._call(ROUTER_NAME, "cancel", parent_id, reason)

    async def ping(self) -> int:
        return os.getpid()
