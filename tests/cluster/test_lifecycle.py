"""`raytrader up | down | status` on a real Ray head and a real Redis.

The port-refusal test uses a run folder and ports of its own (fixture ``own_cluster_home`` in
``conftest.py``); the others read the shared session cluster. ``up`` twice, ``status`` and ``down`` leaving
nothing are tested on the private cluster of ``test_crash_recovery.py``, which also kills and restarts it
(one whole-cluster start for all of them).
"""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import pytest
import redis

from cluster.cli import main
from raytrader.config import load_config
from raytrader.state import read_state


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
