"""RL training (RLlib PPO on TradingEnv) on the shared test cluster: learning, walk-forward hygiene,
checkpoints, the rule baseline, the exported policy as strategy rl:<name> (served and paper-traded), flags.

One seeded PPO run (module fixture ``ppo``) serves every test that needs a trained policy; the DQN run is the
one that goes through Ray job submission (``python -m jobs.train_rl``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from backtest.rl_env import TradingEnv
from cluster import cli
from jobs.train_rl import MODULE_PATH, TrainRLRequest, module_policy, play, random_episode_returns
from market.samples import load_sample

REPO = Path(__file__).resolve().parents[2]

# training on a loaded 2-core machine: the PPO fixture took 3-5 min there
pytestmark = pytest.mark.timeout(900)


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1, lines[-20:]
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def ppo(cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One seeded PPO run: 2 folds x 1 seed, the last policy exported as rl:<name>. Yields the JSON result with the checkpoint folder and the name.

    The smallest run that still learns (seed 3 is deterministic: the same numbers on every run): 3 iterations of
    500 steps, two hidden layers of 16 units, 2 evaluation episodes in the job. 1,000 steps did not beat the
    random policy; 1,500 did (greedy -0.195 vs random -0.221 over the test's 12 episodes), at half the
    3,000-step run's time."""
    import contextlib
    import io

    assert "cluster.commands.train_rl" in cli.COMMAND_MODULES
    ckpt_dir = tmp_path_factory.mktemp("ppo") / "ckpt"
    name = f"t{uuid.uuid4().hex[:8]}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["train-rl", "--sample", "ETH-BTC-5m", "--algo", "ppo", "--timesteps", "1500", "--batch", "500",
                       "--hidden", "16", "--eval-episodes", "2", "--folds", "2", "--seeds", "1", "--seed", "3", "--checkpoint", str(ckpt_dir),
                       "--name", name, "--json"])
    assert rc == 0, out.getvalue()[-2000:]
    lines = [x for x in out.getvalue().splitlines() if x.strip()]
    assert len(lines) == 1, lines[-20:]
    yield {**json.loads(lines[0]), "ckpt_dir": ckpt_dir, "name": name}


def test_train_rl_learns_evaluates_out_of_sample_and_round_trips(ppo: dict[str, Any]) -> None:
    import torch
    from ray.rllib.core.rl_module.rl_module import RLModule

    r, ckpt_dir = ppo, ppo["ckpt_dir"]
    bars = load_sample("ETH-BTC-5m")
    n = len(bars)
    assert r["bars"] == n and len(r["folds"]) == 2

    # walk-forward: every fold trains on bars strictly before its test window, whose environment held nothing later
    folds = r["folds"]
    for f in folds:
        assert 0 <= f["train_start"] < f["train_end"] <= f["test_start"] < f["test_end"] <= n
        assert f["seeds"][0]["train_env_bars"] == f["train_end"] <= f["test_start"]
        assert f["test_time"][0] == int(bars.timestamp[f["test_start"]]) > f["train_time"][1]
    assert folds[0]["test_end"] <= folds[1]["test_start"] and folds[1]["test_end"] == n

    # baselines through the same environment: flat never trades; buy-and-hold trades once and pays one fee
    for f in folds:
        assert f["flat"] == {"total_return": 0.0, "sharpe": 0.0, "max_drawdown": 0.0, "turnover": 0.0, "fees": 0.0,
                             "trades": 0}
        assert f["buy_hold"]["trades"] == 1 and f["buy_hold"]["fees"] > 0
        o, c = bars.open, bars.close
        # all in at the open after the first decision (10 bps fee on top), marked at the window's last close
        expected = c[f["test_end"] - 1] / (o[f["test_start"] + 1] * (1 + 1e-3)) - 1
        assert f["buy_hold"]["total_return"] == pytest.approx(expected, rel=1e-9, abs=1e-12)

    # the checkpoint holds the evaluated policy: loading only its RLModule replays the last fold's test exactly
    assert r["roundtrip_identical"] is True
    last = folds[-1]
    assert r["roundtrip_actions"] == last["test_end"] - 1 - last["test_start"]
    module_dir = Path(r["checkpoint"]).joinpath(*MODULE_PATH)
    assert module_dir.is_dir() and Path(r["checkpoint"]).is_relative_to(ckpt_dir)
    torch.set_num_threads(1)
    module = RLModule.from_checkpoint(module_dir)
    request = TrainRLRequest(sample="ETH-BTC-5m", episode_bars=last["test_end"] - last["test_start"])
    test_env = TradingEnv(bars.open[: last["test_end"]], bars.close[: last["test_end"]], request.env_config())
    metrics, _ = play(test_env, last["test_start"], module_policy(module), r["periods_per_year"])
    assert metrics.total_return == last["seeds"][0]["test"]["total_return"]
    assert metrics.trades == last["seeds"][0]["test"]["trades"]

    # it learned something: on its own training window the greedy policy beats a random one on the same episodes
    train_env = TradingEnv(bars.open[: last["train_end"]], bars.close[: last["train_end"]],
                           TrainRLRequest().env_config(start=last["train_start"]))
    starts = [int(s) for s in np.random.default_rng(11).integers(last["train_start"] + 1, last["train_end"] - 250, 12)]
    greedy = module_policy(module)
    greedy_returns = []
    for s in starts:
        obs, _ = train_env.reset(options={"start": s})
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = train_env.step(greedy(obs))
            total += reward
            done = terminated or truncated
        greedy_returns.append(total)
    assert np.mean(greedy_returns) > np.mean(random_episode_returns(train_env, starts, seed=11))


