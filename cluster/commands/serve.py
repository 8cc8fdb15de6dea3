"""``raytrader serve up | down | status``: the API (``api.app:app``) on the running raytrader cluster.

Deployment goes through the dashboard's Serve REST API (what ``serve
deploy`` uses) with the Ray token, from ``cluster/serve.yaml`` with the
``[serve]`` config applied: HTTP host and proxy port, replica CPUs, and
the allowlist and body limit as the application's environment (non-secret;
replicas read the Redis password themselves). No driver attaches to the
cluster, so these commands leave no job behind.

* ``up`` deploys (or updates) the application, waits until it is RUNNING
  and ``serve.port`` answers ``GET /v1/ready`` with *this* deployment's id
  (a random, non-secret id kept in the application's runtime environment,
  so another cluster's API on the port is never taken for ours), and
  prints the base URL. ``--demo-token``
  also (re)creates a ``demo`` token (scopes read, signal), writes it to
  ``<run folder>/demo.token`` (0600, never printed) and prints a ``curl``
  line that uses it (``make run`` does this).
* ``down`` removes the application; when no other Serve application is
  left, Serve itself is shut down (proxy and controller).
* ``status`` prints the application, its deployments and replica states,
  and whether ``serve.port`` answers as this deployment; it exits 1
  unless the application is RUNNING *and* the port answers for it.

``serve.port`` is fixed when the cluster starts (Serve's replica port range
and proxy port are read by Serve's controller): ``up`` and ``status`` refuse
a ``serve.port`` changed since ``raytrader up`` (exit 2) instead of moving
only part of the API.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
import urllib.error
import urllib.request
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from raytrader.cli import Output, add_command, add_group
from raytrader.config import Config
from raytrader.errors import InputError
from cluster.lifecycle import ClusterError, live_state
from cluster.rayenv import ray_token_headers

__all__ = ["register", "serve_deploy_config", "proxy_port", "demo_token", "probe_ready", "APP_NAME", "SERVE_YAML",
           "EXAMPLE_BODY", "LISTEN_ENV", "DEPLOYMENT_ID_ENV", "ServePortChanged"]

#: names of the application's runtime-environment variables read by api.app (repeated here: cluster
#: must not import the Serve app module, which starts numba and Ray Serve)
LISTEN_ENV = "RAYTRADER_API_LISTEN"
DEPLOYMENT_ID_ENV = "RAYTRADER_API_DEPLOYMENT_ID"
READY_PATH = "/v1/ready"


class ServePortChanged(InputError):
    """``serve.port`` differs from the one the running cluster was started with."""

SERVE_YAML = Path(__file__).resolve().parents[1] / "serve.yaml"
APP_NAME = "raytrader-api"
#: a real request body for ``POST /v1/signals/sma_cross`` (60 bundled ETH/BTC 5m bars)
EXAMPLE_BODY = Path(__file__).resolve().parents[2] / "api" / "examples" / "sma_cross.json"
DEMO_TOKEN_NAME = "demo"
_API = "/api/serve/applications/"
#: seconds one call to the dashboard's Serve REST API may take: on a loaded machine (load 35 on 2 cores, seen in a
#: test run) one took over 30 s (why it was that slow was not measured)
SERVE_API_TIMEOUT_S = 120.0
#: seconds between polls while `serve up` waits for the app to serve and `serve down` for it to be gone (each poll
#: is one or two loopback requests; 1 s polls made each command wait ~0.5 s more than the deployment took)
POLL_S = 0.2


def serve_deploy_config(config: Config, deployment_id: str = "") -> dict[str, Any]:
    """``cluster/serve.yaml`` with the ``[serve]`` config applied (a Serve REST/``serve deploy`` document).

    ``deployment_id`` (non-secret) and the stable port go to the replicas as
    runtime-environment variables (see :mod:`api.app`).
    """
    raw = yaml.safe_load(SERVE_YAML.read_text())
    doc = deepcopy(raw)
    doc.setdefault("http_options", {}).update(host=config.serve.host, port=proxy_port(config))
    app = next(a for a in doc["applications"] if a["name"] == APP_NAME)
    dep = app["deployments"][0]
    dep.setdefault("ray_actor_options", {})["num_cpus"] = config.serve.replica_cpus
    app.setdefault("runtime_env", {}).setdefault("env_vars", {}).update({
        "RAYTRADER_SERVE__ALLOWLIST": config.serve.allowlist,
        "RAYTRADER_SERVE__MAX_BODY_BYTES": str(config.serve.max_body_bytes),
        LISTEN_ENV: f"{config.serve.host}:{config.serve.port}",
        DEPLOYMENT_ID_ENV: deployment_id,
    })
    return doc


def _deployed_id(apps: dict[str, Any]) -> str:
    """The deployment id of our application as this cluster's Serve holds it ("" when not deployed by `serve up`)."""
    app_config = (apps.get(APP_NAME) or {}).get("deployed_app_config") or {}
    return str(((app_config.get("runtime_env") or {}).get("env_vars") or {}).get(DEPLOYMENT_ID_ENV, ""))


