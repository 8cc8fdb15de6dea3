"""What is running: nodes and CPUs, dashboard, Redis health, named actors, Serve apps, jobs.

Everything is read over the dashboard's HTTP API with the Ray token; no
driver is attached to the cluster, so ``status`` leaves no trace in the job
list. Secrets are redacted: the Redis URL is shown without its password.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from raytrader.config import Config
from cluster.lifecycle import _redis_ping, live_state
from cluster.rayenv import ray_token_headers
from raytrader.state import redact_url

__all__ = ["cluster_status", "dashboard_get"]

#: the named actor (and its namespace) of a running Serve instance (ray 2.60: ``ray.serve._private.constants``
#: ``SERVE_CONTROLLER_NAME`` / ``SERVE_NAMESPACE``; importing that module would import ray)
SERVE_CONTROLLER = ("SERVE_CONTROLLER_ACTOR", "serve")


def dashboard_get(dashboard_url: str, path: str, timeout: float = 5.0) -> Any:
    """GET a dashboard JSON endpoint with the Ray token; raises OSError on failure."""
    req = urllib.request.Request(dashboard_url + path, headers=ray_token_headers())
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def _safe(fn, default):
    try:
        return fn(), None
    except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
        return default, f"{type(exc).__name__}: {exc}"


def cluster_status(config: Config) -> dict[str, Any]:
    """A JSON-able snapshot; ``running`` is true only when both Ray (a live node) and Redis (PING) answer."""
    state, ray_ok, redis_ok = live_state(config)
    out: dict[str, Any] = {"home": str(config.cluster.home), "running": False, "errors": []}
    ray: dict[str, Any] = {"running": ray_ok}
    if state and state.ray:
        ray.update(address=state.ray.gcs_address, dashboard_url=state.ray.dashboard_url, pid=state.ray.process.pid,
                   log=state.ray.log_path)
    nodes: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    serve_apps: list[dict[str, Any]] = []
    if ray_ok and state and state.ray:
        url = state.ray.dashboard_url
        raw_nodes, err = _safe(lambda: dashboard_get(url, "/api/v0/nodes?limit=1000&detail=1")["data"]["result"]["result"], [])
        if err:
            out["errors"].append(f"nodes: {err}")
        for n in raw_nodes:
            nodes.append({"node_id": n.get("node_id"), "ip": n.get("node_ip"), "alive": n.get("state") == "ALIVE",
                          "head": bool(n.get("is_head_node")), "cpus": float((n.get("resources_total") or {}).get("CPU", 0))})
        # every named actor not DEAD (a restarting trading actor shows as RESTARTING), with its state and PID
        raw_actors, err = _safe(lambda: dashboard_get(
            url, "/api/v0/actors?limit=1000&filter_keys=state&filter_predicates=!%3D&filter_values=DEAD")["data"]["result"]["result"], [])
        if err:
            out["errors"].append(f"actors: {err}")
        actors = [{"name": a.get("name"), "namespace": a.get("ray_namespace"), "class": a.get("class_name"),
                   "state": a.get("state"), "pid": a.get("pid")} for a in raw_actors if a.get("name")]
        raw_jobs, err = _safe(lambda: dashboard_get(url, "/api/jobs/"), [])
        if err:
            out["errors"].append(f"jobs: {err}")
        jobs = sorted(({"submission_id": j.get("submission_id"), "status": j.get("status"),
                        "entrypoint": j.get("entrypoint"), "start_time": j.get("start_time"),
                        "end_time": j.get("end_time")} for j in raw_jobs if j.get("submission_id")),
                      key=lambda j: j["start_time"] or 0)
        # Serve's applications only where a Serve controller lives: the dashboard answers that route by first
        # connecting to Ray as a driver, 5-16 s on a fresh head (measured under load), even when no Serve runs
        serving = any((a["name"], a["namespace"]) == SERVE_CONTROLLER for a in actors)
        serve, err = _safe(lambda: dashboard_get(url, "/api/serve/applications/"), {}) if serving else ({}, "")
        if not err:
            serve_apps = [{"name": name, "status": app.get("status"), "route_prefix": app.get("route_prefix")}
                          for name, app in (serve.get("applications") or {}).items()]
    # The head's leader process can outlive its GCS for a while: Ray counts as up only when the
    # dashboard (which asks the GCS) lists a live node.
    ray_ok = bool(ray_ok and any(n["alive"] for n in nodes))
    ray.update(running=ray_ok, nodes=nodes, cpus=sum(n["cpus"] for n in nodes if n["alive"]))
    redis: dict[str, Any] = {"ok": False}
    if state and state.redis:
        url = state.redis.url()
        healthy = redis_ok and _redis_ping(url, timeout_s=2)
        redis = {"ok": healthy, "managed": state.redis.managed, "url": redact_url(url),
                 "pid": state.redis.process.pid if state.redis.process else None}
    out.update(ray=ray, redis=redis, actors=actors, serve_apps=serve_apps, jobs=jobs,
               running=bool(ray_ok and redis.get("ok")))
    return out