def test_rule_baseline_is_chosen_per_fold_and_played_like_the_engine(ppo: dict[str, Any]) -> None:
    """The rule row: sma_cross re-chosen on each fold's training window, its test return the engine's own."""
    from backtest.engine import run_backtest
    from strategies.registry import get_strategy

    bars = load_sample("ETH-BTC-5m")
    sma = get_strategy("sma_cross")
    assert ppo["rule"] == "sma_cross" and ppo["total"]["rule"]["trades"] == sum(
        f["rule"]["trades"] for f in ppo["folds"])
    for f in ppo["folds"]:
        params = f["rule"]["params"]
        assert set(params) == {"fast", "slow"} and params["fast"] < params["slow"]
        target = np.nan_to_num(np.asarray(sma.run(bars.take(slice(0, f["test_end"])), params), dtype=np.float64))
        target[: f["test_start"]] = 0.0  # from flat at the test window's first bar
        ref = run_backtest(bars.take(slice(0, f["test_end"])), target, fees_bps=10.0, cash=1.0)
        expected = ref.equity[f["test_end"] - 1] / ref.equity[f["test_start"]] - 1.0
        assert f["rule"]["total_return"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert f["rule"]["fees"] == pytest.approx(float(ref.fees.sum()), rel=1e-9, abs=1e-12)


def test_exported_policy_is_strategy_rl_name_and_the_run_is_recorded(ppo: dict[str, Any],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from ray.rllib.core.rl_module.rl_module import RLModule

    from backtest.rl_policy import resolve_strategy, warmup_bars

    name = ppo["name"]
    assert ppo["policy_strategy"] == f"rl:{name}" and ppo["policy_roundtrip_identical"] is True
    # the strategy's targets are the checkpoint's RLModule (loaded by RLlib here) played through the environment
    bars = load_sample("ETH-BTC-5m").take(slice(0, 1500))
    targets = resolve_strategy(f"rl:{name}").run(bars)
    torch.set_num_threads(1)
    module = RLModule.from_checkpoint(Path(ppo["checkpoint"]).joinpath(*MODULE_PATH))
    lo = warmup_bars(16)
    env = TradingEnv(bars.open, bars.close, TrainRLRequest().env_config(episode_bars=len(bars)))
    _, actions = play(env, lo, module_policy(module), 1.0)
    assert list(targets[lo:-1]) == [(-1.0, 0.0, 1.0)[a] for a in actions]

    assert cli.main(["runs", "--kind", "train_rl", "--json"]) == 0
    runs = _json(capsys)["runs"]
    mine = [x for x in runs if x["key"].get("policy") == name]
    assert len(mine) == 1 and mine[0]["status"] == "ok" and mine[0]["kind"] == "train_rl"
    assert mine[0]["key"]["agent_return_mean"] == pytest.approx(ppo["total"]["agent_return_mean"], rel=1e-6)


def _placed(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runner's sends that became an order the risk check let through."""
    return [x for x in sent if x["status"] == "order" and x["state"] != "DENIED"]


def test_paper_session_trades_the_policy(ppo: dict[str, Any], ray_session: None) -> None:
    """`raytrader paper --strategy rl:<name>`'s session: the StrategyRunner decides with the exported policy, its
    target changes become market orders, and every order is journaled and known to the venue.

    Replayed at x600 (a one-minute bar every 0.1 s): the 40 decisions take ~4 s of replay, not the ~20 s they took
    at x120; the runner still decides on every closed bar (the decisions are compared bar by bar below)."""
    import ray

    from actors.journal import EntryKind, Journal
    from actors.trading import WindowBars, redis_url
    from backtest.rl_policy import resolve_strategy
    from jobs.paper_trade import PaperRequest, PaperSession

    strategy = f"rl:{ppo['name']}"
    request = PaperRequest(strategy=strategy, params=(), venues=("binance",), speed=600.0, seconds=30,
                           warmup_bars=80)
    with PaperSession(request) as s:
        runner = s.runners()[f"strategy:{strategy}:XRP/ETH@binance"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            status = ray.get(runner.status.remote(), timeout=60)
            if status["decisions"] >= 40 and len(_placed(status["sent"])) >= 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the runner did not decide 40 bars and place 2 orders: {status}")
        seen = ray.get(runner.bars_seen.remote(), timeout=60)  # first: a decision exists for its last bar
        status = ray.get(runner.status.remote(), timeout=60)  # then: a decision exists for each bar it sent
        decisions = dict(ray.get(runner.decisions_made.remote(), timeout=60))
        s.stop_strategies()
        s.settle()
        checks = s.checks()
        submitted = {e.payload.client_order_id for e in Journal.from_url(redis_url(), s.stream).entries()
                     if e.kind is EntryKind.STATE_CHANGE and e.payload.to_state == "SUBMITTED"}
        at_venue = {o.client_order_id for orders in s.venue_orders().values() for o in orders}
    assert set(decisions.values()) <= {-1.0, 0.0, 1.0}
    assert status["errors"] == 0
    # each target sent is the policy's decision on its bar and, after an accepted one, a change of target
    sent = status["sent"]
    assert all(x["target"] == decisions[x["bar_ts"]] for x in sent)
    assert all(a["target"] != b["target"] for a, b in zip(sent, sent[1:])
               if a["status"] == "on_target" or a.get("state") not in (None, "DENIED"))
    orders = _placed(sent)
    assert len(orders) >= 2
    # every order the policy placed is journaled as sent and is in the venue's own order list
    ids = {x["client_order_id"] for x in orders}
    assert ids <= submitted and ids <= at_venue
    assert checks["chain_ok"] and checks["orders_sent"] == checks["venue_orders"] >= len(orders)
    assert checks["lost"] == [] and checks["duplicated"] == [] and checks["not_in_journal"] == []
    assert checks["balances_match"], checks["balance_diffs"]
    # the decision on the window's last bar is the policy's target on exactly that window
    window = WindowBars(*(np.asarray(col, dtype=np.float64) for col in zip(*[(ts, o, h, lo, c, 0.0)
                                                                             for ts, o, h, lo, c in seen])))
    assert decisions[seen[-1][0]] == resolve_strategy(strategy).run(window)[-1]


def test_tune_gives_its_cpus_back(ray_session: None, tmp_path: Path) -> None:
    """`--tune`'s Ray Tune step (2 sampled PPO configurations, 1 iteration each): when it returns, the CPUs its
    trials held are free again and no placement group of this job is left."""
    import ray
    from ray.util.state import list_placement_groups

    from jobs.train_rl import plan_folds, tune_ppo

    request = TrainRLRequest(sample="ETH-BTC-5m", timesteps=250, batch=250, tune=2, folds=1, seeds=1, seed=1,
                             hidden=16)
    bars = load_sample("ETH-BTC-5m")
    o, c = np.asarray(bars.open, dtype=np.float64), np.asarray(bars.close, dtype=np.float64)
    (span,) = plan_folds(c.size, 1, TradingEnv(o, c, request.env_config())._lo)
    free_before = float(ray.available_resources().get("CPU", 0.0))
    tuned = tune_ppo(request, o, c, span, 1.0, tmp_path)
    assert len(tuned["trials"]) == 2 and all(t["iterations"] == 1 for t in tuned["trials"])
    assert tuned["best"] in [{k: t[k] for k in ("lr", "entropy", "epochs")} for t in tuned["trials"]]
    ctx = ray.get_runtime_context()
    pgs = list_placement_groups(address=ctx.gcs_address, filters=[("creator_job_id", "=", ctx.get_job_id())],
                                limit=10_000, raise_on_missing_output=False)
    assert pgs and all(str(p.state) == "REMOVED" for p in pgs), pgs  # Tune's trials had some; none is held
    deadline = time.monotonic() + 60  # removal is asynchronous in the raylet
    while (free := float(ray.available_resources().get("CPU", 0.0))) < free_before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert free >= free_before, (free, free_before, ray.cluster_resources().get("CPU"))


def test_python_m_jobs_train_rl_as_a_ray_job_dqn_round_trips(cluster, tmp_path: Path) -> None:
    """DQN through Ray's own CLI, `ray job submit --working-dir . -- python -m jobs.train_rl` (the Jobs API): the
    job runs from Ray's unpacked copy of the repository, prints its result and is recorded for `raytrader runs`.
    (The suite's one `--working-dir` job: a second one, a backtest, proved the same path for ~15 s more.)

    The smallest DQN run the flags allow (what is proven is the job path, the step count and the checkpoint round
    trip, not learning): one iteration of 100 steps (learning from step 25), 16-unit layers, 1 evaluation episode,
    on the 2,469 one-minute bars of XRP-ETH-1m (the folds' windows, played step by step through the module, are
    half the 5,760 bars of ETH-BTC-5m).
    Also: numba compiled nothing into Ray's unpacked copy of the repository (the installed files' cache served
    it, ``raytrader.numba_cache``; without it this job compiled 10 kernels there: 42.0 s vs 34.9 s back to back)."""
    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    proc = subprocess.run(
        [str(ray_cli), "job", "submit", "--address", cluster.ray.dashboard_url, "--working-dir", ".", "--",
         "python", "-m", "jobs.train_rl", "--algo", "dqn", "--sample", "XRP-ETH-1m", "--timesteps", "100",
         "--batch", "100", "--folds", "1",
         "--seeds", "1", "--hidden", "16", "--eval-episodes", "1", "--checkpoint", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    r = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith('{"job": "train_rl"')))
    assert r["algo"] == "dqn" and r["request"]["algo"] == "dqn"
    (fold,) = r["folds"]
    assert r["symbol"] == "XRP/ETH" and fold["seeds"][0]["iterations"] == 1 and fold["seeds"][0]["env_steps"] >= 100
    assert fold["seeds"][0]["train_env_bars"] == fold["train_end"] <= fold["test_start"]
    assert r["roundtrip_identical"] is True and r["roundtrip_actions"] == fold["test_end"] - 1 - fold["test_start"]
    assert Path(r["checkpoint"]).is_relative_to(tmp_path)
    from raytrader.config import load_config
    from raytrader.runs import list_records

    copies = list(Path(load_config().cluster.temp_dir or "/tmp/ray").glob(
        "session_*/runtime_resources/working_dir_files/*"))
    assert any((c / "jobs" / "train_rl.py").is_file() for c in copies), copies  # the job's unpacked copy
    assert [p for c in copies for p in c.rglob("*.nbi")] == []

    records = [x for x in list_records(load_config().cluster.home, kind="train_rl")
               if x.result and x.result.get("checkpoint") == r["checkpoint"]]
    assert len(records) == 1 and records[0].status == "ok"
    assert records[0].command.startswith("python -m jobs.train_rl --algo dqn")


@pytest.mark.parametrize(("flags", "named"), [
    (["--timesteps", "0"], "--timesteps"),
    (["--algo", "a2c"], "--algo"),
    (["--folds", "0"], "--folds"),
    (["--seeds", "x"], "--seeds"),
    (["--fees-bps", "-1"], "--fees-bps"),
    (["--window", "0"], "--window"),
    (["--reward", "sharpe"], "--reward"),
    (["--action", "continuous"], "--action"),
    (["--timesteps", "500", "--batch", "1000"], "--batch"),
    (["--episode-bars", "5"], "--episode-bars"),
    (["--tune", "2", "--algo", "dqn"], "--tune"),
    (["--tune", "-1"], "--tune"),
    (["--name", "../x"], "--name"),
    (["--entropy", "2"], "--entropy"),
    (["--rule", "no_such_rule"], "--rule"),
    (["--rule-grid", "fast=5:900:5"], "--rule-grid"),
])
def test_bad_flags_exit_2_naming_the_flag(flags: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = cli.main(["train-rl", *flags])
    except SystemExit as exc:  # argparse's own type errors exit from the parser
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err


def test_python_m_jobs_train_rl_rejects_bad_input_before_ray() -> None:
    proc = subprocess.run([sys.executable, "-m", "jobs.train_rl", "--timesteps", "10"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "jobs.train_rl: error: --timesteps: must be an integer in 100..10000000, got 10"]
