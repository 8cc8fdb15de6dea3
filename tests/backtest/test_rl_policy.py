"""``rl:<name>`` strategies: an RLModule exported with torch.jit (no Ray to load), replayed through TradingEnv.

The module here is RLlib's default PPO module with seeded random weights (no training: what is tested is the
export and the adapter, not learning; the trained policy's export is tested in tests/jobs/test_train_rl.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.rl_env import EnvConfig, TradingEnv
from backtest.rl_policy import (PolicyMeta, RLPolicyNotFoundError, load_policy, policy_dir, resolve_strategy,
                                save_policy, warmup_bars)
from market.samples import load_sample
from strategies.errors import InsufficientDataError, UnknownStrategyError


def _export(home: Path, name: str, seed: int, action: str = "discrete") -> object:
    """A seeded, untrained PPO RLModule for TradingEnv, exported as rl:<name>; returns the RLModule."""
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from jobs.train_rl import _GreedyExport

    bars = load_sample("ETH-BTC-5m")
    env = TradingEnv(bars.open, bars.close, EnvConfig(action=action))
    torch.manual_seed(seed)
    module = (PPOConfig().environment(observation_space=env.observation_space, action_space=env.action_space)
              .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[16, 16])).get_rl_module_spec().build())
    dim = int(env.observation_space.shape[0])
    meta = PolicyMeta(name=name, algo="ppo", env={"window": 16, "action": action, "reward": "log",
                                                  "fees_bps": 10.0, "slippage_bps": 0.0},
                      obs_dim=dim, n_actions=int(env.action_space.n), symbol=bars.symbol, timeframe=bars.timeframe)
    save_policy(policy_dir(name, home), _GreedyExport.trace(module, dim), meta)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    home = tmp_path_factory.mktemp("rl-home")
    return home, _export(home, "rand", seed=5)


def test_targets_are_the_modules_greedy_actions_played_through_the_environment(exported) -> None:
    from jobs.train_rl import module_policy, play

    home, module = exported
    bars = load_sample("ETH-BTC-5m").take(slice(0, 1200))
    strategy = resolve_strategy("rl:rand", home)
    targets = strategy.run(bars)
    lo = warmup_bars(16)
    assert np.all(targets[:lo] == 0.0)
    # the same module, straight from RLlib (not the export), played from flat at the first bar with features
    env = TradingEnv(bars.open, bars.close, EnvConfig(episode_bars=len(bars)))
    _, actions = play(env, lo, module_policy(module), 1.0)
    levels = np.array([-1.0, 0.0, 1.0])
    assert list(targets[lo:-1]) == list(levels[actions])
    assert len(set(targets[lo:])) >= 2  # a policy that never acts would make this comparison empty
    # and the targets mean in the engine what they meant in the environment: same equity, bar for bar
    env.reset(options={"start": lo})
    equity = [env.step(a)[4]["equity"] for a in actions]
    ref = run_backtest(bars, targets, fees_bps=10.0, cash=1.0)
    assert np.array_equal(np.asarray(equity), ref.equity[lo + 1: lo + 1 + len(equity)])


def test_the_target_at_bar_t_uses_bars_up_to_t_only(exported) -> None:
    home, _ = exported
    bars = load_sample("ETH-BTC-5m").take(slice(0, 900))
    strategy = resolve_strategy("rl:rand", home)
    full = strategy.run(bars)
    for k in (strategy.min_bars({}), 200, 531, 899):
        part = strategy.run(bars.take(slice(0, k)))
        assert list(part) == list(full[:k]), k


def test_min_bars_is_exact_and_short_windows_are_refused(exported) -> None:
    home, _ = exported
    bars = load_sample("ETH-BTC-5m")
    strategy = resolve_strategy("rl:rand", home)
    need = strategy.min_bars({})
    assert need == warmup_bars(16) + 3
    assert strategy.run(bars.take(slice(0, need))).shape == (need,)
    with pytest.raises(InsufficientDataError):
        strategy.run(bars.take(slice(0, need - 1)))


def test_unknown_or_malformed_policy_names_are_unknown_strategies(exported) -> None:
    home, _ = exported
    with pytest.raises(RLPolicyNotFoundError, match="no exported policy rl:nope in"):
        resolve_strategy("rl:nope", home)
    for bad in ("rl:", "rl:../x", "rl:a/b", "rl:" + "x" * 49):
        with pytest.raises(UnknownStrategyError, match="is not a policy name"):
            resolve_strategy(bad, home)
    assert resolve_strategy("sma_cross", home).name == "sma_cross"


def test_a_retrained_policy_of_the_same_name_replaces_the_cached_one(tmp_path: Path) -> None:
    bars = load_sample("ETH-BTC-5m").take(slice(0, 700))
    _export(tmp_path, "p", seed=1)
    first = resolve_strategy("rl:p", tmp_path).run(bars)
    assert resolve_strategy("rl:p", tmp_path) is resolve_strategy("rl:p", tmp_path)
    time.sleep(0.01)
    _export(tmp_path, "p", seed=2)
    path = policy_dir("p", tmp_path) / "policy.pt"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # coarse file clocks: a distinct mtime
    second = resolve_strategy("rl:p", tmp_path).run(bars)
    assert list(second) == list(load_policy("p", tmp_path).targets(bars.open, bars.close))
    assert list(first) != list(second)


def test_the_signal_api_answers_from_the_policy(exported, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.signals import compute_signal

    home, _ = exported
    monkeypatch.setenv("RAYTRADER_CLUSTER__HOME", str(home))
    bars = load_sample("ETH-BTC-5m").take(slice(0, 400))
    signal = compute_signal("rl:rand", bars, {})
    assert signal.strategy == "rl:rand" and signal.params == {}
    assert signal.position == load_policy("rand", home).targets(bars.open, bars.close)[-1]
    assert signal.bar_timestamp == int(bars.timestamp[-1])
    with pytest.raises(UnknownStrategyError):
        compute_signal("rl:missing", bars, {})
