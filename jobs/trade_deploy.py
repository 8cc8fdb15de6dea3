"""The long-lived trading deployment on the running cluster: start, stop, and the control actor's calls.

:func:`start_deployment` (Ray already initialised, attached to the cluster)
turns a :class:`jobs.trade_config.TradeDeployment` into the trading actors
through :func:`actors.deployment.start_trading_actors` - the same code a
paper session runs - in the Ray namespace
:data:`raytrader.deployment.TRADE_NAMESPACE`, plus the ``control`` actor
(:class:`actors.deployment.TradingControl`). Each venue is reached exactly as
a real exchange is: an ExchangeActor with a ccxt client, pointed at the
venue's ``url`` when it is an emulator already running (``raytrader exchange
serve``), else at the exchange's own endpoints; its API key is the named
key-store entry, decrypted inside the ExchangeActor. The actors are detached:
they keep trading after the command that started them exits, and rebuild
from the journal stream (``[deployment] journal``) when restarted.

One deployment runs per cluster; :func:`stop_deployment` stops it (journal
kept). Nothing here parses flags or prints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from jobs.trade_config import TradeDeployment, TradeConfigError, check_live
from raytrader.deployment import CONTROL_NAME, TRADE_NAMESPACE
from raytrader.errors import InputError

__all__ = ["start_deployment", "stop_deployment", "control", "NotRunningError", "AlreadyRunningError",
           "trading_config", "check_keys"]


class NotRunningError(InputError):
    """No trading deployment runs on this cluster."""


class AlreadyRunningError(InputError):
    """A trading deployment already runs on this cluster (one at a time)."""


def control(required: bool = True) -> Any:
    """The ``control`` actor's handle, or None (``required`` False) when no deployment runs.

    Raises:
        NotRunningError: none runs and ``required``.
    """
    import ray  # noqa: PLC0415 - late: keeps the CLI's --help fast

    try:
        return ray.get_actor(CONTROL_NAME, namespace=TRADE_NAMESPACE)
    except ValueError:
        if required:
            raise NotRunningError("no trading deployment is running: start one with `raytrader trade start FILE`") from None
        return None


def trading_config(dep: TradeDeployment) -> Any:
    """The :class:`actors.trading.TradingConfig` of ``dep`` in the deployment's Ray namespace."""
    from actors.trading import TradingConfig  # noqa: PLC0415 - late: keeps the CLI's --help fast

    return TradingConfig(stream=dep.journal, venues=tuple(v.name for v in dep.venues), namespace=dep.namespace,
                         ray_namespace=TRADE_NAMESPACE, limits=dep.limits, sizing=dep.sizing, max_loss=dep.max_loss,
                         flatten_on_kill=dep.flatten_on_kill, poll_s=dep.poll_s,
                         taker_bps=tuple((v.name, v.taker_bps) for v in dep.venues if v.taker_bps is not None),
                         book_max_age_s=dep.book_max_age_s, max_reroutes=dep.max_reroutes)


def check_keys(dep: TradeDeployment, keystore_home: Path) -> None:
    """Every venue's ``key`` names an entry of the key store in ``keystore_home`` (nothing is decrypted)."""
    from actors.keystore import KeyStore  # noqa: PLC0415 - late: keeps the CLI's --help fast

    known = {e.name for e in KeyStore(keystore_home).entries()}
    for i, venue in enumerate(dep.venues):
        if venue.key not in known:
            raise TradeConfigError(f"trade config {dep.source}: venues[{i}].key: no key named {venue.key!r} in "
                                   f"{keystore_home} (known: {', '.join(sorted(known)) or 'none'}); add it with "
                                   f"`raytrader keys add {venue.key} --exchange {venue.exchange} --stdin`")


