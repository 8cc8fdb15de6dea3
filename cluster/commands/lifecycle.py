"""``raytrader up | down | status``."""

from __future__ import annotations

import argparse

from raytrader.cli import Output, add_command
from raytrader.config import Config
from cluster.lifecycle import down, up
from raytrader.state import redact_url
from cluster.status import cluster_status

__all__ = ["register"]


def _up(args: argparse.Namespace, config: Config) -> Output:
    result = up(config)
    st = result.state
    if st.ray is None or st.redis is None:  # pragma: no cover - up() returns both or raises
        raise RuntimeError("up() returned an incomplete state")
    data = {
        "started": list(result.started),
        "already_running": not result.started,
        "dashboard_url": st.ray.dashboard_url,
        "ray_address": st.ray.gcs_address,
        "num_cpus": st.ray.num_cpus,
        "redis_url": redact_url(st.redis.url()),
        "home": str(config.cluster.home),
        "prometheus_url": result.prometheus_url,
        "prometheus_started": result.prometheus_started,
    }
    parts = list(result.started) + (["prometheus"] if result.prometheus_started else [])
    verb = "already running" if not parts else "started " + " and ".join(parts)
    text = (f"raytrader cluster {verb}\n"
            f"  Ray address   {st.ray.gcs_address}  ({st.ray.num_cpus} CPUs)\n"
            f"  dashboard     {st.ray.dashboard_url}\n"
            f"  redis         {data['redis_url']}\n"
            + (f"  prometheus    {result.prometheus_url}\n" if result.prometheus_url else "")
            + (f"  warning       {result.prometheus_note}\n" if result.prometheus_note else "")
            + f"  run folder    {config.cluster.home}\n"
            f"stop it with: raytrader down")
    return Output(data=data, text=text)


def _down(args: argparse.Namespace, config: Config) -> Output:
    result = down(config)
    data = {"stopped": list(result.stopped), "pids": list(result.pids), "prometheus_stopped": result.prometheus_stopped}
    parts = list(result.stopped) + (["prometheus"] if result.prometheus_stopped else [])
    text = ("nothing to stop: no raytrader cluster is recorded in " + str(config.cluster.home)
            if not parts else
            f"stopped {' and '.join(parts)} ({len(result.pids)} processes)")
    return Output(data=data, text=text)


def _status(args: argparse.Namespace, config: Config) -> Output:
    st = cluster_status(config)
    ray = st["ray"]
    lines = [f"cluster   {'running' if st['running'] else 'not running'}  (run folder {st['home']})"]
    if ray.get("dashboard_url"):
        lines.append(f"ray       {'up' if ray['running'] else 'DOWN'}  address {ray.get('address')}  "
                     f"dashboard {ray['dashboard_url']}")
    for n in ray["nodes"]:
        lines.append(f"  node {n['node_id'][:12]}  {n['ip']}  {'head' if n['head'] else 'worker'}  "
                     f"{n['cpus']:g} CPUs  {'alive' if n['alive'] else 'dead'}")
    red = st["redis"]
    lines.append(f"redis     {'ok' if red.get('ok') else 'NOT OK'}  {red.get('url', '')}")
    lines.append(f"actors    {len(st['actors'])} named" + "".join(
        f"\n  {a['namespace']}/{a['name']} ({a['class']})" for a in st["actors"]))
    lines.append(f"serve     {len(st['serve_apps'])} apps" + "".join(
        f"\n  {a['name']} {a['status']} {a['route_prefix']}" for a in st["serve_apps"]))
    lines.append(f"jobs      {len(st['jobs'])}" + "".join(
        f"\n  {j['submission_id']}  {j['status']}  {j['entrypoint']}" for j in st["jobs"][-10:]))
    for err in st["errors"]:
        lines.append(f"warning   {err}")
    return Output(data=st, text="\n".join(lines), exit_code=0 if st["running"] else 1)


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "up", _up, "start the local cluster: Ray head + dashboard on 127.0.0.1, private Redis",
                "Start the local cluster (idempotent: what already runs is left alone).")
    add_command(sub, "down", _down, "stop exactly what `raytrader up` started")
    add_command(sub, "status", _status, "nodes, CPUs, dashboard, Redis health, actors, Serve apps, jobs")
