"""A Ray node's start on a busy machine: the dashboard agent's port file, and why a start failed.

The raylet of every node (head or worker) blocks in its constructor until the dashboard agent has written its
HTTP port to ``<session_dir>/dashboard_agent_listen_port_<node_id>``, and aborts after a fixed **15 s** (ray
2.60: ``NodeManager::WaitForDashboardAgentPorts`` calls ``WaitForPersistedPort(..., 15000)``, a constant in the
binary; no setting changes it, ``RAY_agent_register_timeout_ms`` included). The agent writes the file only after
importing the dashboard's modules: 2.0-2.5 s after the raylet starts it on a quiet 2-core machine, 11-52 s
measured while other work loaded the machine (14 aborted head starts in the benchmark run folders of
2026-12-01). The raylet then dies with ``Check failed ... Timed out waiting for file
.../dashboard_agent_listen_port_...``, Ray's Python waits its own fixed 30 s for the node and ``ray start``
exits with "The current node timed out during startup", naming neither the raylet nor the agent.

Ray's Python never hands the agent's port to the raylet, not even when it is fixed, as raytrader always fixes it
(``ray start --dashboard-agent-listen-port``). So :func:`publish_agent_port` writes that file itself, with the
port the agent was told to bind, as soon as the raylet's command line names its session folder and node id; the
agent later replaces it (an atomic rename, as Ray writes it) with the same number. What the raylet waits for is
then a number raytrader knows, not a race against the agent's imports; whether the agent really listens is
checked by the caller's own readiness wait (its port answers), which has the caller's bounded deadline.

:func:`failure_reason` reads what a failed start left in its session folder (the raylet's or GCS's fatal line),
so the error says why instead of Ray's generic "timed out during startup".
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psutil

__all__ = ["AGENT_PORT_FILE", "RAYLET_AGENT_WAIT_S", "RayletArgs", "raylet_args", "publish_agent_port",
           "failure_reason", "machine_load", "start_wait_over"]

#: the file the raylet waits for (``<session_dir>/<AGENT_PORT_FILE>_<node_id>``: the port in decimal, no newline)
AGENT_PORT_FILE = "dashboard_agent_listen_port"
#: seconds ray 2.60's raylet waits for that file before it aborts (fixed in the binary)
RAYLET_AGENT_WAIT_S = 15.0


@dataclass(frozen=True)
class RayletArgs:
    """What a running raylet's command line says about where it waits: its session folder and node id (hex)."""

    pid: int
    session_dir: Path
    node_id: str

    @property
    def agent_port_file(self) -> Path:
        return self.session_dir / f"{AGENT_PORT_FILE}_{self.node_id}"


def _flag(cmdline: list[str], name: str) -> str:
    prefix = f"--{name}="
    return next((arg[len(prefix):] for arg in cmdline if arg.startswith(prefix)), "")


def raylet_args(processes: Iterable[psutil.Process]) -> RayletArgs | None:
    """The first raylet among ``processes`` whose command line names ``--session_dir`` and ``--node_id``."""
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.name() != "raylet":
                continue
            cmdline = proc.cmdline()
            session_dir, node_id = _flag(cmdline, "session_dir"), _flag(cmdline, "node_id")
            if session_dir and node_id:
                return RayletArgs(pid=proc.pid, session_dir=Path(session_dir), node_id=node_id)
    return None


def publish_agent_port(raylet: RayletArgs, port: int) -> bool:
    """Write ``port`` to the file ``raylet`` waits for, unless it is there already (the agent was first).

    Atomic (a temporary file renamed over the name), so the raylet never reads half a number. Returns True when
    the file exists afterwards; False when the session folder is gone (the node already failed).

    Raises:
        ValueError: ``port`` is not a fixed port (1..65535): only a port the agent is told to bind may be published.
    """
    if not 1 <= port <= 65535:
        raise ValueError(f"the dashboard agent's port must be fixed (1..65535) to be published, not {port}")
    target = raylet.agent_port_file
    if target.exists():
        return True
    tmp = target.with_name(f".{target.name}.raytrader-{os.getpid()}")
    try:
        tmp.write_text(str(port))
        if target.exists():  # the agent got there meanwhile: its file stays
            tmp.unlink()
        else:
            os.replace(tmp, target)
    except FileNotFoundError:
        return False
    return True


def _fatal_lines(path: Path, limit: int = 2) -> list[str]:
    """The fatal lines of a Ray C++ log (glog level ``C``/``F``: ``[date time,ms C pid tid] (component) ...``)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    fatal = [line.strip() for line in lines if " C " in line[:40] or " F " in line[:40] or "Check failed" in line]
    return fatal[:limit]


def failure_reason(session_dir: Path | None) -> str:
    """One or two lines on why the node in ``session_dir`` died: the raylet's or the GCS's fatal log line, with
    Ray's bug-report boilerplate cut; '' when the logs say nothing (or no session folder is known)."""
    if session_dir is None:
        return ""
    found: list[str] = []
    for name in ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out"):
        for line in _fatal_lines(session_dir / "logs" / name):
            cut = line.split("Check failed:", 1)
            text = f"{name.split('.')[0]}: " + ("Check failed:" + cut[1] if len(cut) == 2 else line)
            if text not in found:
                found.append(text)
    if any(AGENT_PORT_FILE in line for line in found):
        found.append(f"(the dashboard agent did not write its port within the raylet's fixed "
                     f"{RAYLET_AGENT_WAIT_S:.0f} s; {machine_load()})")
    return "\n".join(found[:3])


def machine_load() -> str:
    """``load average 1.2 on 2 CPUs`` (1-minute), for error messages about a slow start."""
    try:
        one_minute = os.getloadavg()[0]
    except OSError:
        return f"{os.cpu_count()} CPUs"
    return f"load average {one_minute:.1f} on {os.cpu_count()} CPUs"


def start_wait_over(now: float, started: float, last_progress: float, idle_s: float, total_s: float) -> str:
    """'' while a node's start may go on, else why not (seconds on one monotonic clock).

    Patient while the start makes progress, bounded in all: it is over ``total_s`` after ``started``, or
    ``idle_s`` after ``last_progress`` (when its last new step was seen; ``started`` before the first).
    """
    if now - started >= total_s:
        return f"{now - started:.0f} s in all (the most a start may take: {total_s:.0f} s)"
    if now - last_progress >= idle_s:
        return f"no new step for {now - last_progress:.0f} s, {now - started:.0f} s after the start"
    return ""
