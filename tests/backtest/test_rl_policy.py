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


def _export(home: Path, name: str, seed: int, action: str = "discrete", algo: str = "ppo", hidden: int = 16,
            **env: float) -> object:
    """A seeded, untrained PPO (or DQN) RLModule for TradingEnv, exported as rl:<name>; returns the RLModule."""
    import torch
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from jobs.train_rl import _GreedyExport

    bars = load_sample("ETH-BTC-5m")
    env_settings = {"window": 16, "action": action, "reward": "log", "fees_bps": 10.0, "slippage_bps": 0.0, **env}
    env_ = TradingEnv(bars.open, bars.close, EnvConfig(**env_settings))
    torch.manual_seed(seed)
    config = DQNConfig() if algo == "dqn" else PPOConfig()
    module = (config.environment(observation_space=env_.observation_space, action_space=env_.action_space)
              .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[hidden, hidden])).get_rl_module_spec().build())
    dim = int(env_.observation_space.shape[0])
    meta = PolicyMeta(name=name, algo=algo, env=env_settings, obs_dim=dim, n_actions=int(env_.action_space.n),
                      symbol=bars.symbol, timeframe=bars.timeframe)
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


# ------------------------------------------------------------------ the numba replay (backtest.rl_replay)
def _windows(seed: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` seeded windows of the two bundled samples, 52 (the minimum) to 600 bars."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        bars = load_sample(("ETH-BTC-5m", "XRP-ETH-1m")[k % 2])
        size = int(rng.choice([52, 60, 300, 500, 600]))
        start = int(rng.integers(0, len(bars) - size))
        out.append((bars.open[start: start + size], bars.close[start: start + size]))
    return out


@pytest.mark.parametrize(("algo", "action", "hidden", "env"), [
    ("ppo", "discrete", 16, {}),
    ("ppo", "long_only", 64, {"fees_bps": 4.0, "slippage_bps": 5.0}),
    ("dqn", "discrete", 64, {"slippage_bps": 2.0}),
    ("dqn", "long_only", 16, {}),
])
def test_fast_targets_are_the_torch_per_bar_targets(tmp_path: Path, algo: str, action: str, hidden: int,
                                                     env: dict) -> None:
    _export(tmp_path, "p", seed=hidden + len(action), action=action, algo=algo, hidden=hidden, **env)
    policy = load_policy("p", tmp_path)
    assert policy.mlp is not None and policy.mlp.dueling == (algo == "dqn")  # the fast path is taken
    seen: set[float] = set()
    for open_, close in _windows(seed=hidden, count=14):
        fast, ref = policy.targets(open_, close), policy.targets_torch(open_, close)
        assert np.array_equal(fast, ref)
        seen |= set(ref.tolist())
    assert len(seen) == (3 if action == "discrete" else 2)  # every action was played somewhere


def _scripted(seed: int, n_actions: int, seen: list[np.ndarray]):
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> int:
        seen.append(np.array(obs, dtype=np.float32))
        return int(rng.integers(n_actions))

    return act


@pytest.mark.parametrize(("action", "fees", "slip", "vol"), [
    ("discrete", 10.0, 5.0, 0.01), ("long_only", 0.0, 0.0, 0.01), ("discrete", 7.5, 30.0, 0.3)])
def test_replay_is_trading_env_bit_for_bit_under_any_actions(action: str, fees: float, slip: float,
                                                             vol: float) -> None:
    """A policy no bar can certify (all logits equal) hands every bar to ``act``: the replay must show ``act`` the
    environment's observations, bit for bit, and give its targets (ruin included: vol 0.3 per bar)."""
    from backtest.rl_policy import play_targets
    from backtest.rl_replay import MLP, replay

    rng = np.random.default_rng(7)
    close = np.exp(np.cumsum(rng.normal(0.0, vol, 400))) * 50.0
    open_ = np.concatenate([[50.0], close[:-1]]) * np.exp(rng.normal(0.0, vol / 4, 400))
    cfg = EnvConfig(action=action, fees_bps=fees, slippage_bps=slip, episode_bars=400)
    env = TradingEnv(open_, close, cfg)
    n_actions, dim = env.action_space.n, env.observation_space.shape[0]
    flat = MLP(weights=np.zeros(dim * n_actions + n_actions), dims=np.array([dim, n_actions]),
               acts=np.zeros(1, dtype=np.int64), n_actions=n_actions, dueling=False)
    for seed in range(4):
        seen_ref: list[np.ndarray] = []
        seen_fast: list[np.ndarray] = []
        ref = play_targets(open_, close, cfg, _scripted(seed, n_actions, seen_ref))
        fast = replay(flat, env._feat, env._open, env._close, env._levels, env._fee, env._slip, env._lo,
                      _scripted(seed, n_actions, seen_fast))
        assert np.array_equal(fast, ref)
        assert len(seen_fast) == len(seen_ref) and all(np.array_equal(a, b, equal_nan=True)
                                                       for a, b in zip(seen_fast, seen_ref))
        assert any(obs[-1] != 0.0 for obs in seen_ref)  # positions were open: the unrealised return was compared
    if vol > 0.1:  # this walk ruins a short or a long: the replay stopped where the environment terminated
        assert len(seen_ref) < 400 - env._lo


def _torch_mlp(layers: list, seed: int):
    import torch

    torch.manual_seed(seed)
    body = torch.nn.Sequential(*layers).eval()

    class Greedy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, obs):
            return torch.argmax(self.body(obs), dim=-1)

    with torch.no_grad():
        return body, torch.jit.trace(Greedy().eval(), torch.zeros((1, 22)), check_trace=False)


@pytest.mark.parametrize("act", ["tanh", "relu", "none"])
def test_the_certified_bounds_hold_against_torch_float32(act: str) -> None:
    import torch

    from backtest.rl_replay import extract_mlp, logits

    a = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}.get(act)
    mid = [a()] if a else []
    body, traced = _torch_mlp([torch.nn.Linear(22, 64), *mid, torch.nn.Linear(64, 64), *mid,
                               torch.nn.Linear(64, 3)], seed=3)
    mlp = extract_mlp(traced)
    assert mlp is not None and list(mlp.dims) == [22, 64, 64, 3]
    rng = np.random.default_rng(11)
    scale = rng.choice([0.1, 1.0, 30.0, 1e3], (2000, 1))  # observations are clipped to +-1e3
    obs = (rng.standard_normal((2000, 22)) * scale).astype(np.float32)
    with torch.no_grad():
        ref = np.concatenate([body(torch.from_numpy(o[None])).numpy() for o in obs]).astype(np.float64)
    values, bounds = zip(*(logits(mlp, o) for o in obs))
    values, bounds = np.array(values), np.array(bounds)
    assert np.all(np.abs(ref - values) <= bounds)  # torch's float32 within the bound, always
    unit = scale[:, 0] <= 1.0  # and not vacuous: on unit-scale inputs (as the features are) it is tiny
    assert np.median(bounds[unit] / (1.0 + np.abs(values[unit]))) < 1e-4


def test_ties_and_unknown_modules_fall_back_to_torch(tmp_path: Path) -> None:
    import torch

    from backtest.rl_replay import greedy

    bars = load_sample("ETH-BTC-5m")
    env = TradingEnv(bars.open, bars.close, EnvConfig())
    dim = int(env.observation_space.shape[0])
    meta = PolicyMeta(name="t", algo="ppo", env={"window": 16, "action": "discrete"}, obs_dim=dim, n_actions=3)
    # a head whose first and last rows are equal: a true tie whenever they lead, only torch knows its argmax
    body, traced = _torch_mlp([torch.nn.Linear(dim, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)], seed=4)
    with torch.no_grad():
        body[2].weight[2] = body[2].weight[0]
        body[2].bias[2] = body[2].bias[0]
    save_policy(policy_dir("t", tmp_path), traced, meta)
    policy = load_policy("t", tmp_path)
    assert policy.mlp is not None
    calls = []
    act = policy.act
    for open_, close in _windows(seed=2, count=6):
        ref = policy.targets_torch(open_, close)
        policy.act = lambda obs: calls.append(1) or act(obs)
        assert np.array_equal(policy.targets(open_, close), ref)
        policy.act = act
    assert calls  # some bars were ties: torch answered them
    nan_obs = np.zeros(dim, dtype=np.float32)
    nan_obs[0] = np.nan
    assert greedy(policy.mlp, nan_obs) == -1
    # a sigmoid is no recognised activation: every bar goes to torch, the same targets
    _, traced = _torch_mlp([torch.nn.Linear(dim, 16), torch.nn.Sigmoid(), torch.nn.Linear(16, 3)], seed=5)
    save_policy(policy_dir("s", tmp_path), traced, meta)
    other = load_policy("s", tmp_path)
    assert other.mlp is None
    open_, close = _windows(seed=3, count=1)[0]
    assert np.array_equal(other.targets(open_, close), other.targets_torch(open_, close))
