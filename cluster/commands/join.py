"""``raytrader join HEAD_ADDRESS``: this machine becomes a worker node of a raytrader cluster.

The head runs ``raytrader up`` with ``cluster.node_ip`` set to its address on a
private network (README "Scaling out"); each worker node runs::

    RAYTRADER_CLUSTER__NODE_IP=10.0.0.12 raytrader join 10.0.0.11:6379 \\
        --redis-port 6380 --redis-password-file ~/.raytrader-secrets/redis-password

What it does, and what it refuses:

* Ray token authentication stays on: the node starts with ``RAY_AUTH_MODE=token``
  and needs the head's token in ``~/.ray/auth_token`` (or ``$RAY_AUTH_TOKEN_PATH``),
  copied there beforehand; without it, ``join`` exits 2 instead of making up a
  token the head would refuse.
* Redis: ``REDIS_URL`` (or ``[redis] url``), else ``redis://HEAD_HOST:--redis-port``
  with the password read from ``--redis-password-file`` (never from the command line).
  It must answer PING with that password before the node starts; the URL reaches the
  node's Ray workers through their environment (so the journal, the API and the
  trading actors find it there) and this run folder's 0600 state file.
* HEAD_ADDRESS must be loopback or a private-network IPv4 address with its GCS port.

The node runs ``ray start --address HEAD --block`` in its own process session,
recorded in the run folder's state, so ``raytrader down`` (same run folder) stops
exactly it. ``join`` returns once Ray reports the node started.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

from cluster.lifecycle import (RAY_STOP_STALL_S, ClusterError, _locked, _redis_ping, _spawn, _stop_session, _tail,
                               check_node_ip, live_state, session_members)
from cluster.raylet_start import RayletArgs, publish_agent_port, raylet_args
from cluster.rayenv import ray_env, token_path
from raytrader.cli import Output, add_command
from raytrader.config import RAY_MAX_WORKER_PORT, RAY_MIN_WORKER_PORT, Config
from raytrader.errors import InputError
from raytrader.ports import free_ports
from raytrader.state import ClusterState, ProcessRecord, RayRecord, RedisRecord, redact_url, write_state

__all__ = ["register", "JoinError", "parse_head_address", "join"]


#: attempts at starting the node when Ray gives up on its own startup (it waits a hard-coded 30 s for the
#: raylet to register, which a loaded machine exceeds), all within ``cluster.start_timeout_s``
START_ATTEMPTS = 3


class JoinError(InputError):
    """A ``join`` argument or prerequisite is wrong; the message names it."""


def parse_head_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` of the head's GCS -> (host, port); host loopback or private IPv4.

    Raises:
        JoinError: naming HEAD_ADDRESS and why.
    """
    host, sep, port_text = text.strip().rpartition(":")
    try:
        ip = ipaddress.IPv4Address(host)
        port = int(port_text)
    except ValueError:
        raise JoinError(f"HEAD_ADDRESS {text!r}: must be IPV4:PORT of the head's GCS, e.g. 10.0.0.11:6379") from None
    if not sep or not 1 <= port <= 65535:
        raise JoinError(f"HEAD_ADDRESS {text!r}: the port must be 1..65535")
    if not (ip.is_loopback or (ip.is_private and not ip.is_unspecified and not ip.is_link_local)):
        raise JoinError(f"HEAD_ADDRESS {text!r}: must be loopback or a private-network address; "
                        "a Ray cluster is never joined over a public network")
    return str(ip), port


def _redis_url(config: Config, head_host: str, port: int | None, password_file: str | None) -> str:
    if config.redis.url:
        return config.redis.url
    if port is None or not password_file:
        raise JoinError("no Redis for this node: set REDIS_URL to the head's Redis, or give --redis-port and "
                        "--redis-password-file (the head's redis.password_file)")
    path = Path(password_file).expanduser()
    try:
        password = path.read_text().strip()
    except OSError as exc:
        raise JoinError(f"--redis-password-file {path}: cannot read it ({exc.strerror})") from None
    if not password:
        raise JoinError(f"--redis-password-file {path}: empty")
    return f"redis://:{quote(password, safe='')}@{head_host}:{port}/0"


