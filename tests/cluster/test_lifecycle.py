"""`raytrader up | down | status` on a real Ray head and a real Redis.

The port-refusal test uses a run folder and ports of its own (fixture ``own_cluster_home`` in
``conftest.py``); the others read the shared session cluster. ``up`` twice, ``status`` and ``down`` leaving
nothing are tested on the private cluster of ``test_crash_recovery.py``, which also kills and restarts it
(one whole-cluster start for all of them).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cluster.cli import main
from raytrader.config import load_config
from raytrader.processes import process_infos
from raytrader.state import read_state


def test_up_refuses_a_port_taken_by_someone_else(own_cluster_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A first ``up`` finds its dashboard port held by another program: exit 2 naming the field, its environment
    variable and the holder, and ``down`` then stops the Redis that did start. No head of this cluster ever ran
    there, so ``up`` does not wait for the port to be let go (``test_a_port_let_go_within_the_release_wait_...``)."""
    import socket

    home = own_cluster_home
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", load_config().cluster.dashboard_port))
        squatter.listen()
        assert main(["up"]) == 2
    err = capsys.readouterr().err
    assert "cluster.dashboard_port" in err and "RAYTRADER_CLUSTER__DASHBOARD_PORT" in err
    assert f"(PID {os.getpid()}, " in err  # the program holding the port: this test's process
    assert main(["down"]) == 0  # stops the Redis that did start; nothing else
    assert read_state(home) is None


def test_a_port_let_go_within_the_release_wait_is_taken_and_one_still_held_is_named(tmp_path: Path) -> None:
    """``_check_ports_free``, which ``up`` calls with ``PORT_RELEASE_WAIT_S`` after it stopped a dead head of this
    cluster (its processes may hold a port a moment longer) and with 0 otherwise. Real sockets, no Ray."""
    import socket
    import threading

    from cluster.lifecycle import PortInUseError, _check_ports_free
    from tests.conftest import cluster_env

    config = load_config(env=cluster_env(tmp_path))  # free ports, none of the running clusters'
    _check_ports_free(config, 0.0)  # all free: no error, no wait
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", config.cluster.agent_port))
    squatter.listen()
    try:
        for wait_s in (0.0, 0.5):  # held through the whole wait
            with pytest.raises(PortInUseError, match="cluster.agent_port") as refused:
                _check_ports_free(config, wait_s)
            assert "RAYTRADER_CLUSTER__AGENT_PORT" in str(refused.value) and f"(PID {os.getpid()}, " in str(refused.value)
        let_go = threading.Timer(0.5, squatter.close)  # let go while `up` waits
        let_go.start()
        _check_ports_free(config, 60.0)
        let_go.join()
    finally:
        squatter.close()


def test_shared_cluster_redis_is_private_persistent_and_loopback(cluster) -> None:
    rec = cluster.redis
    assert rec.managed and rec.host == "127.0.0.1"
    client = redis.Redis.from_url(rec.url())
    assert client.ping()
    client.set("raytrader:test:key", "v")
    assert client.get("raytrader:test:key") == b"v"
    assert client.config_get("appendonly")["appendonly"] == "yes"
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("dir")["dir"].startswith(str(load_config().cluster.home))
    once = Retry(NoBackoff(), 0)  # redis-py's default retries a refusal for ~4 s
    anonymous = redis.Redis(host=rec.host, port=rec.port, retry=once)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    wrong = redis.Redis(host=rec.host, port=rec.port, password="wrong", retry=once)
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()


def test_secrets_stay_out_of_files_and_output(cluster, capsys: pytest.CaptureFixture[str]) -> None:
    home = load_config().cluster.home
    state_file = home / "state.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    conf = Path(cluster.redis.data_dir) / "redis.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    password = cluster.redis.password
    for argv in (["status"], ["status", "--json"], ["up"], ["up", "--json"]):
        assert main(argv) in (0, 1)
        captured = capsys.readouterr()
        assert password not in captured.out + captured.err
    for _, info in process_infos(["cmdline"]):
        assert password not in " ".join(info["cmdline"] or [])
    for log in (home / "logs").glob("*"):
        assert password not in log.read_text(errors="replace")


