"""Several Ray nodes on this machine: `raytrader up` (head) + two `raytrader join` worker nodes.

A cluster of this module's own (not the session one): a 1-CPU head and two 1-CPU worker nodes,
each with a custom resource, all on 127.0.0.1 (several nodes on one machine; README "Scaling out").
The research jobs run as real job drivers (``python -m jobs.*``) against it:

* a sweep, a walk-forward and a Monte Carlo study spread over every node (their results name the
  node each trial / fold / task ran on);
* a worker node SIGKILLed (its whole process session: raylet, object store, workers) while the
  sweep's trial runs on it: the sweep completes, the lost trial rerun on another node, with results
  identical to the undisturbed run's.

Teardown stops every node with `raytrader down` and checks that no process of any node is left.
Also here: the config and argument checks of multi-node mode (no cluster needed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import psutil
import pytest

from raytrader.config import ConfigError, load_config
from tests.conftest import cluster_env

#: the sweep of the scaling benchmark's size class: 14,950 configurations (fast 5..500, slow 5..1000, step 5)
SWEEP = ["--sample", "ETH-BTC-5m", "-g", "fast=5:500:5", "-g", "slow=5:1000:5", "--fees-bps", "10",
         "--trial-cpus", "1", "--holdout", "0"]
JOB_TIMEOUT_S = 600


def _env(home: Path, base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYTRADER_") and k != "REDIS_URL"}
    env.update(base)
    env["RAYTRADER_CLUSTER__HOME"] = str(home)
    return env


def _node_id(log_path: Path) -> str:
    found = re.findall(r"Ray runtime started\. node ([0-9a-f]+)", log_path.read_text())
    assert found, f"no node id in {log_path}"
    return found[-1]


class Nodes:
    """The module's cluster: head config/state, the worker nodes' homes, leaders and node ids."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rt-multi-", dir="/tmp"))
        self.head_home = self.root / "head"
        self.base = cluster_env(self.head_home)
        self.base["RAYTRADER_CLUSTER__NUM_CPUS"] = "1"
        self.base["RAYTRADER_CLUSTER__START_TIMEOUT_S"] = "300"  # a loaded 2-core machine: minutes, not seconds
        self.config = load_config(env=self.base)
        self.workers: dict[str, Path] = {}  # resource name -> home
        self.leaders: list[Any] = []
        self.node_ids: dict[str, str] = {}  # "head" | resource name -> Ray node id
        self.state: Any = None

    def job(self, module: str, args: list[str], out: Path | None = None) -> subprocess.Popen:
        argv = [sys.executable, "-m", f"jobs.{module}", "--address", self.state.ray.gcs_address, *args]
        if out is not None:
            argv += ["--out", str(out)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(self.head_home, self.base))


def _result(proc: subprocess.Popen) -> dict[str, Any]:
    stdout, stderr = proc.communicate(timeout=JOB_TIMEOUT_S)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    from cluster.commands.join import join
    from cluster.lifecycle import ClusterError, down, session_members, up

    n = Nodes()
    try:
        for attempt in (1, 2):  # `up` retries Ray's own 30 s startup wait 3 times; a loaded machine may need more
            try:
                result = up(n.config)
                break
            except ClusterError:
                if attempt == 2:
                    raise
        n.state = result.state
        n.leaders += [p.process for p in (result.state.ray, result.state.redis) if p and p.process]
        url = result.state.redis.url()

        def one(name: str) -> Any:
            home = n.root / name
            env = dict(n.base, RAYTRADER_CLUSTER__HOME=str(home), REDIS_URL=url)
            state, started = join(load_config(env=env), result.state.ray.gcs_address, num_cpus=1,
                                  resources={name: 1}, object_store_mb=150)
            assert started
            return home, state

        for name in ("node_b", "node_c"):  # one after the other: two raylets registering at once overload the GCS
            home, state = one(name)
            n.workers[name] = home
            n.leaders.append(state.ray.process)
            n.node_ids[name] = _node_id(home / "logs" / "ray-worker.log")
        yield n
    finally:
        for home in n.workers.values():
            down(load_config(env=dict(n.base, RAYTRADER_CLUSTER__HOME=str(home))))
        down(n.config)
        left = [p.pid for leader in n.leaders for p in session_members(leader)]
        shutil.rmtree(n.root, ignore_errors=True)
        assert not left, f"processes of the multi-node cluster survived `raytrader down`: {left}"


def _alive_nodes(nodes: Nodes) -> set[str]:
    from ray.util.state import list_nodes

    return {x.node_id for x in list_nodes(address=nodes.state.ray.dashboard_url, raise_on_missing_output=False)
            if x.state == "ALIVE"}


@pytest.fixture(scope="module")
def reference_sweep(nodes: Nodes) -> dict[str, Any]:
    """The undisturbed sweep over three nodes (its run folder in ``run_dir``)."""
    return _result(nodes.job("sweep", SWEEP, nodes.root / "sweep-undisturbed"))


def test_every_node_joined_with_its_resources(nodes: Nodes) -> None:
    alive = _alive_nodes(nodes)
    assert len(alive) == 3
    assert {nodes.node_ids["node_b"], nodes.node_ids["node_c"]} < alive
    nodes.node_ids["head"] = (alive - {nodes.node_ids["node_b"], nodes.node_ids["node_c"]}).pop()


def test_sweep_spreads_over_every_node(nodes: Nodes, reference_sweep: dict[str, Any]) -> None:
    s = reference_sweep
    assert s["n_configs"] == 14_950 and s["concurrent_trials"] == 3
    assert set(s["trial_nodes"]) == _alive_nodes(nodes)  # one trial on each node


