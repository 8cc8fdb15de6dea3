"""The RL trading environment: gymnasium's checker, no lookahead, and the backtest engine's equity for the same targets."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from backtest.engine import run_backtest
from backtest.errors import BacktestInputError
from backtest.rl_env import EnvConfig, TradingEnv, features
from market.samples import load_sample
from strategies.registry import get_strategy


@pytest.fixture(scope="module")
def bars():
    return load_sample("ETH-BTC-5m")


@pytest.mark.parametrize("action", ["discrete", "long_only", "continuous"])
@pytest.mark.parametrize("reward", ["log", "dsr", "drawdown"])
def test_gymnasium_check_env(bars, action: str, reward: str) -> None:
    env = TradingEnv(bars.open, bars.close, EnvConfig(action=action, reward=reward, episode_bars=200))
    check_env(env, skip_render_check=True)


def test_features_use_only_past_bars(bars) -> None:
    c = bars.close.copy()
    a = features(c, 16)
    c[3000:] *= np.linspace(1.0, 3.0, c.size - 3000)  # rewrite the future from bar 3000
    b = features(c, 16)
    assert np.array_equal(a[:3000], b[:3000], equal_nan=True)
    assert not np.allclose(a[3000:], b[3000:], equal_nan=True)


def test_observation_at_step_t_ignores_later_bars(bars) -> None:
    env1 = TradingEnv(bars.open, bars.close, EnvConfig(episode_bars=500))
    o2, c2 = bars.open.copy(), bars.close.copy()
    o2[1300:] *= 2.0
    c2[1300:] *= 2.0
    env2 = TradingEnv(o2, c2, EnvConfig(episode_bars=500))
    ob1, _ = env1.reset(options={"start": 1000})
    ob2, _ = env2.reset(options={"start": 1000})
    rng = np.random.default_rng(0)
    for t in range(1000, 1299):
        assert np.array_equal(ob1, ob2), t
        a = int(rng.integers(3))
        ob1, *_ = env1.step(a)
        ob2, *_ = env2.step(a)
    assert np.array_equal(ob1, ob2)  # bar 1299's observation: still only bars <= 1299


@pytest.mark.parametrize("fees_bps, slippage_bps", [(10.0, 0.0), (25.0, 5.0), (0.0, 0.0)])
def test_equity_equals_the_engine_for_the_same_targets(bars, fees_bps: float, slippage_bps: float) -> None:
    """sma_cross targets played as actions give run_backtest's equity curve, bar for bar."""
    sma = get_strategy("sma_cross")
    target = np.nan_to_num(np.asarray(sma.fn(bars, fast=12, slow=48), dtype=np.float64))
    env = TradingEnv(bars.open, bars.close,
                     EnvConfig(action="long_only", fees_bps=fees_bps, slippage_bps=slippage_bps, episode_bars=10**9))
    start = 100
    env.reset(options={"start": start})
    eq = [1.0]
    for t in range(start, bars.close.size - 1):
        _, _, term, trunc, info = env.step(int(target[t]))
        eq.append(info["equity"])
        if term or trunc:
            break
    tgt = target.copy()
    tgt[:start] = 0.0  # the env starts flat at bar `start`
    ref = run_backtest(bars, tgt, fees_bps=fees_bps, slippage_bps=slippage_bps, cash=1.0)
    engine_eq = ref.equity[start:start + len(eq)]
    assert np.array_equal(np.asarray(eq), engine_eq)
    assert env.fees_paid == pytest.approx(float(ref.fees.sum()), rel=1e-12)


def test_log_rewards_sum_to_the_log_growth(bars) -> None:
    env = TradingEnv(bars.open, bars.close, EnvConfig(episode_bars=300))
    env.reset(seed=3)
    total, done = 0.0, False
    rng = np.random.default_rng(1)
    while not done:
        _, r, term, trunc, info = env.step(int(rng.integers(3)))
        total += r
        done = term or trunc
    assert total == pytest.approx(np.log(info["equity"]), rel=1e-9)


def test_short_ruin_terminates() -> None:
    n = 200
    noise = 1 + 0.001 * np.sin(np.arange(n))
    close = np.concatenate([np.full(100, 100.0), np.linspace(100, 400, n - 100)]) * noise
    env = TradingEnv(close, close, EnvConfig(window=4, action="continuous", fees_bps=0.0, episode_bars=10**6))
    env.reset(options={"start": 60})
    for _ in range(n):
        _, r, term, trunc, info = env.step(np.array([-1.0], dtype=np.float32))
        if term or trunc:
            break
    assert term and r == pytest.approx(np.log(1e-6)) and info["equity"] == 0.0


def test_episodes_start_inside_the_training_period(bars) -> None:
    env = TradingEnv(bars.open, bars.close, EnvConfig(start=500, end=2000, episode_bars=100))
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert 500 <= info["bar"] < 2000
    env.reset(options={"start": 1990})
    for _ in range(20):
        *_, trunc, info = env.step(1)
        if trunc:
            break
    assert info["bar"] <= 2000


@pytest.mark.parametrize("kwargs, field", [({"window": 0}, "window"), ({"action": "x"}, "action"),
                                           ({"reward": "x"}, "reward"), ({"fees_bps": -1}, "fees_bps"),
                                           ({"episode_bars": 1}, "episode_bars")])
def test_bad_config_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(BacktestInputError, match=field):
        EnvConfig(**kwargs)
