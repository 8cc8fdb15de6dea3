"""RL speed: the trading environment's steps/s on one core, and RLlib PPO sampling and training on 2 CPUs,
each beside the same measurement on gymnasium's CartPole-v1 in the same run (for scale).

* **Environment steps/s, one core**: :class:`backtest.rl_env.TradingEnv`
  (discrete actions, the default 16-return window, the bundled ETH-BTC-5m
  bars; one long episode) stepped with pre-drawn random actions, reset
  included when an episode ends; CartPole-v1 the same way. Target: at least
  20,000 steps/s for TradingEnv (issue 17). Medians of ``--repeats`` runs.
* **RLlib, 2 CPUs**: a private local Ray instance (``address="local"``,
  ``num_cpus=2``, its own temp folder; never the running cluster), PPO on the
  new API stack, torch on CPU: one remote env runner (1 CPU) and the local
  learner (1 CPU), ``--batch`` env steps per iteration, minibatch 128,
  5 epochs, a 64x64 MLP (what ``raytrader train-rl`` trains). *Sampling*:
  ``env_runner.sample(num_timesteps=batch)`` on the remote runner, timed from
  the driver; *training*: whole ``Algorithm.train()`` iterations (sampling
  plus learner updates), env steps per wall second. Medians over
  ``--iterations`` iterations after one warm-up iteration.

Reproduce: ``.venv/bin/python -m benchmarks.rl`` (writes the ``rl`` section of
``benchmarks/RESULTS.md``; ``--no-write`` prints only). About 2-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any, Callable

import numpy as np

from benchmarks._results import machine_line, write_section

_ENV = "raytrader-bench-trading-env"


def _trading_env(config: dict[str, Any] | None = None) -> Any:
    from backtest.rl_env import EnvConfig, TradingEnv
    from market.samples import load_sample

    bars = load_sample("ETH-BTC-5m")
    return TradingEnv(bars.open, bars.close, EnvConfig(episode_bars=(config or {}).get("episode_bars", 250)))


def _cartpole(_config: dict[str, Any] | None = None) -> Any:
    import gymnasium as gym

    return gym.make("CartPole-v1")


def env_steps_per_second(make: Callable[[], Any], steps: int, seed: int = 0) -> tuple[float, float]:
    """Random-action steps per second (resets counted in the time), one process, one thread: per wall-clock second
    and per second of this process's CPU time (on a loaded machine the wall clock includes waiting for a core)."""
    env = make()
    n = env.action_space.n
    actions = np.random.default_rng(seed).integers(0, n, steps)
    env.reset(seed=seed)
    t, c = time.perf_counter(), time.process_time()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t), steps / max(time.process_time() - c, 1e-9)


def _ppo(env: str, batch: int) -> Any:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return (PPOConfig()
            .environment(env, env_config={"episode_bars": 250})
            .framework("torch")
            .env_runners(num_env_runners=1, num_envs_per_env_runner=1, num_cpus_per_env_runner=1)
            .learners(num_learners=0)
            .training(train_batch_size_per_learner=batch, minibatch_size=128, num_epochs=5, lr=1e-3)
            .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
            .debugging(seed=0, log_level="ERROR"))


