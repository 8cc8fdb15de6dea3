"""``raytrader trade start FILE | stop | status | halt | resume``: the long-lived trading deployment.

``start`` reads the deployment's TOML file (:mod:`jobs.trade_config`; a bad
field exits 2 naming it, before the cluster is asked), refuses a real
exchange without ``--confirm-live`` (exit 2), then starts the trading actors
on the running cluster (:mod:`jobs.trade_deploy`) and returns once the OMS
has reconciled every venue; the actors keep trading after it exits.
``status`` lists each actor of the deployment with its Ray state and PID
(read from the dashboard) and what the control actor reports; it exits 1
when no deployment runs. ``halt``/``resume`` set the RiskMonitor's trading
state (journaled). ``stop`` stops every actor of the deployment; the journal
stays in Redis (``raytrader audit verify --stream <journal>``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from raytrader.deployment import TRADE_NAMESPACE

__all__ = ["register", "deployment_actors", "format_status"]


def deployment_actors(config: Config) -> list[dict[str, Any]]:
    """Every named actor of the deployment's namespace that is not DEAD: name, class, Ray state, PID."""
    from cluster.lifecycle import live_state  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from cluster.status import dashboard_get  # noqa: PLC0415 - late: keeps the CLI and --help fast

    state, ray_ok, _ = live_state(config)
    if not (state and state.ray and ray_ok):
        return []
    raw = dashboard_get(state.ray.dashboard_url, "/api/v0/actors?limit=10000&detail=1&filter_keys=state"
                                                 "&filter_predicates=!%3D&filter_values=DEAD", timeout=30.0)
    rows = [{"name": a.get("name"), "class": a.get("class_name"), "state": a.get("state"), "pid": a.get("pid")}
            for a in raw["data"]["result"]["result"] if a.get("name") and a.get("ray_namespace") == TRADE_NAMESPACE]
    return sorted(rows, key=lambda r: r["name"])


def _driver(config: Config) -> Any:
    from cluster.driver import ray_driver  # noqa: PLC0415 - late: keeps the CLI and --help fast

    return ray_driver(config)


def _start(args: argparse.Namespace, config: Config) -> Output:
    from jobs.trade_config import check_live, load_trade_config  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from jobs.trade_deploy import check_keys, start_deployment  # noqa: PLC0415 - late: keeps the CLI and --help fast

    dep = load_trade_config(args.file)
    check_live(dep, args.confirm_live)
    check_keys(dep, config.cluster.home)
    with _driver(config):
        status = start_deployment(dep, keystore_home=config.cluster.home, confirm_live=args.confirm_live,
                                  source=str(Path(args.file).resolve()))
    status["actors"] = deployment_actors(config)
    return Output(data=status, text="trading deployment started\n" + format_status(status))


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.8g}"


def format_status(st: dict[str, Any]) -> str:
    """The ``trade status`` text of a control actor's status plus ``actors``."""
    d, oms, risk = st["deployment"], st.get("oms"), st.get("risk")
    lines = [f"file       {d['file']}  (journal {st['journal']}, Ray namespace {st['ray_namespace']})"]
    for v in d["venues"]:
        where = "LIVE exchange" if v["live"] else f"emulator {v['url']}"
        lines.append(f"venue      {v['name']}: {v['exchange']} {where}, key {v['key']}")
    if oms:
        states = ", ".join(f"{s} {n}" for s, n in sorted(oms["orders_by_state"].items())) or "none"
        lines.append(f"trading    {'yes' if oms['trading'] else 'NO: ' + oms['reason']}; state "
                     f"{risk['trading_state'] if risk else oms['trading_state']}; orders: {states}; fills {oms['fills']}")
        for r in oms["reconciliations"]:
            lines.append(f"reconciled {r['venue']}: {'ok' if r['ok'] else 'FAILED'}, {r['open_orders']} open, "
                         f"{r['adopted']} adopted, {r['resent']} re-sent")
    router = st.get("router")
    if router is not None:
        parents = ", ".join(f"{k} {n}" for k, n in sorted(router["parents"].items())) or "none"
        lines.append(f"router     parent orders: {parents} (raytrader orders --parents)")
    for key, s in st["strategies"].items():
        how = "" if s.get("execution", "direct") == "direct" else f", {s.get('parents', 0)} parents ({s['execution']})"
        lines.append(f"strategy   {key}: {s['decisions']} decisions, {s['orders']} orders{how}, target {s['last_target']}")
    lines.append("actors")
    for a in st.get("actors", []):
        lines.append(f"  {a['name']:34s} {a['class']:18s} {a['state']:12s} pid {a['pid']}")
    for err in st.get("errors", []):
        lines.append(f"warning    {err} did not answer")
    return "\n".join(lines)


def _status(args: argparse.Namespace, config: Config) -> Output:
    import ray  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from jobs.trade_deploy import control  # noqa: PLC0415 - late: keeps the CLI and --help fast

    with _driver(config):
        handle = control(required=False)
        status = ray.get(handle.status.remote(), timeout=120) if handle is not None else None
    actors = deployment_actors(config)
    if status is None:
        data = {"running": False, "actors": actors}
        return Output(data=data, text="no trading deployment is running (start one with `raytrader trade start FILE`)"
                      + "".join(f"\nleft over: {a['name']} {a['state']} pid {a['pid']}" for a in actors), exit_code=1)
    status.update(running=True, actors=actors)
    return Output(data=status, text=format_status(status))


def _state_change(method: str) -> Any:
    def run(args: argparse.Namespace, config: Config) -> Output:
        import ray  # noqa: PLC0415 - late: keeps the CLI and --help fast

        from jobs.trade_deploy import control  # noqa: PLC0415 - late: keeps the CLI and --help fast

        with _driver(config):
            answer = ray.get(getattr(control(), method).remote(args.reason), timeout=120)
        return Output(data=answer, text=f"trading state {answer['trading_state']} (reason: {answer['reason']})")
    return run


def _stop(args: argparse.Namespace, config: Config) -> Output:
    from jobs.trade_deploy import stop_deployment  # noqa: PLC0415 - late: keeps the CLI and --help fast

    left = [a["name"] for a in deployment_actors(config)]
    with _driver(config):
        stopped = stop_deployment(left)
    text = (f"stopped the trading deployment: {len(stopped)} actors ({', '.join(stopped)}); the journal stays in Redis"
            if stopped else "no trading deployment was running")
    return Output(data={"stopped": stopped}, text=text)


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "trade", "a long-lived trading deployment on the cluster, from a TOML file")
    p = add_command(group, "start", _start, "start the trading actors of FILE on the running cluster")
    p.add_argument("file", metavar="FILE", help="the deployment's TOML file (venues, strategies, sizing, risk)")
    p.add_argument("--confirm-live", action="store_true",
                   help="allow venues without a url: the real exchange, with real money")
    add_command(group, "stop", _stop, "stop every actor of the deployment (the journal stays)")
    add_command(group, "status", _status, "the deployment's actors (state, PID), orders, risk state; exit 1 if none")
    p = add_command(group, "halt", _state_change("halt"), "HALTED: refuse new orders (cancels pass)")
    p.add_argument("--reason", default="manual", help="journaled with the state change (default manual)")
    p = add_command(group, "resume", _state_change("resume"), "ACTIVE again")
    p.add_argument("--reason", default="manual", help="journaled with the state change (default manual)")