def _check_port_unchanged(config: Config) -> None:
    state, _, _ = live_state(config)
    started = state.ray.serve_port if (state and state.ray) else 0
    if started and started != config.serve.port:
        raise ServePortChanged(
            f"config field 'serve.port' is {config.serve.port} but the running cluster was started with "
            f"{started} (Serve's replica ports and proxy are fixed at `raytrader up`); set it back to {started}, "
            f"or restart the cluster: raytrader down && raytrader up")


def probe_ready(base_url: str, timeout_s: float = 3.0) -> dict[str, Any]:
    """``GET /v1/ready`` on ``base_url``: ``{"answers": bool, "status", "deployment_id", "error"}`` (never raises).

    ``answers`` is true when a raytrader API answered (200 ok or 503 degraded);
    the caller compares ``deployment_id`` with its own.
    """
    try:
        with urllib.request.urlopen(base_url + READY_PATH, timeout=timeout_s) as resp:
            code, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        code, text = exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return {"answers": False, "status": None, "deployment_id": None, "error": f"{type(exc).__name__}: {exc}"}
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "deployment_id" not in body:
        return {"answers": False, "status": None, "deployment_id": None,
                "error": f"HTTP {code} without a raytrader readiness answer"}
    return {"answers": True, "status": body.get("status"), "deployment_id": body.get("deployment_id"), "error": None}


def _dashboard(config: Config) -> str:
    state, ray_ok, _ = live_state(config)
    if state is None or state.ray is None or not ray_ok:
        raise ClusterError(f"no raytrader cluster running in {config.cluster.home}: run `raytrader up` first")
    return state.ray.dashboard_url