def _started(log_path: Path, offset: int) -> bool:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(offset)
            return b"Ray runtime started" in fh.read()
    except FileNotFoundError:
        return False


def join(config: Config, head_address: str, *, num_cpus: int | None = None, resources: dict[str, float] | None = None,
         redis_port: int | None = None, redis_password_file: str | None = None,
         object_store_mb: float = 0) -> tuple[ClusterState, bool]:
    """Start this machine's worker node (idempotent); returns (state, started now).

    Raises:
        JoinError: bad HEAD_ADDRESS, no token, no Redis configuration.
        ClusterError: Redis does not answer, or Ray does not start; the message carries its log tail.
    """
    host, port = parse_head_address(head_address)
    check_node_ip(config)
    if not os.environ.get("RAY_AUTH_TOKEN") and not (token_path().is_file() and token_path().read_text().strip()):
        raise JoinError(f"no Ray token at {token_path()}: copy the head's ~/.ray/auth_token there (mode 600); "
                        "token authentication stays on")
    url = _redis_url(config, host, redis_port, redis_password_file)
    home = config.cluster.home
    with _locked(home):
        state, ray_ok, _ = live_state(config)
        if state and state.ray and ray_ok:
            return state, False
        if state and state.ray:
            _stop_session(state.ray.process, grace_s=5, stall_s=RAY_STOP_STALL_S)
        if not _redis_ping(url, timeout_s=5):
            raise ClusterError(f"the cluster's Redis {redact_url(url)} does not answer PING with that password")
        agent, agent_grpc, runtime_env, metrics = free_ports(4)  # several nodes may share one machine
        cpus = config.effective_num_cpus() if num_cpus is None else num_cpus
        spec = {"gcs_address": f"{host}:{port}", "node_ip_address": config.cluster.node_ip, "num_cpus": cpus,
                "resources": resources or {}, "min_worker_port": RAY_MIN_WORKER_PORT,
                "max_worker_port": RAY_MAX_WORKER_PORT, "dashboard_agent_listen_port": agent,
                "metrics_agent_port": agent_grpc, "runtime_env_agent_port": runtime_env,
                "metrics_export_port": metrics}
        if object_store_mb:
            spec["object_store_memory"] = int(object_store_mb * 1024 * 1024)
        argv = [sys.executable, "-m", "cluster.commands.join", "--node-process", json.dumps(spec)]
        env = ray_env(config)
        env["REDIS_URL"] = url  # the node's workers find the journal's Redis here; never in argv
        log_path = home / "logs" / "ray-worker.log"
        deadline = time.monotonic() + config.cluster.start_timeout_s
        for attempt in range(1, START_ATTEMPTS + 1):
            offset = log_path.stat().st_size if log_path.exists() else 0
            record: ProcessRecord = _spawn(argv, log_path, env)
            raylet: RayletArgs | None = None
            while not _started(log_path, offset):
                if not record.alive() or time.monotonic() > deadline:
                    _stop_session(record, grace_s=5, stall_s=RAY_STOP_STALL_S)
                    break
                if raylet is None:  # its raylet aborts when the agent's port file is late (cluster/raylet_start.py)
                    raylet = raylet_args(session_members(record))
                    if raylet is not None and not publish_agent_port(raylet, agent):
                        raylet = None
                time.sleep(0.3)
            else:
                break
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                timed_out = b"timed out during startup" in fh.read()
            if attempt == START_ATTEMPTS or not timed_out or time.monotonic() > deadline:
                raise ClusterError(f"worker node did not join the cluster at {host}:{port}; log {log_path}:\n"
                                   f"{_tail(log_path)}")
        new_state = ClusterState(
            started_at=time.time(),
            ray=RayRecord(process=record, gcs_address=f"{host}:{port}", dashboard_url="", num_cpus=cpus,
                          temp_dir="", log_path=str(log_path)),
            redis=RedisRecord(managed=False, host="", port=0, password="", external_url=url))
        write_state(home, new_state)
        return new_state, True


