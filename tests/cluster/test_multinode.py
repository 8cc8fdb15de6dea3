"""Several Ray nodes on this machine: `raytrader up` (head) + two `raytrader join` worker nodes.

A cluster of this module's own (not the session one): a 1-CPU head and two 1-CPU worker nodes,
each with a custom resource, all on 127.0.0.1 (several nodes on one machine; README "Scaling out").
The research jobs run as real job drivers (``python -m jobs.*``) against it:

* a sweep, a walk-forward and a Monte Carlo study spread over every node (their results name the
  node each trial / fold / task ran on);
* a worker node SIGKILLed (its whole process session: raylet, object store, workers) while the
  sweep's trial runs on it: the sweep completes, the lost trial rerun on another node, with results
  identical to the undisturbed run's;
* the trading actors (``actors.deployment.start_trading_actors``) placed on a worker node, trading
  on a `raytrader exchange serve` venue; the node SIGKILLed: Ray restarts them on another node, the
  OMS rebuilds from the journal and reconciles, and no order is lost (journal vs the venue's own
  order list, by client order id).

* last, GCS fault tolerance (the head runs with ``cluster.gcs_fault_tolerance = true``): a fresh worker node
  joins, two detached actors run on it, the head's ``gcs_server`` is SIGKILLed; the actors keep answering, and
  the head restarted by `raytrader up` reloads the cluster from its GCS store and takes new work.

The tests share the cluster in file order, the destructive ones last (each node loss takes a node away for
good; the GCS test restarts the head). The head's GCS health-checks the raylets every 0.5 s (Ray's default:
3 s; still 5 failed checks, each waiting up to Ray's 10 s timeout, so a live but slow raylet is not taken for
dead) so that a killed node (its port refuses at once) is marked DEAD in about 2.5 s instead of 15: the
node-loss tests wait for that twice.
Teardown stops every node with `raytrader down`, checks that no process of any node is left and that the GCS
store is gone. Also here: the config and argument checks of multi-node mode (no cluster needed).
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
        self.base["RAYTRADER_CLUSTER__GCS_FAULT_TOLERANCE"] = "true"  # the GCS test, last: a GCS store Redis
        # no Prometheus: nothing here reads metrics (tests/cluster/test_prometheus.py does), and its scrapes of
        # every node's agent every 5 s cost CPU for the whole module, its restart the GCS test's `up` too
        self.base["RAYTRADER_PROMETHEUS__ENABLED"] = "false"
        self.config = load_config(env=self.base)
        self.workers: dict[str, Path] = {}  # resource name -> home
        self.leaders: list[Any] = []
        self.node_ids: dict[str, str] = {}  # "head" | resource name -> Ray node id
        self.worker_leaders: dict[str, Any] = {}  # resource name -> its `raytrader join` session leader
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


#: the head's GCS checks each raylet's health this often (ms): a SIGKILLed node is DEAD after 5 failed checks
HEALTH_CHECK_PERIOD_MS = "500"


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_health_check_period_ms", HEALTH_CHECK_PERIOD_MS)  # read by the head's gcs_server at start
        yield from _nodes()


def _nodes() -> Iterator[Nodes]:
    from cluster.commands.join import join
    from cluster.lifecycle import ClusterError, down, read_gcs_store, session_members, up

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
        store = read_gcs_store(n.config)
        assert store is not None and store.process.alive()
        n.leaders.append(store.process)
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
            n.worker_leaders[name] = state.ray.process
            n.node_ids[name] = _node_id(home / "logs" / "ray-worker.log")
        yield n
    finally:
        for home in n.workers.values():
            down(load_config(env=dict(n.base, RAYTRADER_CLUSTER__HOME=str(home))))
        down(n.config)
        left = [p.pid for leader in n.leaders for p in session_members(leader)]
        shutil.rmtree(n.root, ignore_errors=True)
        assert not left, f"processes of the multi-node cluster survived `raytrader down`: {left}"
    assert read_gcs_store(n.config) is None  # `down` deleted the GCS store: the next `up` is a fresh cluster


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


def _kill_node(leader: Any) -> list[int]:
    """SIGKILL a worker node's whole process session at once (raylet, object store, workers); the PIDs."""
    from cluster.lifecycle import session_members

    killed = [p.pid for p in session_members(leader)]
    for p in session_members(leader):
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    return killed