def test_dashboard_is_loopback_and_demands_the_token(cluster) -> None:
    import urllib.error
    import urllib.request

    url = cluster.ray.dashboard_url
    assert url.startswith("http://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])
    listeners = [c for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]
    assert listeners and all(c.laddr.ip == "127.0.0.1" for c in listeners)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url + "/api/jobs/", timeout=5)
    assert err.value.code == 401


# --- the raylet's wait for the dashboard agent's port (cluster/raylet_start.py) ----------------------------------


def test_the_running_heads_raylet_names_the_agent_port_file_that_holds_the_configured_port(cluster) -> None:
    from cluster.lifecycle import session_members
    from cluster.raylet_start import raylet_args

    raylet = raylet_args(session_members(cluster.ray.process))
    assert raylet is not None and raylet.session_dir.is_dir()
    # the file Ray's agent writes, where up publishes it: same name, same format (the port, decimal)
    assert raylet.agent_port_file.read_text() == str(load_config().cluster.agent_port)


#: a driver that asks for its workers' output (Ray's default, ``log_to_driver=True``): a task prints a marker,
#: then the driver waits for the log monitor to stream it back (it prints what arrives; the test reads it)
_PRINTING_DRIVER = """
import sys, time
import ray
ray.init(address=sys.argv[1])
@ray.remote(num_cpus=0.01)
def shout(marker):
    print(marker, flush=True)
    return 1
ray.get(shout.remote(sys.argv[2]))
time.sleep(60)  # bounded: the test reads until the marker or the driver exits
"""


def test_the_log_monitor_gets_the_file_scan_setting_and_still_streams_a_workers_output(cluster) -> None:
    import subprocess
    import sys
    import uuid

    from cluster.lifecycle import session_members
    from cluster.rayenv import LOG_MONITOR_ENV

    monitors = [p for p in session_members(cluster.ray.process) if any("log_monitor.py" in a for a in p.cmdline())]
    assert len(monitors) == 1
    env = monitors[0].environ()
    assert {k: env.get(k) for k in LOG_MONITOR_ENV} == LOG_MONITOR_ENV  # the setting reached Ray's log monitor
    marker = f"worker-says-{uuid.uuid4().hex}"
    driver = subprocess.Popen([sys.executable, "-c", _PRINTING_DRIVER, cluster.ray.gcs_address, marker],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        while True:  # until the marker, or the driver's exit (at most its 60 s sleep after the task)
            line = driver.stdout.readline()
            if not line:
                break  # the driver exited
            seen.append(line)
            if marker in line and "(shout pid=" in line:
                break
    finally:
        driver.kill()
        driver.wait(timeout=30)
    assert any(marker in line and "(shout pid=" in line for line in seen), "".join(seen)[-3000:]


def test_publish_agent_port_writes_once_atomically_and_leaves_the_agents_file_alone(tmp_path: Path) -> None:
    from cluster.raylet_start import RayletArgs, publish_agent_port

    raylet = RayletArgs(pid=1, session_dir=tmp_path, node_id="ab" * 28)
    assert publish_agent_port(raylet, 52365)
    assert raylet.agent_port_file.name == "dashboard_agent_listen_port_" + "ab" * 28
    assert raylet.agent_port_file.read_text() == "52365"
    raylet.agent_port_file.write_text("-1")  # the agent's own file (it could not bind): never overwritten
    assert publish_agent_port(raylet, 52365) and raylet.agent_port_file.read_text() == "-1"
    assert [f.name for f in tmp_path.iterdir()] == [raylet.agent_port_file.name]  # no temporary file left
    gone = RayletArgs(pid=1, session_dir=tmp_path / "gone", node_id="cd" * 28)
    assert publish_agent_port(gone, 52365) is False  # the node's session folder is gone: nothing to wait for
    with pytest.raises(ValueError, match="fixed"):
        publish_agent_port(raylet, 0)


#: the first line of a real raylet.err (a head start aborted on a loaded machine, 2026-12-01)
RAYLET_ABORT = ("[2026-12-01 15:09:57,202 C 9905 9905] (raylet) node_manager.cc:3588:  An unexpected system state "
                "has occurred. You have likely discovered a bug in Ray. Please report this issue at "
                "https://github.com/ray-project/ray/issues and we'll work with you to fix it. Check failed: "
                "statussetor3588.has_value() Timed out waiting for file /tmp/rt/ray/session_x/"
                "dashboard_agent_listen_port_5da3d18e\n*** StackTrace Information ***\n/ray/raylet(+0xff770a) x\n")


def test_failure_reason_names_the_raylets_fatal_line_without_rays_boilerplate(tmp_path: Path) -> None:
    from cluster.raylet_start import failure_reason

    assert failure_reason(None) == "" and failure_reason(tmp_path) == ""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "raylet.err").write_text(RAYLET_ABORT)
    (tmp_path / "logs" / "gcs_server.out").write_text("[2026-12-01 15:09:40,001 I 1 1] (gcs_server) started\n")
    reason = failure_reason(tmp_path).splitlines()
    assert reason[0] == ("raylet: Check failed: statussetor3588.has_value() Timed out waiting for file "
                         "/tmp/rt/ray/session_x/dashboard_agent_listen_port_5da3d18e")
    assert reason[1].startswith("(the dashboard agent did not write its port within the raylet's fixed 15 s; "
                                "load average ") and len(reason) == 2