def _node_process(spec_json: str) -> None:
    """The worker node itself: ``ray start --address ... --block`` minus its single-machine refusal.

    ``ray start`` refuses to join when ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (which keeps a loopback
    head's servers on 127.0.0.1) and, with it on, rewrites a 127.0.0.1 head address to the machine's
    routable IP, where a loopback head does not listen. So the node is started as ``ray start`` and
    ``ray.cluster_utils.Cluster`` start it (``ray._private.node.Node``, head=False) with the node address
    given, for a loopback head (several nodes on one machine) and a private-network head alike. It
    blocks until SIGTERM; Ray's processes are its session's members, stopped with it.
    """
    import signal  # noqa: PLC0415 - only in the node process

    from ray._private.node import Node  # noqa: PLC0415 - only in the node process
    from ray._private.parameter import RayParams  # noqa: PLC0415 - only in the node process

    spec = json.loads(spec_json)
    params = RayParams(**spec, include_log_monitor=True, node_manager_port=0)
    node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)

    def stop(signum: int, frame: object) -> None:
        node.kill_all_processes(check_alive=False, allow_graceful=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"Ray runtime started. node {node.node_id} at {spec['node_ip_address']}", flush=True)
    while True:
        time.sleep(3600)


def _parse_resources(text: str) -> dict[str, float]:
    try:
        value = json.loads(text)
    except ValueError:
        raise JoinError(f"--resources {text!r}: not JSON, e.g. '{{\"node_b\": 1}}'") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, (int, float)) and v >= 0
                                              for k, v in value.items()):
        raise JoinError(f"--resources {text!r}: must be a JSON object of names to non-negative numbers")
    return value


def _join(args: argparse.Namespace, config: Config) -> Output:
    resources = _parse_resources(args.resources) if args.resources else None
    if args.num_cpus is not None and args.num_cpus < 0:
        raise JoinError(f"--num-cpus {args.num_cpus}: must be >= 0")
    if not args.object_store_mb >= 0:  # NaN too
        raise JoinError(f"--object-store-mb {args.object_store_mb}: must be >= 0")
    state, started = join(config, args.head_address, num_cpus=args.num_cpus, resources=resources,
                          redis_port=args.redis_port, redis_password_file=args.redis_password_file,
                          object_store_mb=args.object_store_mb)
    ray, redis = state.ray, state.redis
    assert ray is not None and redis is not None  # join records both
    data = {"started": started, "head_address": ray.gcs_address, "node_ip": config.cluster.node_ip,
            "num_cpus": ray.num_cpus, "redis_url": redact_url(redis.url()), "home": str(config.cluster.home)}
    text = (f"worker node {'joined' if started else 'already running'}: {config.cluster.node_ip} -> head "
            f"{ray.gcs_address} ({ray.num_cpus} CPUs)\n"
            f"  redis         {data['redis_url']}\n"
            f"  run folder    {config.cluster.home}\n"
            f"leave with: raytrader down")
    return Output(data=data, text=text)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "join", _join, "join this machine to a raytrader cluster as a worker node",
                    "Start a Ray worker node that joins the head at HEAD_ADDRESS (token auth on, the head's Redis "
                    "checked); `raytrader down` leaves again.")
    p.add_argument("head_address", metavar="HEAD_ADDRESS", help="the head's GCS address, IPV4:PORT (e.g. 10.0.0.11:6379)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs this node offers (default: cluster.num_cpus, else all)")
    p.add_argument("--resources", default="", help="custom resources as JSON, e.g. '{\"node_b\": 1}'")
    p.add_argument("--redis-port", type=int, default=None, help="the head's Redis port (when REDIS_URL is not set)")
    p.add_argument("--redis-password-file", default=None, metavar="FILE",
                   help="file holding the head's Redis password (when REDIS_URL is not set)")
    p.add_argument("--object-store-mb", type=float, default=0,
                   help="this node's object store, MiB (default: Ray's, 30%% of memory)")


if __name__ == "__main__" and sys.argv[1:2] == ["--node-process"]:
    _node_process(sys.argv[2])
