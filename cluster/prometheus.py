"""The cluster's Prometheus: Debian's ``prometheus`` on 127.0.0.1, scraping Ray's metrics.

``raytrader up`` (with ``[prometheus] enabled``, the default) first fixes the
port (:func:`reserve_port`: ``prometheus.port``, else the one recorded by the
last ``up`` in this run folder, else a free one) so that the Ray head starts
with ``RAY_PROMETHEUS_HOST`` pointing at it (:func:`head_env`): the
dashboard then queries this Prometheus. Once the head answers, :func:`start`
writes ``<home>/prometheus/prometheus.yml`` - one ``file_sd`` job reading the
``prom_metrics_service_discovery.json`` that Ray writes into the head's
session folder (every node's metrics agent, the dashboard and the autoscaler
exporters), the alert rules of ``cluster/monitoring/alerts.yml`` - and starts
Prometheus in its own process session with its data in
``<home>/prometheus/data``. ``down`` stops it by PID (:func:`stop`), the
record (``<home>/prometheus/record.json``, PID + start time) says which.

Prometheus reads JSON as YAML, so the config is written as JSON (no YAML
library needed). Where the ``prometheus`` binary is missing, :func:`start`
raises :class:`PrometheusMissing` with the install command; ``up`` reports it
and goes on without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from raytrader.config import Config
from raytrader.ports import LOOPBACK, free_port, port_open
from raytrader.processes import process_infos
from raytrader.state import ProcessRecord

__all__ = ["PrometheusRecord", "PrometheusMissing", "PrometheusError", "ALERT_RULES", "SD_FILE", "reserve_port",
           "head_env", "start", "stop", "read_record", "alive", "query", "ray_session_dir", "prometheus_binary",
           "INSTALL_HINT"]

#: the file Ray writes into its session folder, listing every metrics endpoint of the cluster
SD_FILE = "prom_metrics_service_discovery.json"
#: the alert rules this Prometheus loads (checked by ``promtool check rules`` in the tests)
ALERT_RULES = Path(__file__).resolve().parent / "monitoring" / "alerts.yml"
INSTALL_HINT = ("install Debian's prometheus (`apt-get install prometheus`, which `make install` runs where it may) "
                "or set RAYTRADER_PROMETHEUS__ENABLED=0")
#: seconds Prometheus gets to flush its head block after SIGTERM
STOP_GRACE_S = 10.0


class PrometheusError(RuntimeError):
    """Prometheus did not start or answer; the message says where its log is."""


class PrometheusMissing(PrometheusError):
    """No ``prometheus`` binary on PATH."""


@dataclass(frozen=True)
class PrometheusRecord:
    """What ``up`` started: the process (None while only the port is reserved), its port and URL, its data."""

    port: int
    url: str
    process: ProcessRecord | None = None
    config_path: str = ""
    data_dir: str = ""
    sd_file: str = ""
    log_path: str = ""


def _dir(config: Config) -> Path:
    return config.cluster.home / "prometheus"


def _record_path(config: Config) -> Path:
    return _dir(config) / "record.json"


def read_record(config: Config) -> PrometheusRecord | None:
    """The run folder's Prometheus record, or None."""
    try:
        raw = json.loads(_record_path(config).read_text())
        proc = raw.pop("process", None)
        return PrometheusRecord(**raw, process=ProcessRecord(**proc) if proc else None)
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _write_record(config: Config, record: PrometheusRecord) -> None:
    path = _record_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    os.replace(tmp, path)


def alive(record: PrometheusRecord | None) -> bool:
    """True while the recorded Prometheus process is the one we started and still runs."""
    return bool(record and record.process and record.process.alive())


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def reserve_port(config: Config) -> int:
    """The port this run folder's Prometheus uses: ``prometheus.port``, else the recorded one while it is free
    (or ours), else a free one.

    Recorded at once, so the Ray head (started next, with :func:`head_env`) and Prometheus agree on it.
    """
    record = read_record(config)
    recorded = record.port if (record and not alive(record) and not port_open(LOOPBACK, record.port)) else 0
    port = config.prometheus.port or (record.port if alive(record) else recorded) or free_port(exclude=config.configured_ports())
    if not (record and record.port == port):
        _write_record(config, PrometheusRecord(port=port, url=f"http://{LOOPBACK}:{port}"))
    return port


def head_env(config: Config) -> dict[str, str]:
    """``RAY_PROMETHEUS_HOST`` for the Ray head (empty when Prometheus is off or no port was reserved)."""
    record = read_record(config)
    if not config.prometheus.enabled or record is None:
        return {}
    return {"RAY_PROMETHEUS_HOST": record.url}