def _request(url: str, method: str = "GET", body: Any = None, timeout: float = SERVE_API_TIMEOUT_S) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {**ray_token_headers(), **({"Content-Type": "application/json"} if data is not None else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip().splitlines()
        raise ClusterError(f"Serve REST API {method} {_API}: HTTP {exc.code}: {(detail or [''])[-1][:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ClusterError(f"Serve REST API at {url} does not answer: {exc}") from None
    return json.loads(text) if text.strip() else {}


def _applications(dashboard: str) -> dict[str, Any]:
    return _request(dashboard + _API).get("applications") or {}


def _other_declared_apps(apps: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["deployed_app_config"] for name, a in apps.items()
            if name != APP_NAME and a.get("deployed_app_config")]


def _summary(app: dict[str, Any] | None) -> dict[str, Any]:
    if not app:
        return {"status": "NOT_DEPLOYED", "deployments": {}}
    deployments = {}
    for name, dep in (app.get("deployments") or {}).items():
        replicas = dep.get("replicas") or []
        deployments[name] = {"status": dep.get("status"), "message": dep.get("message") or "",
                             "replicas": [{"replica_id": r.get("replica_id"), "state": r.get("state"),
                                           "pid": r.get("pid"), "node_ip": r.get("node_ip")} for r in replicas]}
    return {"status": app.get("status"), "message": app.get("message") or "", "route_prefix": app.get("route_prefix"),
            "deployments": deployments}


def proxy_port(config: Config) -> int:
    """Serve's HTTP proxy port: ``serve.port + 10`` (``serve.port .. +9`` belong to direct ingress)."""
    return config.serve.port + 10


def _url(config: Config, port: int) -> str:
    host = config.serve.host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _port_check(config: Config, deployment_id: str) -> dict[str, Any]:
    """Does ``serve.port`` answer as this deployment? ``{"url", "answers", "ours", "status", "detail"}``."""
    url = _url(config, config.serve.port)
    ready = probe_ready(url)
    ours = bool(ready["answers"] and deployment_id and ready["deployment_id"] == deployment_id)
    if not ready["answers"]:
        detail = f"nothing answers on {url} ({ready['error']})"
    elif not ours:
        detail = (f"{url} is answered by another deployment (id {ready['deployment_id'] or 'none'}, "
                  f"ours {deployment_id or 'unknown'}): another cluster's API?")
    else:
        detail = f"answers as this deployment ({ready['status']})"
    return {"url": url, "answers": bool(ready["answers"]), "ours": ours, "status": ready["status"], "detail": detail}


def demo_token(config: Config) -> Path:
    """Replace the ``demo`` token (scopes read, signal) and write it to ``<run folder>/demo.token`` (0600)."""
    import os  # noqa: PLC0415 - late: keeps the CLI and --help fast

    from api.auth import TokenError, create_token, revoke_token  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from cluster.commands.tokens import redis_client  # noqa: PLC0415 - late: keeps the CLI and --help fast

    client = redis_client(config)
    try:
        revoke_token(client, DEMO_TOKEN_NAME)
    except TokenError:
        pass  # first run: nothing to replace
    token = create_token(client, DEMO_TOKEN_NAME, ("read", "signal"), rate_per_s=config.serve.default_rate_per_s,
                         burst=config.serve.default_burst)
    path = Path(config.cluster.home).expanduser() / "demo.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    path.chmod(0o600)
    return path


def _up(args: argparse.Namespace, config: Config) -> Output:
    dashboard = _dashboard(config)
    _check_port_unchanged(config)
    apps = _applications(dashboard)
    deployment_id = _deployed_id(apps) or secrets.token_hex(8)  # kept across `serve up`: no needless redeploy
    doc = serve_deploy_config(config, deployment_id)
    ours = next(a for a in doc["applications"] if a["name"] == APP_NAME)
    from cluster.jobs import upload_runtime_env  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from strategies.user import shipping_runtime_env  # noqa: PLC0415 - late: keeps the CLI and --help fast

    # the user's own strategy files go to the replicas (uploaded: the REST API takes no local paths)
    ours["runtime_env"] = upload_runtime_env(dashboard, shipping_runtime_env(ours.get("runtime_env"))) or {}
    doc["applications"] = _other_declared_apps(apps) + [ours]
    _request(dashboard + _API, "PUT", doc)
    deadline = time.monotonic() + config.serve.start_timeout_s
    summary: dict[str, Any] = {}
    port: dict[str, Any] = {}
    while True:
        summary = _summary(_applications(dashboard).get(APP_NAME))
        if summary["status"] == "DEPLOY_FAILED":
            raise ClusterError(f"Serve could not deploy {APP_NAME}: {summary['message'][-800:]}")
        port = _port_check(config, deployment_id)
        if summary["status"] == "RUNNING" and port["ours"] and port["status"] == "ok":
            break
        if time.monotonic() > deadline:
            raise ClusterError(f"{APP_NAME} not serving after {config.serve.start_timeout_s:g} s "
                               f"(status {summary['status']}; port {config.serve.port}: {port.get('detail')}); "
                               f"see `raytrader serve status`")
        time.sleep(POLL_S)
    base = port["url"]
    replicas = sum(len(d["replicas"]) for d in summary["deployments"].values())
    data = {"url": base, "app": APP_NAME, "status": summary["status"], "replicas": replicas,
            "deployment_id": deployment_id, "proxy_url": _url(config, proxy_port(config)),
            "docs": base + "/docs", "openapi": base + "/openapi.json"}
    text = (f"{APP_NAME} RUNNING ({replicas} replica{'s' if replicas != 1 else ''})\n"
            f"  url      {base}\n  docs     {base}/docs\n")
    if args.demo_token:
        path = demo_token(config)
        curl = (f"curl -s -H \"Authorization: Bearer $(cat {path})\" -H 'Content-Type: application/json' "
                f"-d @{EXAMPLE_BODY} {base}/v1/signals/sma_cross")
        data.update(demo_token_file=str(path), example_curl=curl)
        text += (f"demo token (scopes read,signal) in {path} (0600)\n"
                 f"try:\n  {curl}")
    else:
        text += "create a token with: raytrader tokens add NAME --scopes signal,read"
    return Output(data=data, text=text)


def _down(args: argparse.Namespace, config: Config) -> Output:
    dashboard = _dashboard(config)
    apps = _applications(dashboard)
    if APP_NAME not in apps:
        return Output(data={"removed": False, "serve_shut_down": False}, text=f"{APP_NAME} is not deployed")
    others = _other_declared_apps(apps)
    imperative = [n for n, a in apps.items() if n != APP_NAME and not a.get("deployed_app_config")]
    if others or imperative:
        if imperative:
            raise ClusterError(f"other Serve applications were deployed from Python ({', '.join(imperative)}); "
                               f"remove {APP_NAME} with `serve.delete('{APP_NAME}')` instead")
        current = _request(dashboard + _API)
        doc = {"applications": others, "http_options": current.get("http_options") or {}}
        doc["http_options"] = {k: v for k, v in doc["http_options"].items() if k in ("host", "port")}
        _request(dashboard + _API, "PUT", doc)
        shut = False
    else:
        _request(dashboard + _API, "DELETE")
        shut = True
    deadline = time.monotonic() + 60
    while APP_NAME in _applications(dashboard) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    text = f"removed {APP_NAME}" + ("; Serve shut down" if shut else "")
    return Output(data={"removed": True, "serve_shut_down": shut}, text=text)


def _status(args: argparse.Namespace, config: Config) -> Output:
    dashboard = _dashboard(config)
    _check_port_unchanged(config)
    apps = _applications(dashboard)
    summary = _summary(apps.get(APP_NAME))
    deployment_id = _deployed_id(apps)
    port = _port_check(config, deployment_id) if summary["status"] != "NOT_DEPLOYED" else {
        "url": _url(config, config.serve.port), "answers": False, "ours": False, "status": None,
        "detail": "not deployed"}
    serving = summary["status"] == "RUNNING" and port["ours"] and port["status"] == "ok"
    data = {"app": APP_NAME, "url": port["url"], "serving": serving, "deployment_id": deployment_id, "port": port,
            **summary}
    lines = [f"{APP_NAME}  {summary['status']}  {port['url']}" + (f"  ({summary['message']})" if summary.get("message") else "")]
    if summary["status"] != "NOT_DEPLOYED":
        lines.append(f"  port {config.serve.port}  {'ok: ' if serving else 'NOT SERVING: '}{port['detail']}")
    for name, dep in summary["deployments"].items():
        lines.append(f"  {name}  {dep['status']}  {len(dep['replicas'])} replica(s)")
        lines += [f"    {r['replica_id']}  {r['state']}  pid {r['pid']}" for r in dep["replicas"]]
    return Output(data=data, text="\n".join(lines), exit_code=0 if serving else 1)


def register(sub: argparse._SubParsersAction) -> None:
    group = add_group(sub, "serve", "the Ray Serve API (signals, strategies, health) on the local cluster")
    p = add_command(group, "up", _up, "deploy the API from cluster/serve.yaml, wait until it answers, print its URL")
    p.add_argument("--demo-token", action="store_true",
                   help="also (re)create the 'demo' token into <run folder>/demo.token and print an example curl")
    add_command(group, "down", _down, "remove the API (and shut Serve down when nothing else runs on it)")
    add_command(group, "status", _status, "the API application, its deployments and replicas")