def test_rays_settable_startup_waits_are_as_long_as_start_timeout_and_a_users_value_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster.rayenv import ray_env

    env = ray_env(load_config(env={"RAYTRADER_CLUSTER__START_TIMEOUT_S": "150"}))
    assert (env["RAY_DASHBOARD_STARTUP_TIMEOUT_S"], env["RAY_gcs_server_port_wait_time_s"]) == ("150", "150")
    env = ray_env(load_config(env={"RAYTRADER_CLUSTER__START_TIMEOUT_S": "10"}))  # never below Ray's defaults
    assert (env["RAY_DASHBOARD_STARTUP_TIMEOUT_S"], env["RAY_gcs_server_port_wait_time_s"]) == ("60", "30")
    monkeypatch.setenv("RAY_DASHBOARD_STARTUP_TIMEOUT_S", "400")
    assert ray_env(load_config())["RAY_DASHBOARD_STARTUP_TIMEOUT_S"] == "400"


def test_a_start_waits_while_it_makes_progress_and_never_longer_than_its_total() -> None:
    from cluster.raylet_start import start_wait_over

    # started at 100; idle limit 90 s, total 270 s
    assert start_wait_over(189.0, 100.0, 100.0, 90.0, 270.0) == ""
    assert start_wait_over(190.0, 100.0, 100.0, 90.0, 270.0).startswith("no new step for 90 s, 90 s after")
    assert start_wait_over(250.0, 100.0, 170.0, 90.0, 270.0) == ""  # a step at 170: 80 s ago
    assert start_wait_over(369.0, 100.0, 360.0, 90.0, 270.0) == ""
    assert start_wait_over(370.0, 100.0, 365.0, 90.0, 270.0).startswith("270 s in all")  # progress, but too long


def test_a_stop_waits_for_sigterm_while_processes_exit_and_never_longer_than_its_grace() -> None:
    from cluster.lifecycle import stop_wait_over

    # SIGTERM at 100; grace 5 s; without a stall limit (Redis: its AOF flush) only the grace ends the wait
    assert not stop_wait_over(104.9, 100.0, 100.0, 5.0, None)
    assert stop_wait_over(105.0, 100.0, 100.0, 5.0, None)
    # a Ray session: over once none of its processes exited for 1 s
    assert not stop_wait_over(100.9, 100.0, 100.0, 5.0, 1.0)
    assert stop_wait_over(101.0, 100.0, 100.0, 5.0, 1.0)
    assert not stop_wait_over(103.5, 100.0, 102.8, 5.0, 1.0)  # one exited 0.7 s ago: still exiting
    assert stop_wait_over(105.0, 100.0, 104.5, 5.0, 1.0)  # still exiting, but the grace is over


def test_internal_ports_never_pick_a_configured_port() -> None:
    """The configured ports are not bound yet when Ray's internal ones are picked: a free pick equal to one made Ray
    refuse to start (client_server and dashboard_agent_grpc on one port, seen in a fresh-clone run)."""
    import cluster.lifecycle as lifecycle

    # every port of the kernel's ephemeral range is "configured" but a window of 300: the kernel offers the
    # others ~99 % of the time, so five picks all in the window show ``taken`` is honoured (real sockets)
    low, high = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    window = set(range(low + (high - low) // 2, low + (high - low) // 2 + 300))
    ports = list(vars(lifecycle.internal_ports(taken=set(range(low, high + 1)) - window)).values())
    assert len(set(ports)) == 5 and set(ports) <= window, ports
