"""GCS fault tolerance: the GCS SIGKILLed while detached actors run; they keep answering, and the head
restarted by `raytrader up` reloads the cluster from its GCS store and takes new work.

A private two-node cluster of this module's own (``cluster.gcs_fault_tolerance = true``): a head
(`raytrader up`, its GCS backed by the GCS store Redis that `up` starts on 127.0.0.1) and a worker node
(`raytrader join`) offering the custom resource ``ft_node``. On the worker node run two detached actors:
a counter, and a pinger that calls the counter every 0.2 s from a thread and logs each answer's time.

Ray 2.60 does not restart a dead GCS by itself: ``ray start --block`` on the head sees the GCS exit and
ends the rest of the head node, while the worker node's raylet and workers wait
``RAY_gcs_rpc_server_reconnect_timeout_s`` for a GCS at the same address (set to 300 s here: a loaded
machine may take a minute to start a head). `raytrader up` is that restart (README "Scaling out").

The drivers run as subprocesses: a driver attached to the head's raylet would die with the head.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from raytrader.config import load_config
from tests.conftest import cluster_env

DRIVER_TIMEOUT_S = 400

#: phase 1, before the kill: the two detached actors on the worker node; prints their PIDs and node
START_ACTORS = r"""
import json, os, sys, threading, time
import ray

@ray.remote(num_cpus=0, resources={"ft_node": 0.1}, max_restarts=0)
class Counter:
    def __init__(self):
        self.n = 0
    def ping(self):
        self.n += 1
        return self.n
    def where(self):
        return os.getpid(), ray.get_runtime_context().get_node_id()

@ray.remote(num_cpus=0, resources={"ft_node": 0.1}, max_restarts=0)
class Pinger:
    def __init__(self, target):
        self.target, self.log = target, []
        threading.Thread(target=self._loop, daemon=True).start()
    def _loop(self):
        while True:
            t = time.time()
            try:
                self.log.append((t, ray.get(self.target.ping.remote(), timeout=5)))
            except Exception as exc:  # noqa: BLE001 - a failed call is logged as an answer of -1
                self.log.append((t, -1))
            time.sleep(0.2)
    def answers(self):
        return list(self.log)

ray.init(address=sys.argv[1], namespace="gcs-ft", log_to_driver=False)
counter = Counter.options(name="counter", lifetime="detached").remote()
pinger = Pinger.options(name="pinger", lifetime="detached").remote(counter)
pid, node = ray.get(counter.where.remote())
deadline = time.time() + 60
while len(ray.get(pinger.answers.remote())) < 3 and time.time() < deadline:
    time.sleep(0.2)
print(json.dumps({"pid": pid, "node": node, "answers": len(ray.get(pinger.answers.remote()))}))
"""

#: phase 2, after `up` restarted the head: the same actors, their answers, a new task and a new actor
AFTER_RESTART = r"""
import json, os, sys, time
import ray
from ray.util.state import list_nodes

ray.init(address=sys.argv[1], namespace="gcs-ft", log_to_driver=False)
counter = ray.get_actor("counter")
pinger = ray.get_actor("pinger")
pid, node = ray.get(counter.where.remote(), timeout=60)
answers = ray.get(pinger.answers.remote(), timeout=60)

@ray.remote(num_cpus=0.5)
def square(x):
    return x * x, ray.get_runtime_context().get_node_id()

@ray.remote(num_cpus=0, resources={"ft_node": 0.1})
class Fresh:
    def hello(self):
        return "fresh"

squares = ray.get([square.remote(i) for i in range(4)], timeout=120)
fresh = ray.get(Fresh.remote().hello.remote(), timeout=120)
alive = [n.node_id for n in list_nodes(address=sys.argv[2], raise_on_missing_output=False) if n.state == "ALIVE"]
for name in ("pinger", "counter"):
    ray.kill(ray.get_actor(name))
print(json.dumps({"pid": pid, "node": node, "answers": answers, "squares": [s[0] for s in squares],
                  "fresh": fresh, "alive": alive}))
