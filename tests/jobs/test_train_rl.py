"""RL training (RLlib PPO on TradingEnv) on the shared test cluster: learning, walk-forward hygiene, checkpoints, flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backtest.rl_env import TradingEnv
from cluster import cli
from jobs.train_rl import MODULE_PATH, TrainRLRequest, module_policy, play, random_episode_returns
from market.samples import load_sample

REPO = Path(__file__).resolve().parents[2]


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1, lines[-20:]
    return json.loads(lines[0])


def test_train_rl_learns_evaluates_out_of_sample_and_round_trips(cluster, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from ray.rllib.core.rl_module.rl_module import RLModule

    assert "cluster.commands.train_rl" in cli.COMMAND_MODULES
    ckpt_dir = tmp_path / "ckpt"
    assert cli.main(["train-rl", "--sample", "ETH-BTC-5m", "--algo", "ppo", "--timesteps", "3000", "--batch", "500",
                     "--folds", "2", "--seeds", "1", "--seed", "3", "--checkpoint", str(ckpt_dir), "--json"]) == 0
    r = _json(capsys)
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


def test_train_rl_dqn_checkpoint_round_trips_on_the_cluster(cluster, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train-rl", "--algo", "dqn", "--timesteps", "500", "--batch", "250", "--folds", "1",
                     "--seeds", "1", "--checkpoint", str(tmp_path), "--json"]) == 0
    r = _json(capsys)
    assert r["algo"] == "dqn" and r["request"]["algo"] == "dqn"
    (fold,) = r["folds"]
    assert fold["seeds"][0]["env_steps"] >= 500
    assert fold["seeds"][0]["train_env_bars"] == fold["train_end"] <= fold["test_start"]
    assert r["roundtrip_identical"] is True and r["roundtrip_actions"] == fold["test_end"] - 1 - fold["test_start"]


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
