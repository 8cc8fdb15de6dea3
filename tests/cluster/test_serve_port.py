"""The API's port survives a SIGKILLed replica, and `serve up|status` only vouch for this cluster's API.

On the shared test cluster, with real Serve, a real SIGKILL of the replica
process (its PID from Ray's state API) and real sockets:

* after the kill, ``serve status`` exits 1 while nothing answers on
  ``serve.port``; a server of another deployment that binds it meanwhile is
  named as such by ``serve status`` and ``serve up`` (which then prints no
  URL); once it lets go, our new replica answers on ``serve.port`` again
  (Serve alone would move it to the next port): one replica restart for
  all three;
* a ``serve.port`` changed since ``raytrader up`` is refused (exit 2).

The API is deployed once for the package with ``raytrader serve up``
(fixture ``deployed_api`` in ``conftest.py``).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import psutil
import pytest

from cluster.cli import main

pytestmark = pytest.mark.ray

#: seconds within which serve.port must answer again after the replica is SIGKILLed (measured: about 10 s on
#: the loaded 2-core machine: Serve notices the death, starts a worker, imports the app, warms numba)
RECOVERY_BOUND_S = 60.0


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, (json.loads(out) if out else {"stderr": captured.err})


def _status_until_serving(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``serve status`` until it vouches for the API (exit 0), for at most RECOVERY_BOUND_S: Serve's own
    application status (part of the verdict) turns RUNNING again only after its controller has seen the new
    replica healthy, which can be a little after the port answers."""
    deadline = time.monotonic() + RECOVERY_BOUND_S
    while True:
        code, status = _cli(capsys, "serve", "status")
        if code == 0:
            assert status["serving"] is True
            return status
        assert time.monotonic() < deadline, f"serve status still exits {code}: {status}"
        time.sleep(0.2)


def _ready(port: int) -> tuple[int, dict[str, Any]] | None:
    """``GET /v1/ready`` on 127.0.0.1:port: (status, body), or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/ready", timeout=3) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _replica_pid(dashboard_url: str) -> int:
    """The PID of the live API replica, from Ray's state API (the dashboard, with the Ray token)."""
    from ray.util.state import list_actors

    actors = list_actors(address=dashboard_url, filters=[("state", "=", "ALIVE")], limit=1000)
    pids = [a.pid for a in actors if a.class_name == "ServeReplica:raytrader-api:SignalsIngress"]
    assert len(pids) == 1, f"expected one live replica, found {pids}"
    return int(pids[0])


def _kill_replica(dashboard_url: str, port: int) -> int:
    """SIGKILL the replica while clients hold keep-alive connections to it (as real clients do)."""
    pid = _replica_pid(dashboard_url)
    held = []
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/v1/ready")
        conn.getresponse().read()
        held.append(conn)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a killed process is gone once reaped, or a zombie until then
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    for conn in held:
        conn.close()
    return pid


class _OtherDeployment(http.server.BaseHTTPRequestHandler):
    """What another cluster's raytrader API answers: its own routes listing and deployment id."""

    def do_GET(self) -> None:
        body = {"/-/routes": {"/": "raytrader-api"},
                "/v1/ready": {"status": "ok", "redis": "ok", "deployment_id": "0ther0ther0ther0"}}.get(self.path)
        data = json.dumps(body or {}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.timeout(600)  # a replica restart on a loaded machine, plus `serve up` on the first use
def test_a_sigkilled_replicas_port_is_not_vouched_for_nor_is_another_deployment_there_and_ours_takes_it_back(
        deployed_api: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """One replica SIGKILL (with clients holding keep-alive connections, so the port is in TIME_WAIT) proves three
    things (one restart of the replica, 10-15 s, instead of one per claim):

    * while nothing answers on serve.port, ``serve status`` exits 1 saying so (Serve itself may still say RUNNING);
    * a server of another deployment that binds the port meanwhile is named as such by ``serve status`` and
      ``serve up`` (which then prints no URL): never vouched for;
    * once it lets go, a new replica of *our* deployment answers on serve.port again (Serve alone would move it to
      the next port, and block serve.port for good), and ``serve status`` vouches for it."""
    port = deployed_api["port"]
    code, before = _cli(capsys, "serve", "status")
    assert code == 0 and before["serving"] is True and before["url"] == f"http://127.0.0.1:{port}"
    assert before["port"]["ours"] is True
    ours = before["deployment_id"]
    assert _ready(port) == (200, {"status": "ok", "redis": "ok", "deployment_id": ours})

    http.server.HTTPServer.allow_reuse_address = True  # as our replica does: TIME_WAIT does not block the bind
    other = None
    saw_status_down = False
    killed = []
    for _ in range(3):  # the killed process may take a moment to let go, and its successor may win the race
        killed.append(_kill_replica(deployed_api["dashboard"], port))
        if _ready(port) is None:
            code, status = _cli(capsys, "serve", "status")
            if _ready(port) is None:  # still down after status looked: its verdict covered a dead port
                assert code == 1 and status["serving"] is False and "nothing answers" in status["port"]["detail"]
                saw_status_down = True
        deadline = time.monotonic() + 10
        while other is None and time.monotonic() < deadline:
            try:
                other = http.server.HTTPServer(("127.0.0.1", port), _OtherDeployment)
            except OSError:
                time.sleep(0.05)
        if other is not None:
            break
    assert other is not None, f"could not bind {port} after killing the replica three times"
    assert saw_status_down, "serve.port came back before `serve status` could look: the test proved nothing"
    serving = threading.Thread(target=other.serve_forever, daemon=True)
    serving.start()
    try:
        assert _ready(port) == (200, {"status": "ok", "redis": "ok", "deployment_id": "0ther0ther0ther0"})
        code, status = _cli(capsys, "serve", "status")
        assert code == 1 and status["serving"] is False and status["port"]["answers"] is True
        assert "another deployment (id 0ther0ther0ther0" in status["port"]["detail"]

        # `serve up` looks at the port until this runs out (another deployment answers there the whole time)
        monkeypatch.setenv("RAYTRADER_SERVE__START_TIMEOUT_S", "1")  # it looks at least once, then every 0.2 s
        code = main(["serve", "up"])
        captured = capsys.readouterr()
        assert code == 1 and "another deployment" in captured.err and captured.out == ""
    finally:
        other.shutdown()
        other.server_close()
    t0 = time.monotonic()
    while (answer := _ready(port)) is None or answer[0] != 200 or answer[1].get("deployment_id") == "0ther0ther0ther0":
        assert time.monotonic() - t0 < RECOVERY_BOUND_S, f"our replica did not take serve.port {port} back after it was freed"
        time.sleep(0.3)
    assert answer[1]["deployment_id"] == ours  # the same deployment, on the same port
    assert _replica_pid(deployed_api["dashboard"]) not in killed
    after = _status_until_serving(capsys)
    assert after["deployment_id"] == ours


def test_a_serve_port_changed_since_up_is_refused(deployed_api: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    moved = deployed_api["port"] + 100
    monkeypatch.setenv("RAYTRADER_SERVE__PORT", str(moved))
    for argv in (["serve", "up"], ["serve", "status"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"'serve.port' is {moved}" in err[0] and f"started with {deployed_api['port']}" in err[0]
    deadline = time.monotonic() + RECOVERY_BOUND_S  # a replica killed by an earlier test may still be coming back
    while (_ready(deployed_api["port"]) or (0,))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _ready(moved) is None and _ready(deployed_api["port"])[0] == 200  # nothing moved