def _wait_node_dead(nodes: Nodes, node_id: str) -> None:
    """The GCS marks a killed node DEAD only after its health checks fail for a while (seconds to tens of
    seconds; its actors' workers are seen dead at once): wait for it with a deadline."""
    gone_by = time.monotonic() + 120
    while node_id in _alive_nodes(nodes) and time.monotonic() < gone_by:
        time.sleep(0.5)
    assert node_id not in _alive_nodes(nodes)


def test_sweep_survives_a_worker_node_killed_mid_sweep(nodes: Nodes, reference_sweep: dict[str, Any]) -> None:

    victim = nodes.node_ids["node_c"]
    leader = nodes.worker_leaders["node_c"]
    proc = nodes.job("sweep", SWEEP, nodes.root / "sweep-node-lost")
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not _trial_running_on(leader):  # the sweep's trial actor runs on node_c
        assert proc.poll() is None, f"the sweep ended before its trial reached node_c: {proc.communicate()}"
        assert time.monotonic() < deadline, "no sweep trial started on node_c"
        time.sleep(0.2)
    killed = _kill_node(leader)
    lost = _result(proc)
    assert killed and not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                              for pid in killed)
    assert victim not in lost["trial_nodes"]  # the lost trial ran again, elsewhere
    _wait_node_dead(nodes, victim)
    assert lost["n_configs"] == reference_sweep["n_configs"]
    assert lost["best"] == reference_sweep["best"] and lost["top"] == reference_sweep["top"]
    undisturbed = pd.read_parquet(reference_sweep["results_path"])
    disturbed = pd.read_parquet(lost["results_path"])
    pd.testing.assert_frame_equal(disturbed, undisturbed, check_exact=True)


#: the trading actors of a deployment file, started by ``start_trading_actors`` with a soft affinity to one node
#: (they run there while it lives, anywhere once it is gone); waits for the strategy's first orders
START_TRADING = r"""
import dataclasses, json, sys, time
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from actors.deployment import start_trading_actors
from actors.exchange import ExchangeConfig
from actors.trading import OMS_NAME, StrategySpec
from jobs.trade_config import load_trade_config
from jobs.trade_deploy import trading_config

address, path, keystore, node, ns = sys.argv[1:6]
ray.init(address=address, namespace=ns, log_to_driver=False)
dep = load_trade_config(path)
config = dataclasses.replace(trading_config(dep), ray_namespace=ns)
exchanges = [ExchangeConfig(venue=v.name, exchange_id=v.exchange, symbols=dep.symbols(v.name), base_url=v.url,
                            ws_url=v.ws_url, key_name=v.key, keystore_home=keystore, namespace=dep.namespace,
                            streams=("trades", "bars")) for v in dep.venues]
specs = [StrategySpec(s.name, s.symbol, s.venue, s.params, window=s.window, bars_closed_on_publish=True)
         for s in dep.strategies]
handles = start_trading_actors(config, exchanges, specs, exchange_restarts=-1,
                               scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True))
oms = handles[OMS_NAME]
deadline = time.time() + 180
while len(ray.get(oms.orders.remote(), timeout=60)) < 2 and time.time() < deadline:
    time.sleep(0.5)
orders = ray.get(oms.orders.remote(), timeout=60)
print(json.dumps({"names": sorted(handles), "pid": ray.get(oms.ping.remote(), timeout=60), "stream": config.stream,
                  "orders": [o["client_order_id"] for o in orders]}))
"""