"""


def _driver(script: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          timeout=DRIVER_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _gcs_server(leader: Any) -> psutil.Process:
    from cluster.lifecycle import session_members

    found = [p for p in session_members(leader) if p.name() == "gcs_server"]
    assert len(found) == 1, [p.name() for p in session_members(leader)]
    return found[0]


@pytest.mark.timeout(900)  # two head starts, a node join and three drivers: ~1-2 min quiet, far more on a loaded machine
def test_detached_actors_keep_answering_through_a_gcs_kill_and_the_restarted_head_takes_new_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster.commands.join import join
    from cluster.lifecycle import ClusterError, down, read_gcs_store, session_members, up

    root = Path(tempfile.mkdtemp(prefix="rt-gcsft-", dir="/tmp"))
    base = cluster_env(root / "head")
    base.update(RAYTRADER_CLUSTER__NUM_CPUS="1", RAYTRADER_CLUSTER__START_TIMEOUT_S="300",
                RAYTRADER_CLUSTER__GCS_FAULT_TOLERANCE="true")
    for key, value in base.items():
        monkeypatch.setenv(key, value)
    # the worker node's raylet and workers wait this long for the restarted GCS (Ray's default: 60 s)
    monkeypatch.setenv("RAY_gcs_rpc_server_reconnect_timeout_s", "300")
    head = load_config()
    worker = load_config(env=dict(base, RAYTRADER_CLUSTER__HOME=str(root / "worker")))
    leaders: list[Any] = []
    try:
        for attempt in (1, 2):  # a loaded machine may outlast Ray's own startup waits
            try:
                first = up(head)
                break
            except ClusterError:
                if attempt == 2:
                    raise
        state = first.state
        leaders += [state.ray.process, state.redis.process]
        store = read_gcs_store(head)
        assert store is not None and store.process.alive()
        leaders.append(store.process)
        wstate, started = join(load_config(env=dict(base, RAYTRADER_CLUSTER__HOME=str(root / "worker"),
                                                     REDIS_URL=state.redis.url())),
                               state.ray.gcs_address, num_cpus=1, resources={"ft_node": 1}, object_store_mb=100)
        assert started
        leaders.append(wstate.ray.process)
        env = dict(os.environ)
        before = _driver(START_ACTORS, state.ray.gcs_address, env=env)
        assert before["answers"] >= 3

        gcs = _gcs_server(state.ray.process)
        gcs.send_signal(signal.SIGKILL)
        killed_at = time.time()
        # Ray does not restart it: `ray start --block` ends the head node (it is gone within seconds)
        deadline = time.monotonic() + 60
        while state.ray.process.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not state.ray.process.alive(), "the head's `ray start --block` outlived its GCS"
        time.sleep(3.0)  # an outage of a few seconds at least, whatever the machine's speed
        assert wstate.ray.process.alive() and psutil.pid_exists(before["pid"])  # the worker node waits

        for attempt in (1, 2, 3):  # the restart: a new head on the same port, its GCS reloading from the store
            try:  # (a loaded machine may outlast Ray's own 30 s startup waits, as for the first start)
                second = up(head)
                break
            except ClusterError:
                if attempt == 3:
                    raise
        restarted_at = time.time()
        assert second.started == ("ray",)  # the journal Redis was not touched
        assert read_gcs_store(head) == store  # the same GCS store, still running
        leaders.append(second.state.ray.process)
        after = _driver(AFTER_RESTART, second.state.ray.gcs_address, second.state.ray.dashboard_url, env=env)

        # the same actor process on the same node: nothing was restarted or re-created
        assert (after["pid"], after["node"]) == (before["pid"], before["node"])
        during = [(t, v) for t, v in after["answers"] if killed_at + 1.0 < t < restarted_at - 1.0]
        assert during, f"no call answered between the kill ({killed_at:.1f}) and the restart ({restarted_at:.1f})"
        assert all(v > 0 for _, v in during), during  # every call made while the GCS was down was answered
        counts = [v for _, v in after["answers"] if v > 0]
        assert counts == sorted(counts) and len(set(counts)) == len(counts)  # one counter, never reset
        assert after["squares"] == [0, 1, 4, 9] and after["fresh"] == "fresh"  # new tasks and actors run
        assert before["node"] in after["alive"]  # the worker node reconnected, not re-registered
    finally:
        down(worker)
        down(head)
        left = [p.pid for leader in leaders for p in session_members(leader)]
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes of the GCS fault-tolerance cluster survived `raytrader down`: {left}"
    assert read_gcs_store(head) is None  # `down` deleted the GCS store: the next `up` is a fresh cluster


# --- the GCS store and the head-restart record, without Ray ----------------------------------------------


def test_gcs_fault_tolerance_is_off_by_default_and_up_then_starts_no_gcs_store(tmp_path: Path) -> None:
    from cluster.lifecycle import read_gcs_store

    config = load_config(env={"RAYTRADER_CLUSTER__HOME": str(tmp_path)})
    assert config.cluster.gcs_fault_tolerance is False and read_gcs_store(config) is None
    assert load_config(env={"RAYTRADER_CLUSTER__GCS_FAULT_TOLERANCE": "true"}).cluster.gcs_fault_tolerance


def test_the_gcs_store_listens_on_loopback_comes_back_on_its_port_and_down_deletes_it(tmp_path: Path) -> None:
    import redis

    from cluster.lifecycle import _ensure_gcs_store, _stop_gcs_store, read_gcs_store, session_members

    config = load_config(env={"RAYTRADER_CLUSTER__HOME": str(tmp_path)})
    store, started = _ensure_gcs_store(config)
    try:
        assert started and read_gcs_store(config) == store
        assert _ensure_gcs_store(config) == (store, False)  # running: left alone
        client = redis.Redis.from_url(store.url())
        client.set("probe", "1")
        conf = (tmp_path / "gcs-redis" / "redis.conf").read_text()
        assert "bind 127.0.0.1\n" in conf and "appendonly yes" in conf and "requirepass" not in conf
        assert (tmp_path / "gcs-redis" / "redis.conf").stat().st_mode & 0o077 == 0
        for p in session_members(store.process):  # the store crashes
            p.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while store.process.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        again, started = _ensure_gcs_store(config)  # comes back on the same port, its AOF bringing the data back
        assert started and again.port == store.port and again.process != store.process
        assert redis.Redis.from_url(again.url()).get("probe") == b"1"
    finally:
        pids = _stop_gcs_store(config)
    assert pids and read_gcs_store(config) is None and not (tmp_path / "gcs-redis").exists()


def test_a_restart_forgets_the_dead_heads_address_record_only_when_it_names_that_head(tmp_path: Path) -> None:
    from cluster.lifecycle import _forget_dead_head
    from raytrader.state import ProcessRecord, RayRecord

    record = tmp_path / "ray_current_cluster"
    head = RayRecord(process=ProcessRecord(pid=1, create_time=0.0), gcs_address="127.0.0.1:6379",
                     dashboard_url="", num_cpus=1, temp_dir=str(tmp_path), log_path="")
    record.write_text("127.0.0.1:7000")  # another cluster's (Ray's default temp dir is shared): kept
    _forget_dead_head(head)
    assert record.read_text() == "127.0.0.1:7000"
    record.write_text("127.0.0.1:6379")
    _forget_dead_head(head)
    assert not record.exists()
    _forget_dead_head(head)  # nothing to remove: no error
