"""`raytrader up | down | status` on a real Ray head and a real Redis.

The idempotence test brings up a cluster of its own (own run folder, own
ports, fixture ``own_cluster_home`` in ``conftest.py``) so that it can take
it down and check that nothing is left, while the shared session cluster
keeps serving the other tests.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import psutil
import pytest
import redis

from cluster.cli import main
from raytrader.config import load_config
from cluster.lifecycle import session_members
from raytrader.state import read_state


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert captured.out.strip(), f"raytrader {' '.join(argv)} printed nothing; exit {code}, stderr: {captured.err}"
    return code, json.loads(captured.out)


def test_up_twice_then_down_leaves_nothing(own_cluster_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = own_cluster_home
    config = load_config()

    code, first = _run(capsys, "up")
    assert code == 0 and sorted(first["started"]) == ["ray", "redis"]
    state = read_state(home)
    assert state is not None and state.ray and state.redis and state.redis.process
    leaders = [state.ray.process, state.redis.process]
    members_before = {p.pid for leader in leaders for p in session_members(leader)}
    assert state.ray.process.pid in members_before and len(members_before) > 5  # gcs, raylet, dashboard, ...

    code, second = _run(capsys, "up")
    assert code == 0 and second["started"] == [] and second["already_running"] is True
    again = read_state(home)
    assert again is not None and again.ray == state.ray and again.redis == state.redis  # same PIDs, nothing new

    code, status = _run(capsys, "status")
    assert code == 0 and status["running"] is True
    assert status["ray"]["cpus"] == 2.0 and len(status["ray"]["nodes"]) == 1 and status["ray"]["nodes"][0]["head"]
    assert status["redis"]["ok"] is True
    assert state.redis.password not in json.dumps(status)

    code, stopped = _run(capsys, "down")
    assert code == 0 and sorted(stopped["stopped"]) == ["ray", "redis"]
    assert not [p.pid for leader in leaders for p in session_members(leader)]
    assert not [pid for pid in members_before if psutil.pid_exists(pid) and _same(pid, leaders)]
    assert read_state(home) is None

    code, nothing = _run(capsys, "down")
    assert code == 0 and nothing["stopped"] == []
    code, status = _run(capsys, "status")
    assert code == 1 and status["running"] is False
    assert config.cluster.home == home


def _same(pid: int, leaders: list) -> bool:
    """True if ``pid`` is still a live (non-zombie) process of one of our sessions."""
    try:
        return (psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                and os.getsid(pid) in {leader.pid for leader in leaders})
    except (ProcessLookupError, psutil.NoSuchProcess):
        return False


def test_up_refuses_a_port_taken_by_someone_else(own_cluster_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    home = own_cluster_home
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", load_config().cluster.dashboard_port))
        squatter.listen()
        assert main(["up"]) == 2
    err = capsys.readouterr().err
    assert "cluster.dashboard_port" in err and "RAYTRADER_CLUSTER__DASHBOARD_PORT" in err
    assert main(["down"]) == 0  # stops the Redis that did start; nothing else
    assert read_state(home) is None


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
    anonymous = redis.Redis(host=rec.host, port=rec.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    wrong = redis.Redis(host=rec.host, port=rec.port, password="wrong")
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
    for proc in psutil.process_iter(["cmdline"]):
        assert password not in " ".join(proc.info["cmdline"] or [])
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
