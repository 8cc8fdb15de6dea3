"""A user's own strategy file (written here into a temp folder, the package untouched) on the shared test cluster.

Sweep (the generic path, Tune trials on Ray workers), walk-forward (folds as
Ray tasks), Monte Carlo, a Ray job (also the suite's check that a job that succeeds
is recorded for ``raytrader runs``) and the Serve API's signal endpoint
(deployed by ``raytrader serve up``). Ray
workers are started by the raylet: they know neither this test's working
folder nor its environment, so they can only run the strategy because its
file travels in the runtime env (``strategies.user.shipping_runtime_env``).
The sweep, walk-forward and Monte Carlo commands run in a separate process
(one after another, each a fresh Ray driver that attaches with that runtime
env and detaches at its end, as a user's ``raytrader`` command does) because
this test process may already be a driver without that runtime env; one
process for the three saves two interpreter and import start-ups.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strategies  # noqa: F401
from backtest.engine import run_backtest
from cluster.jobs import submit_and_wait
from market.samples import load_sample
from strategies import registry, user
from strategies.registry import Strategy
from tests.strategies._user_files import GOOD, unique, write

pytestmark = [pytest.mark.ray, pytest.mark.slow]

NAME = unique("above_sma")


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user_strategies")
    write(folder, NAME, GOOD)
    return folder


@pytest.fixture()
def record(user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Strategy]:
    """The user strategy loaded in this process too (a private registry), for reference numbers."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(user, "_LOADED", {})
    for module in [m for m in sys.modules if m.startswith(f"{user.PACKAGE}.")]:
        monkeypatch.delitem(sys.modules, module)  # as in a fresh process: the file is imported again
    monkeypatch.setenv("RAYTRADER_STRATEGIES__PATH", str(user_dir))
    yield registry.get_strategy(NAME)


#: runs each command (argv lists, JSON in argv[1]) through the ``raytrader`` entry point, in order; stops at the
#: first that fails, with its exit status
_RUN_COMMANDS = """import json, sys
from cluster.cli import main
for argv in json.loads(sys.argv[1]):
    rc = main(argv)
    sys.stdout.flush()
    if rc:
        sys.exit(rc)
"""