#: after the node loss: the restarted OMS's status (rebuild + reconcile done), the runners stopped, the orders
#: settled; its orders and the journal's SUBMITTED client order ids; then every trading actor stopped
AFTER_NODE_LOSS = r"""
import json, sys, time
import ray
from actors.journal import EntryKind, Journal
from actors.trading import OMS_NAME, redis_url

address, ns, stream, names = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
ray.init(address=address, namespace=ns, log_to_driver=False)
oms = ray.get_actor(OMS_NAME)
status = ray.get(oms.status.remote(), timeout=180)  # answers once rebuilt from the journal and reconciled
for name in names:
    if name.startswith("strategy:"):
        ray.kill(ray.get_actor(name), no_restart=True)  # no new orders from here on
deadline = time.time() + 60
while True:
    ray.get(oms.sync.remote(), timeout=60)
    busy = {s: n for s, n in ray.get(oms.status.remote(), timeout=60)["orders_by_state"].items()
            if s in ("SUBMITTED", "PENDING_CANCEL", "PENDING_UPDATE", "UNKNOWN")}
    if not busy or time.time() > deadline:
        break
    time.sleep(0.3)
orders = ray.get(oms.orders.remote(), timeout=60)
sent = sorted({e.payload.client_order_id for e in Journal.from_url(redis_url(), stream).entries()
               if e.kind is EntryKind.STATE_CHANGE and e.payload.to_state == "SUBMITTED"})
for name in names:
    if not name.startswith("strategy:"):  # the runners are gone already
        ray.kill(ray.get_actor(name), no_restart=True)
print(json.dumps({"pid": status["pid"], "trading": status["trading"], "reconciliations": status["reconciliations"],
                  "busy": busy, "oms": sorted(o["client_order_id"] for o in orders if not o["external"]),
                  "journal": sent}))
"""


def _actors(nodes: Nodes, ns: str, names: list[str]) -> dict[str, Any]:
    """The live actor record of each of ``names`` in Ray namespace ``ns`` (state API; DEAD ones left out)."""
    from ray.util.state import list_actors

    found = list_actors(address=nodes.state.ray.dashboard_url, filters=[("ray_namespace", "=", ns)], limit=1000,
                        raise_on_missing_output=False)
    return {a.name: a for a in found if a.name in names and a.state != "DEAD"}


@pytest.mark.timeout(900)  # ~1 min quiet; a node loss, an actor restart and two drivers: minutes loaded
def test_trading_actors_on_a_lost_node_come_back_elsewhere_and_lose_no_order(nodes: Nodes, tmp_path: Path) -> None:
    import secrets

    import ccxt

    from market.emulator.client import ccxt_config, point_at
    from raytrader.config import load_config as session_config
    from tests._trade import SYMBOL, add_key, exchange_serve, wait_for, write_toml

    victim = nodes.node_ids["node_b"]
    ns = f"mn-trade-{secrets.token_hex(3)}"
    env = _env(nodes.head_home, nodes.base)
    api_key, secret = add_key("multinode-trade")
    keystore = str(session_config().cluster.home)
    with exchange_serve("multinode-trade") as venue:
        path = write_toml(tmp_path / "trade.toml", venue["url"], "multinode-trade")
        argv = [sys.executable, "-c", START_TRADING, nodes.state.ray.gcs_address, str(path), keystore, victim, ns]
        started = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT_S)
        assert started.returncode == 0, started.stderr[-3000:]
        before = json.loads(started.stdout.strip().splitlines()[-1])
        names = before["names"]
        placed = _actors(nodes, ns, names)
        assert set(placed) == set(names) and {a.node_id for a in placed.values()} == {victim}, placed
        assert len(before["orders"]) >= 2  # it trades on the node before the node is lost

        _kill_node(nodes.worker_leaders["node_b"])

        def moved() -> dict[str, Any] | None:
            now = _actors(nodes, ns, names)
            ok = set(now) == set(names) and all(a.state == "ALIVE" and a.node_id != victim for a in now.values())
            return now if ok else None
        after_actors = wait_for(moved, 180, "every trading actor ALIVE on another node", every_s=0.5)
        after = json.loads(subprocess.run(
            [sys.executable, "-c", AFTER_NODE_LOSS, nodes.state.ray.gcs_address, ns, before["stream"],
             json.dumps(names)], capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT_S, check=True,
        ).stdout.strip().splitlines()[-1])

        ex = point_at(ccxt.binance(ccxt_config(api_key, secret)), venue["url"])
        ex.load_markets()
        at_venue = [o["clientOrderId"] for o in ex.fetch_orders(SYMBOL) if o["clientOrderId"]]
    assert {a.node_id for a in after_actors.values()} <= _alive_nodes(nodes) - {victim}
    assert after["pid"] != before["pid"] and after["trading"]  # a new OMS process, trading again
    assert [r["venue"] for r in after["reconciliations"] if r["ok"]] == ["emu"]  # reconciled with the venue
    assert set(before["orders"]) <= set(after["oms"])  # rebuilt from the journal: the orders placed before the loss
    assert after["busy"] == {}
    # no order lost, none unknown, none twice: the journal's SUBMITTED orders are exactly the venue's own list
    assert len(at_venue) == len(set(at_venue))
    assert after["journal"] == sorted(at_venue) == after["oms"]
    _wait_node_dead(nodes, victim)


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

