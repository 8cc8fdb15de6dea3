"""The run-folder state file: what ``raytrader up`` started, so ``down`` stops exactly that.

``<home>/state.json`` is written 0600 (it holds the private Redis password)
inside a 0700 folder. A process is "ours" only while its PID is alive *and*
its start time equals the one recorded, so a reused PID is never touched.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from raytrader.config import load_config
from raytrader.errors import InputError

__all__ = ["ProcessRecord", "RayRecord", "RedisRecord", "ClusterState", "read_state", "write_state",
           "clear_state", "state_path", "ensure_home", "redact_url"]

STATE_VERSION = 1


@dataclass(frozen=True)
class ProcessRecord:
    """A process we started: its PID and its start time (seconds since the epoch, psutil's)."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> "ProcessRecord":
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())

    def alive(self) -> bool:
        """True while the PID runs and is the very process we started (not a reused PID)."""
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.create_time) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False


@dataclass(frozen=True)
class RayRecord:
    """The Ray head started by ``up`` (``ray start --head --block``, in its own session)."""

    process: ProcessRecord
    gcs_address: str
    dashboard_url: str
    num_cpus: int
    temp_dir: str
    log_path: str
    #: ``serve.port`` when the head started: Serve's replica port range is fixed then (0: not recorded)
    serve_port: int = 0


@dataclass(frozen=True)
class RedisRecord:
    """The journal Redis: private (``managed``, started by ``up``) or external (``REDIS_URL``)."""

    managed: bool
    host: str
    port: int
    password: str
    process: ProcessRecord | None = None
    data_dir: str = ""
    external_url: str = ""

    def url(self) -> str:
        """The connection URL, password included: never print it (see :func:`redact_url`)."""
        if not self.managed:
            return self.external_url
        return f"redis://:{quote(self.password, safe='')}@{self.host}:{self.port}/0"


@dataclass(frozen=True)
class ClusterState:
    started_at: float
    ray: RayRecord | None
    redis: RedisRecord | None


def state_path(home: Path) -> Path:
    return home / "state.json"


def ensure_home(home: Path) -> None:
    """Create the run folder, private to this user (0700)."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)


def redact_url(url: str) -> str:
    """``redis://:secret@host:port/0`` -> ``redis://:***@host:port/0``; URLs without a password unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}"


def write_state(home: Path, state: ClusterState) -> None:
    """Write atomically with mode 0600."""
    ensure_home(home)
    path = state_path(home)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"version": STATE_VERSION, **asdict(state)}, fh, indent=2)
    os.replace(tmp, path)


def read_state(home: Path) -> ClusterState | None:
    """The recorded state, or None when nothing was started (or the file is unreadable)."""
    path = state_path(home)
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if raw.get("version") != STATE_VERSION:
        return None

    def proc(d: dict | None) -> ProcessRecord | None:
        return ProcessRecord(**d) if d else None

    ray = raw.get("ray")
    redis = raw.get("redis")
    return ClusterState(
        started_at=float(raw.get("started_at", time.time())),
        ray=RayRecord(**{**ray, "process": proc(ray["process"])}) if ray else None,
        redis=RedisRecord(**{**redis, "process": proc(redis.get("process"))}) if redis else None,
    )


def clear_state(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)


def cluster_redis_url() -> str:
    """The cluster's Redis URL as this process sees it: ``REDIS_URL``/config, else the one ``raytrader up``
    recorded in the run folder's 0600 state. Read where it is used, so the password never travels as an argument.

    Raises:
        InputError: no Redis is configured or recorded.
    """
    config = load_config()
    if config.redis.url:
        return config.redis.url
    state = read_state(config.cluster.home)
    if state is None or state.redis is None:
        raise InputError(f"redis: no REDIS_URL and no cluster state in {config.cluster.home}; run `raytrader up`")
    return state.redis.url()