def _cli(cwd: Path, user_dir: Path, *commands: list[str]) -> list[dict]:
    """``raytrader <command> --json`` for each command, one after another in one fresh Python process (each
    command its own Ray driver: ``cluster.driver.ray_driver`` attaches and detaches per command); their JSON."""
    env = {**os.environ, "RAYTRADER_STRATEGIES__PATH": str(user_dir)}
    argvs = json.dumps([[*command, "--json"] for command in commands])
    proc = subprocess.run([sys.executable, "-c", _RUN_COMMANDS, argvs], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == len(commands), proc.stdout[-2000:]
    return [json.loads(line) for line in lines]


def _total_return(record: Strategy, bars, params: dict) -> tuple[float, int]:
    res = run_backtest(bars, record.run(bars, params), fees_bps=10.0)
    return float(res.equity[-1] / res.initial_cash - 1.0), len(res.trades)


@pytest.mark.timeout(1200)  # three fresh drivers (Ray, Tune) on a small shared machine
def test_sweep_walkforward_and_montecarlo_run_the_user_strategy_on_ray(cluster, record: Strategy, user_dir: Path,
                                                                      tmp_path: Path) -> None:
    sweep, wf, mc = _cli(
        tmp_path, user_dir,
        ["sweep", "--strategy", NAME, "--sample", "ETH-BTC-5m", "-g", "n=10:40:10", "-g", "short=0,1", "--trials", "2",
         "--trial-cpus", "0.5", "--out", str(tmp_path / "sweep")],
        ["walkforward", "--strategy", NAME, "--sample", "ETH-BTC-5m", "-g", "n=10:40:10", "--folds", "3"],
        # one simulation task: the user's strategy runs in the command's backtest, the tasks only resample its
        # returns (a second task was a second worker process, ~1.5 CPU-s, proving nothing more here)
        ["montecarlo", "--strategy", NAME, "--sample", "ETH-BTC-5m", "-p", "n=20", "-p", "short=1", "--paths", "200",
         "--tasks", "1"])
    assert sweep["strategy"] == NAME and sweep["n_configs"] == 8 and sweep["n_trials"] == 2
    frame = pd.read_parquet(sweep["results_path"])
    assert len(frame) == 8
    bars = load_sample("ETH-BTC-5m").take(slice(0, sweep["in_sample"]["bars"]))
    for i in (0, 5, 7):  # what ran in the Tune trials is the user's function, through the engine
        params = {"n": int(frame["n"].iloc[i]), "short": int(frame["short"].iloc[i])}
        total, trades = _total_return(record, bars, params)
        assert frame["total_return"].iloc[i] == pytest.approx(total, rel=1e-9, abs=1e-12)
        assert int(frame["n_trades"].iloc[i]) == trades

    assert wf["strategy"] == NAME and wf["n_folds"] == 3 and len(wf["folds"]) == 3
    assert all(f["params"]["n"] in (10, 20, 30, 40) for f in wf["folds"])

    assert mc["backtest"]["strategy"] == NAME and mc["n_paths"] == 200
    total, trades = _total_return(record, load_sample("ETH-BTC-5m"), {"n": 20, "short": 1})
    assert mc["backtest"]["total_return"] == pytest.approx(total, rel=1e-9) and mc["backtest"]["n_trades"] == trades


@pytest.mark.timeout(600)
def test_a_ray_job_ships_the_user_strategy_and_is_recorded(cluster, record: Strategy, tmp_path: Path) -> None:
    """A sweep of the user's strategy as a plain Ray job (`python -m jobs.sweep` through the Jobs API, one Tune
    trial of half a CPU): its trials ran the user's function (each row equals the engine here), and the job is
    recorded for `raytrader runs` with its result files. (One job for both: each submission starts a fresh driver
    process, ~10 s; the record was a second sweep job in test_job_records.py.)"""
    from raytrader.config import load_config
    from raytrader.runs import list_records

    out = tmp_path / "job-ok"
    entry = (f"python -m jobs.sweep --strategy {NAME} --sample ETH-BTC-5m -g n=10:30:10 --trials 1 --trial-cpus 0.5 "
             f"--holdout 0 --out {out} --json")
    outcome = submit_and_wait(cluster.ray.dashboard_url, entry, name="sweep", timeout_s=400, show_progress=False)
    assert outcome.status == "SUCCEEDED"
    result = outcome.result
    assert result["job"] == "sweep" and result["strategy"] == NAME and result["n_configs"] == 3
    frame = pd.read_parquet(result["results_path"])
    assert len(frame) == 3
    bars = load_sample("ETH-BTC-5m")
    for i in range(3):
        total, _ = _total_return(record, bars, {"n": int(frame["n"].iloc[i])})
        assert frame["total_return"].iloc[i] == pytest.approx(total, rel=1e-9, abs=1e-12)

    home = load_config().cluster.home
    runs = [r for r in list_records(home, kind="sweep") if str(out) in r.command]
    assert len(runs) == 1, [r.command for r in list_records(home)]
    assert runs[0].status == "ok" and runs[0].command.startswith("python -m jobs.sweep")
    assert runs[0].key["n_configs"] == result["n_configs"]
    assert runs[0].files["results_path"] == result["results_path"]


def test_serve_up_ships_the_user_strategy_to_the_replica(cluster, record: Strategy, user_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`raytrader serve up` (the Serve REST API, no driver): the replica loads the uploaded copy of the files,
    answers the signal (checked by hand), lists the strategy beside the built-ins and names a bad parameter.

    (One deployment for all of it: an in-process ``serve.run`` of the same uploaded files was a second Serve
    start of 10-15 s for the same property.)"""
    import redis as redis_lib

    from api.auth import create_token
    from api.client import ApiClientError, RaytraderClient
    from cluster.cli import main
    from tests.api.conftest import bars_payload

    monkeypatch.setenv("RAYTRADER_SERVE__REPLICA_CPUS", "0.1")
    client = redis_lib.Redis.from_url(cluster.redis.url(), decode_responses=True)
    try:
        token = create_token(client, "user-strategy-serve-up", "signal,read", rate_per_s=1000, burst=1000)
    finally:
        client.close()
    capsys.readouterr()
    try:
        assert main(["serve", "up", "--json"]) == 0
        up = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        payload = bars_payload(300, seed=11)
        api = RaytraderClient(up["url"], token, timeout_s=60)
        got = api.signal(NAME, payload, {"n": 30})
        close = np.asarray(payload["close"])
        mean = close[-30:].mean()
        assert got["strategy"] == NAME and got["position"] == (1.0 if close[-1] > mean else 0.0)  # short=0
        got = api.signal(NAME, payload, {"n": 25, "short": 1})
        mean = close[-25:].mean()
        expected = 1.0 if close[-1] > mean else (-1.0 if close[-1] < mean else 0.0)  # by hand: close vs SMA(25)
        assert got["position"] == expected and got["params"] == {"n": 25, "band": 0.0, "short": 1}
        names = {s["name"] for s in api.strategies()}
        assert NAME in names and "sma_cross" in names
        with pytest.raises(ApiClientError) as info:
            api.signal(NAME, payload, {"n": 1})
        assert info.value.status == 422 and "n=1 is out of range" in str(info.value.body)
    finally:
        assert main(["serve", "down", "--json"]) == 0