def _kill(handles: Iterable[tuple[str, Any]]) -> list[str]:
    """Stop the strategy runners (each finishes and records the order, parent or arbitrage pair it is sending, then
    sends nothing more), stop the ExchangeActors' clients, then kill every actor (runners first); the names killed.

    A runner killed mid-call would leave its OMS or router call running on: an order placed at the venue while the
    OMS is being killed, found only by the next start's reconciliation."""
    import ray  # noqa: PLC0415 - late: keeps the CLI's --help fast

    from actors.trading import stop_runners  # noqa: PLC0415 - late: keeps the CLI's --help fast

    order = sorted(handles, key=lambda nh: (nh[0].startswith("exchange:"), not nh[0].startswith("strategy:")))
    stop_runners(handle for name, handle in order if name.startswith("strategy:"))
    for name, handle in order:
        if name.startswith("exchange:"):
            try:
                ray.get(handle.stop.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - a dead or stuck client: killing the actor closes its sockets
                pass
        ray.kill(handle, no_restart=True)
    return [name for name, _ in order]


def start_deployment(dep: TradeDeployment, *, keystore_home: Path, confirm_live: bool = False,
                     source: str = "") -> dict[str, Any]:
    """Start ``dep`` on the cluster this process is attached to; the control actor's first status.

    Raises:
        LiveNotConfirmedError: a real venue without ``confirm_live``.
        TradeConfigError: a venue's key is not in the key store.
        AlreadyRunningError: a deployment already runs.
        TradingStartError: an exchange did not connect or a venue did not reconcile (all started actors
            are stopped again).
    """
    import ray  # noqa: PLC0415 - late: keeps the CLI's --help fast

    from actors.deployment import TradingControl, start_trading_actors  # noqa: PLC0415 - late: keeps the CLI's --help fast
    from actors.exchange import ExchangeConfig  # noqa: PLC0415 - late: keeps the CLI's --help fast
    from actors.trading import StrategySpec  # noqa: PLC0415 - late: keeps the CLI's --help fast

    check_live(dep, confirm_live)
    check_keys(dep, keystore_home)
    if control(required=False) is not None:
        raise AlreadyRunningError("a trading deployment is already running on this cluster: see `raytrader trade "
                                  "status`, stop it with `raytrader trade stop`")
    config = trading_config(dep)
    # books stream only where the file asks (book_stream): the router has a venue fetch one over REST when it
    # routes a parent order on a book older than book_max_age_s (raytrader order --algo route)
    exchanges = [ExchangeConfig(venue=v.name, exchange_id=v.exchange, symbols=dep.symbols(v.name), base_url=v.url,
                                ws_url=v.ws_url, key_name=v.key, keystore_home=str(keystore_home),
                                namespace=dep.namespace,
                                streams=("trades", "book", "bars") if v.book_stream else ("trades", "bars"))
                 for v in dep.venues]
    live = {v.name: v.live for v in dep.venues}
    # an emulator's kline stream carries closed bars only; a real venue re-publishes the forming bar
    specs = [StrategySpec(s.name, s.symbol, s.venue, s.params, window=s.window, bars_closed_on_publish=not live[s.venue],
                          target_sizing=s.sizing, execution=s.execution, exec_params=s.execution_params,
                          route_venues=s.route_venues)
             for s in dep.strategies]
    info = {"file": source or dep.source, "started_ms": int(time.time() * 1000), "journal": dep.journal,
            "namespace": dep.namespace,
            "venues": [{"name": v.name, "exchange": v.exchange, "url": v.url, "live": v.live, "key": v.key,
                        "taker_bps": v.taker_bps, "book_stream": v.book_stream} for v in dep.venues],
            "strategies": [s.key for s in specs]}
    created: dict[str, Any] = {}
    try:
        # ExchangeActors restart too: one that Ray restarted after a crash starts itself again
        start_trading_actors(config, exchanges, specs, on_created=created.__setitem__, exchange_restarts=-1)
        handle = TradingControl.options(name=CONTROL_NAME, namespace=TRADE_NAMESPACE, lifetime="detached",
                                        max_restarts=-1).remote(config, info, tuple((e.venue, e.symbols) for e in exchanges))
        created[CONTROL_NAME] = handle
        return ray.get(handle.status.remote(), timeout=120)
    except BaseException:
        _kill(created.items())
        raise


def stop_deployment(names: Iterable[str] = ()) -> list[str]:
    """Stop the deployment: the control actor's strategies, ``oms``, ``portfolio``, ``risk``, its venues'
    ExchangeActors, and any other ``names`` alive in the namespace (a start that was interrupted); the
    journal stays in Redis. The names stopped (empty when nothing ran)."""
    import ray  # noqa: PLC0415 - late: keeps the CLI's --help fast

    from actors.trading import OMS_NAME, PORTFOLIO_NAME, RISK_NAME, exchange_name  # noqa: PLC0415 - late: keeps the CLI's --help fast

    wanted = set(names)
    handle = control(required=False)
    if handle is not None:
        wanted.add(CONTROL_NAME)
        try:
            status = ray.get(handle.status.remote(), timeout=60)
            wanted |= set(status["deployment"]["strategies"]) | {OMS_NAME, PORTFOLIO_NAME, RISK_NAME}
            wanted |= {exchange_name(v["name"]) for v in status["deployment"]["venues"]}
        except Exception:  # noqa: BLE001 - a broken control actor: the caller's names still go
            pass
    found = []
    for name in sorted(wanted):
        try:
            found.append((name, ray.get_actor(name, namespace=TRADE_NAMESPACE)))
        except ValueError:
            continue
    return _kill(found)