@ray.remote(num_cpus=1)  # one at a time per one-CPU node: at most two workers started, not one per task
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
                          timeout=JOB_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _gcs_server(leader: Any) -> psutil.Process:
    from cluster.lifecycle import session_members

    found = [p for p in session_members(leader) if p.name() == "gcs_server"]
    assert len(found) == 1, [p.name() for p in session_members(leader)]
    return found[0]


@pytest.mark.timeout(900)  # a node join, a head restart and two drivers: ~1 min quiet, far more on a loaded machine
def test_detached_actors_keep_answering_through_a_gcs_kill_and_the_restarted_head_takes_new_work(
        nodes: Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    """GCS fault tolerance (README "Scaling out"): Ray 2.60 does not restart a dead GCS by itself; the head's
    ``ray start --block`` sees the GCS exit and ends the rest of the head node, while a worker node's raylet and
    workers wait ``RAY_gcs_rpc_server_reconnect_timeout_s`` for a GCS at the same address (300 s here: a loaded
    machine may take a minute to start a head). `raytrader up` is that restart. The actors run on a worker node
    joined for this test (offering ``ft_node``): the earlier tests' nodes are lost by now. The drivers run as
    subprocesses: a driver attached to the head's raylet would die with the head."""
    from cluster.commands.join import join
    from cluster.lifecycle import ClusterError, read_gcs_store, up

    # the worker node's raylet and workers wait this long for the restarted GCS (Ray's default: 60 s)
    monkeypatch.setenv("RAY_gcs_rpc_server_reconnect_timeout_s", "300")
    state = nodes.state
    store = read_gcs_store(nodes.config)
    assert store is not None and store.process.alive()
    home = nodes.root / "node_d"
    wstate, started = join(load_config(env=dict(nodes.base, RAYTRADER_CLUSTER__HOME=str(home),
                                                REDIS_URL=state.redis.url())),
                           state.ray.gcs_address, num_cpus=1, resources={"ft_node": 1}, object_store_mb=100)
    assert started
    nodes.workers["node_d"] = home  # stopped by the fixture's teardown
    nodes.leaders.append(wstate.ray.process)
    env = _env(nodes.head_home, nodes.base)
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
            second = up(nodes.config)
            break
        except ClusterError:
            if attempt == 3:
                raise
    restarted_at = time.time()
    nodes.state = second.state
    nodes.leaders.append(second.state.ray.process)
    assert second.started == ("ray",)  # the journal Redis was not touched
    assert read_gcs_store(nodes.config) == store  # the same GCS store, still running
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