def test_walkforward_spreads_over_every_node(nodes: Nodes) -> None:
    # 8 folds of 0.5 CPU on 3 one-CPU nodes: 6 run at once, so every node gets some
    s = _result(nodes.job("walkforward", ["--sample", "ETH-BTC-5m", "-g", "fast=4:40:4", "-g", "slow=20:200:20",
                                          "--folds", "8", "--train-bars", "1000"]))
    assert len(s["fold_nodes"]) == 8
    assert set(s["fold_nodes"]) == _alive_nodes(nodes)


def test_montecarlo_spreads_over_every_node(nodes: Nodes) -> None:
    s = _result(nodes.job("montecarlo", ["--sample", "ETH-BTC-5m", "-p", "fast=10", "-p", "slow=30",
                                         "--method", "bootstrap", "--paths", "20000", "--tasks", "8",
                                         "--seed", "7"]))
    assert len(s["task_nodes"]) == 8
    assert set(s["task_nodes"]) == _alive_nodes(nodes)


def _trial_running_on(leader: Any) -> bool:
    from cluster.lifecycle import session_members

    for proc in session_members(leader):
        try:
            if "ImplicitFunc" in " ".join(proc.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def test_sweep_survives_a_worker_node_killed_mid_sweep(nodes: Nodes, reference_sweep: dict[str, Any]) -> None:
    from cluster.lifecycle import session_members

    victim = nodes.node_ids["node_c"]
    leader = nodes.leaders[-1]  # node_c's `raytrader join` session
    proc = nodes.job("sweep", SWEEP, nodes.root / "sweep-node-lost")
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not _trial_running_on(leader):  # the sweep's trial actor runs on node_c
        assert proc.poll() is None, f"the sweep ended before its trial reached node_c: {proc.communicate()}"
        assert time.monotonic() < deadline, "no sweep trial started on node_c"
        time.sleep(0.2)
    killed = [p.pid for p in session_members(leader)]
    for p in session_members(leader):  # the node is lost: raylet, object store, workers, all at once
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    lost = _result(proc)
    assert killed and not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                              for pid in killed)
    assert victim not in lost["trial_nodes"]  # the lost trial ran again, elsewhere
    # the trial's actor is seen dead at once (its worker's connection drops); the GCS marks the node DEAD only after
    # its health checks fail for a while (seconds to tens of seconds): wait for it with a deadline
    gone_by = time.monotonic() + 120
    while victim in _alive_nodes(nodes) and time.monotonic() < gone_by:
        time.sleep(1.0)
    assert victim not in _alive_nodes(nodes)
    assert lost["n_configs"] == reference_sweep["n_configs"]
    assert lost["best"] == reference_sweep["best"] and lost["top"] == reference_sweep["top"]
    undisturbed = pd.read_parquet(reference_sweep["results_path"])
    disturbed = pd.read_parquet(lost["results_path"])
    pd.testing.assert_frame_equal(disturbed, undisturbed, check_exact=True)


# --- config and arguments of multi-node mode (no cluster) ---------------------------------------------


@pytest.mark.parametrize("ip", ["0.0.0.0", "8.8.8.8", "169.254.1.1", "fd00::2", "224.0.0.1", "eth0"])
def test_node_ip_refuses_all_interfaces_public_and_non_ipv4(ip: str) -> None:
    with pytest.raises(ConfigError, match="cluster.node_ip"):
        load_config(env={"RAYTRADER_CLUSTER__NODE_IP": ip})


def test_node_ip_default_is_loopback_and_private_addresses_are_accepted() -> None:
    assert load_config(env={}).cluster.node_ip == "127.0.0.1"
    for ip in ("10.0.0.5", "172.16.3.4", "192.168.1.20"):
        assert load_config(env={"RAYTRADER_CLUSTER__NODE_IP": ip}).cluster.node_ip == ip


def test_up_refuses_a_node_ip_this_machine_does_not_have(tmp_path: Path) -> None:
    from cluster.lifecycle import up
    from raytrader.errors import InputError

    config = load_config(env={"RAYTRADER_CLUSTER__HOME": str(tmp_path), "RAYTRADER_CLUSTER__NODE_IP": "10.255.254.253"})
    with pytest.raises(InputError, match="not an address of this machine"):
        up(config)
    assert not (tmp_path / "state.json").exists()  # nothing started


def test_private_redis_listens_on_the_node_ip_too_only_when_shared() -> None:
    from cluster.lifecycle import node_ip_if_shared

    assert node_ip_if_shared(load_config(env={})) == []
    assert node_ip_if_shared(load_config(env={"RAYTRADER_CLUSTER__NODE_IP": "10.0.0.5"})) == ["10.0.0.5"]


@pytest.mark.parametrize(("argv", "message"), [
    (["join", "8.8.8.8:6379"], "private-network"),
    (["join", "10.0.0.1"], "IPV4:PORT"),
    (["join", "10.0.0.1:99999"], "1..65535"),
    (["join", "127.0.0.1:6379", "--resources", "{bad"], "--resources"),
    (["join", "127.0.0.1:6379", "--resources", '{"a": -1}'], "--resources"),
    (["join", "127.0.0.1:6379", "--num-cpus", "-1"], "--num-cpus"),
])
def test_join_bad_arguments_exit_2_with_one_line(argv: list[str], message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster.cli import main

    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_join_without_redis_or_token_exits_2_naming_what_is_missing(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster.cli import main

    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["join", "127.0.0.1:6379"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    assert main(["join", "127.0.0.1:6379", "--redis-port", "6380", "--redis-password-file", "x"]) == 2
    assert "no Ray token" in capsys.readouterr().err
    assert not (tmp_path / "state.json").exists()