def ray_session_dir(ray_leader: ProcessRecord, temp_dir: str) -> Path:
    """The session folder of *this* head: from its raylet's ``--session_dir`` (several heads may share a temp
    folder, so ``session_latest`` could be another's), else ``<temp_dir>/session_latest``."""
    for proc, info in process_infos(["cmdline"]):
        try:
            if os.getsid(proc.pid) != ray_leader.pid:
                continue
        except (ProcessLookupError, PermissionError):
            continue
        for arg in info["cmdline"] or ():
            if arg.startswith("--session_dir="):
                return Path(arg.split("=", 1)[1])
    return (Path(temp_dir) / "session_latest").resolve()


def _config_text(sd_file: Path, scrape_interval_s: float) -> str:
    interval = f"{scrape_interval_s:g}s"
    return json.dumps({
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": f"{min(scrape_interval_s, 10.0):g}s"},
        "rule_files": [str(ALERT_RULES)],
        "scrape_configs": [{"job_name": "ray",
                            "file_sd_configs": [{"files": [str(sd_file)], "refresh_interval": "5s"}]}],
    }, indent=2)


def _ready(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


def start(config: Config, ray_leader: ProcessRecord, temp_dir: str) -> PrometheusRecord:
    """Start Prometheus on the reserved port, scraping the head's service-discovery file; wait until it is ready.

    Raises:
        PrometheusMissing: no ``prometheus`` binary.
        PrometheusError: the port is taken by another program, or it exited / did not get ready in time.
    """
    binary = prometheus_binary()
    if binary is None:
        raise PrometheusMissing(f"prometheus: not installed; {INSTALL_HINT}")
    record = read_record(config)
    port = record.port if record else reserve_port(config)  # the port the running head was told
    if port_open(LOOPBACK, port):
        raise PrometheusError(f"port {port} (prometheus) is in use by a program raytrader did not start; "
                              "stop it or set RAYTRADER_PROMETHEUS__PORT")
    folder = _dir(config)
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    sd_file = ray_session_dir(ray_leader, temp_dir) / SD_FILE
    conf = folder / "prometheus.yml"
    conf.write_text(_config_text(sd_file, config.prometheus.scrape_interval_s))
    log_path = config.cluster.home / "logs" / "prometheus.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://{LOOPBACK}:{port}"
    argv = [binary, f"--config.file={conf}", f"--web.listen-address={LOOPBACK}:{port}",
            f"--storage.tsdb.path={data_dir}", f"--storage.tsdb.retention.time={config.prometheus.retention}"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    record = PrometheusRecord(port=port, url=url, process=ProcessRecord.of(proc.pid), config_path=str(conf),
                              data_dir=str(data_dir), sd_file=str(sd_file), log_path=str(log_path))
    _write_record(config, record)
    deadline = time.monotonic() + config.cluster.start_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PrometheusError(f"prometheus exited during start (code {proc.returncode}); "
                                  f"log {log_path}:\n{_tail(log_path)}")
        if _ready(url):
            return record
        time.sleep(0.3)
    stop(config)
    raise PrometheusError(f"prometheus did not get ready on {url} within {config.cluster.start_timeout_s:.0f}s; "
                          f"log {log_path}:\n{_tail(log_path)}")


def stop(config: Config) -> list[int]:
    """Stop the recorded Prometheus (SIGTERM, SIGKILL after :data:`STOP_GRACE_S`); forget the process, keep
    the port. Returns the PIDs it ended (empty when none ran)."""
    record = read_record(config)
    if record is None or record.process is None:
        return []
    ended: list[int] = []
    if record.process.alive():
        proc = psutil.Process(record.process.pid)
        ended.append(proc.pid)
        for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
            with contextlib.suppress(psutil.TimeoutExpired, psutil.Error):
                proc.wait(wait_s)
            if not record.process.alive():
                break
        if record.process.alive():
            raise PrometheusError(f"could not stop prometheus (PID {record.process.pid})")
    _write_record(config, PrometheusRecord(port=record.port, url=record.url))
    return ended


def query(url: str, promql: str, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """The result vector of an instant query through Prometheus' HTTP API (``/api/v1/query``).

    Raises:
        PrometheusError: Prometheus answered with an error status.
    """
    full = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(full, timeout=timeout_s) as resp:
        body = json.loads(resp.read().decode())
    if body.get("status") != "success":
        raise PrometheusError(f"query {promql!r}: {body.get('error', body)}")
    return list(body["data"]["result"])