def rllib_throughput(env: str, batch: int, iterations: int) -> dict[str, float]:
    """Build time (s), sampling and training env steps/s (medians) of PPO on ``env``."""
    t = time.perf_counter()
    algo = _ppo(env, batch).build_algo()
    build = time.perf_counter() - t
    try:
        algo.train()  # warm-up
        sample, train = [], []
        for _ in range(iterations):
            t = time.perf_counter()
            got = algo.env_runner_group.foreach_env_runner(lambda r: len(r.sample(num_timesteps=batch)),
                                                           local_env_runner=False)
            assert got, "no remote env runner answered"
            sample.append(batch / (time.perf_counter() - t))
            before = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
            t = time.perf_counter()
            result = algo.train()
            steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - before
            train.append(steps / (time.perf_counter() - t))
        return {"build_s": build, "sample": statistics.median(sample), "train": statistics.median(train)}
    finally:
        algo.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000, help="environment steps per timing (default 200000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4000, help="PPO env steps per iteration (default 4000)")
    parser.add_argument("--iterations", type=int, default=3, help="timed PPO iterations (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    env_rate, env_cpu = {}, {}
    load0 = os.getloadavg()[0]
    for label, make in (("TradingEnv", _trading_env), ("CartPole-v1", _cartpole)):
        env_steps_per_second(make, 2_000)
        runs = [env_steps_per_second(make, args.steps, seed=i) for i in range(args.repeats)]
        env_rate[label] = statistics.median(r[0] for r in runs)
        env_cpu[label] = statistics.median(r[1] for r in runs)
        print(f"{label}: {env_rate[label]:,.0f} steps/s ({env_cpu[label]:,.0f} per CPU second)", flush=True)

    import ray
    from ray.tune.registry import register_env

    os.environ.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="rlb-", dir="/tmp") as tmp:
        for attempt in range(6):  # Ray gives its raylet 30 s to register: a loaded machine can take longer
            try:
                ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=tmp)
                break
            except Exception:
                ray.shutdown()
                if attempt == 5:
                    raise
                time.sleep(15)
        try:
            register_env(_ENV, _trading_env)
            register_env("bench-cartpole", _cartpole)
            rllib = {label: rllib_throughput(env, args.batch, args.iterations)
                     for label, env in (("TradingEnv", _ENV), ("CartPole-v1", "bench-cartpole"))}
        finally:
            ray.shutdown()
    for label, r in rllib.items():
        print(f"{label}: {r}", flush=True)
    load = os.getloadavg()[0]
    import ray as _ray

    tr, cp = rllib["TradingEnv"], rllib["CartPole-v1"]
    verdict = "meets" if env_rate["TradingEnv"] >= 20_000 else "MISSES"
    cpu_verdict = "meets" if env_cpu["TradingEnv"] >= 20_000 else "misses"
    md = f"""## RL: environment and RLlib PPO throughput (`benchmarks/rl.py`)

{machine_line()}; ray {_ray.__version__}, torch {torch.__version__} (CPU, 1 thread); 1-minute load average \
{load0:.1f} at the start, {load:.1f} when it ended.

| | TradingEnv (ETH-BTC-5m, 16-return window) | CartPole-v1 | ratio |
|---|---:|---:|---:|
| env steps/s, one core, random actions (median of {args.repeats} x {args.steps:,}) | {env_rate['TradingEnv']:,.0f} | \
{env_rate['CartPole-v1']:,.0f} | {env_rate['TradingEnv'] / env_rate['CartPole-v1']:.2f} |
| the same per second of the process's CPU time | {env_cpu['TradingEnv']:,.0f} | {env_cpu['CartPole-v1']:,.0f} | \
{env_cpu['TradingEnv'] / env_cpu['CartPole-v1']:.2f} |
| PPO build (s) | {tr['build_s']:.1f} | {cp['build_s']:.1f} | |
| RLlib sampling, 1 remote env runner: env steps/s | {tr['sample']:,.0f} | {cp['sample']:,.0f} | {tr['sample'] / cp['sample']:.2f} |
| PPO training, `train()` incl. sampling: env steps/s | {tr['train']:,.0f} | {cp['train']:,.0f} | {tr['train'] / cp['train']:.2f} |

TradingEnv {verdict} the 20,000 steps/s target on one core in wall-clock time and {cpu_verdict} it per CPU second{
"" if max(load0, load) < 2.5 else " (the machine was loaded by other work, load above its 2 CPUs: the wall-clock rates include "
"waiting for a core, the CPU-time rates are the closer measure of the work)"}. RLlib: a private local Ray instance with 2 CPUs (1 env
runner + the local learner), PPO on the new API stack, {args.batch} env steps per iteration, minibatch 128, 5 epochs,
64x64 MLP; medians of {args.iterations} iterations after a warm-up. Sampling is timed from the driver around one
`sample()` call on the remote runner (one Ray round trip included).

Reproduce: `.venv/bin/python -m benchmarks.rl`.
"""
    print(md)
    if not args.no_write:
        write_section("rl", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
