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

* **Serving an exported policy** (``rl:<name>``, section ``rl-policy``): the
  time of one ``RLPolicy.targets`` call on 500 bars of ETH-BTC-5m (what
  ``POST /v1/signals/rl:<name>`` and the StrategyRunner compute), for
  untrained seeded exports as ``raytrader train-rl --name`` writes them (PPO
  16x16 as in the tests, PPO and dueling DQN 64x64 as ``--hidden 64``, the
  default): the numba replay (:mod:`backtest.rl_replay`) beside the
  torch-per-bar reference it replaced (the TorchScript module once per bar
  under ``no_grad``, the Python ``TradingEnv`` stepped) and the torch-side
  variants tried first (``inference_mode``; one ``inference_mode`` around the
  loop with a persistent input tensor; the module frozen and
  ``optimize_for_inference``), each checked for identical targets; plus
  ``api.signals.compute_signal`` (the route's compute, no HTTP). Rounds
  alternate the variants; p50/p99 of wall time and the median CPU time.

Reproduce: ``.venv/bin/python -m benchmarks.rl`` (writes the ``rl`` and ``rl-policy`` sections of
``benchmarks/RESULTS.md``; ``--no-write`` prints only; ``--policy-only`` runs only the serving part, about a
minute). About 2-4 minutes on 2 cores.
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


def _export_policy(home: str, name: str, algo: str, hidden: int, seed: int) -> None:
    """A seeded, untrained RLModule for TradingEnv exported as ``rl:<name>`` the way ``jobs.train_rl`` does."""
    import torch
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from backtest.rl_env import EnvConfig, TradingEnv
    from backtest.rl_policy import PolicyMeta, policy_dir, save_policy
    from jobs.train_rl import _GreedyExport
    from market.samples import load_sample

    bars = load_sample("ETH-BTC-5m")
    env_settings = {"window": 16, "action": "discrete", "reward": "log", "fees_bps": 10.0, "slippage_bps": 0.0}
    env = TradingEnv(bars.open, bars.close, EnvConfig(**env_settings))
    torch.manual_seed(seed)
    config = DQNConfig() if algo == "dqn" else PPOConfig()
    module = (config.environment(observation_space=env.observation_space, action_space=env.action_space)
              .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[hidden, hidden])).get_rl_module_spec().build())
    dim = int(env.observation_space.shape[0])
    save_policy(policy_dir(name, home), _GreedyExport.trace(module, dim),
                PolicyMeta(name=name, algo=algo, env=env_settings, obs_dim=dim, n_actions=3,
                           symbol=bars.symbol, timeframe=bars.timeframe))


def _torch_variants(policy: Any) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """The torch-per-bar ways of computing ``policy.targets`` (the reference first)."""
    import warnings

    import torch

    from backtest.rl_policy import play_targets

    module = policy._module

    def no_grad_act(obs: np.ndarray) -> int:  # the implementation before the numba replay
        with torch.no_grad():
            out = module(torch.from_numpy(np.asarray(obs, dtype=np.float32).reshape(1, -1)))
        return int(out.reshape(-1)[0].item())

    def persistent(mod: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        buf = np.zeros((1, policy.meta.obs_dim), dtype=np.float32)
        tensor = torch.from_numpy(buf)

        def act(obs: np.ndarray) -> int:
            buf[0] = obs
            return int(mod(tensor)[0])

        def run(o: np.ndarray, c: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return play_targets(o, c, policy.meta.env_config(c.size), act)

        return run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(module.eval()))
    return {
        "torch per bar, no_grad per call (the reference: the implementation before)":
            lambda o, c: play_targets(o, c, policy.meta.env_config(c.size), no_grad_act),
        "torch per bar, inference_mode per call": policy.targets_torch,
        "torch per bar, one inference_mode + persistent input tensor": persistent(module),
        "the same, module frozen + optimize_for_inference": persistent(frozen),
    }


def policy_latency(rounds: int, calls: int) -> tuple[list[dict[str, Any]], int]:
    """Per exported policy and way: p50/p99 wall ms, median CPU ms, identical targets?; and the bar count."""
    import torch

    from api.signals import compute_signal
    from backtest.rl_policy import load_policy, resolve_strategy
    from market.samples import load_sample

    bars = load_sample("ETH-BTC-5m").take(slice(0, 500))
    o, c = bars.open, bars.close
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rlpol-", dir="/tmp") as home:
        os.environ["RAYTRADER_CLUSTER__HOME"] = home
        for name, algo, hidden in (("ppo16", "ppo", 16), ("ppo64", "ppo", 64), ("dqn64", "dqn", 64)):
            _export_policy(home, name, algo, hidden, seed=5)
            policy = load_policy(name, home)
            assert policy.mlp is not None, f"{name}: the fast path did not recognise the export"
            resolve_strategy(f"rl:{name}")  # loaded once, as the API's first request does
            reference = None
            ways: dict[str, Callable[[], Any]] = {}
            torch_ways = _torch_variants(policy)
            for label, fn in torch_ways.items():
                ways[label] = (lambda fn=fn: fn(o, c))
            ways["numba replay (`RLPolicy.targets`, now)"] = lambda p=policy: p.targets(o, c)
            ways["`compute_signal('rl:NAME', 500 bars)`, the route's compute"] = (
                lambda n=f"rl:{name}": compute_signal(n, bars, {}))
            same: dict[str, bool] = {}
            for label, fn in ways.items():
                got = fn()
                if reference is None:
                    reference = got
                if isinstance(got, np.ndarray):
                    same[label] = bool(np.array_equal(got, reference))
                else:
                    same[label] = got.position == float(reference[-1])
            wall: dict[str, list[float]] = {k: [] for k in ways}
            cpu: dict[str, list[float]] = {k: [] for k in ways}
            torch.set_num_threads(1)
            for _ in range(rounds):
                for label, fn in ways.items():
                    k = max(3, calls // 10) if label in torch_ways else calls
                    for _ in range(k):
                        t, p = time.perf_counter(), time.process_time()
                        fn()
                        wall[label].append(time.perf_counter() - t)
                        cpu[label].append(time.process_time() - p)
            ref_label = next(iter(ways))
            for label in ways:
                w = np.asarray(wall[label]) * 1e3
                rows.append({"policy": f"{algo.upper()} {hidden}x{hidden}", "way": label, "n": w.size,
                             "p50": float(np.percentile(w, 50)), "p99": float(np.percentile(w, 99)),
                             "cpu": float(np.median(cpu[label])) * 1e3, "same": same[label],
                             "cpu99": float(np.percentile(cpu[label], 99)) * 1e3,
                             "speedup": float(np.median(wall[ref_label]) / np.median(wall[label]))})
                print(f"{rows[-1]['policy']:>10} | {label}: p50 {rows[-1]['p50']:.3f} ms, p99 {rows[-1]['p99']:.3f} ms, "
                      f"cpu {rows[-1]['cpu']:.3f} ms, identical {same[label]}", flush=True)
    return rows, len(c)


def _policy_section(rows: list[dict[str, Any]], n_bars: int, rounds: int, load0: float, load: float) -> str:
    import torch

    lines = "\n".join(f"| {r['policy']} | {r['way']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu']:.2f} | "
                      f"{r['cpu99']:.2f} | {r['speedup']:.1f}x | {'yes' if r['same'] else '**no**'} | {r['n']} |"
                      for r in rows)
    fast = [r for r in rows if r["way"].startswith("numba")]
    ref = [r for r in rows if "reference" in r["way"]]
    worst, worst_cpu = max(r["p99"] for r in fast), max(r["cpu99"] for r in fast)
    gain = [f"{r['policy']} {a['cpu'] / r['cpu']:.0f}x" for r, a in zip(fast, ref)]
    loaded = max(load0, load) >= 2.5
    return f"""## RL: serving an exported policy, `rl:<name>` on 500 bars (`benchmarks/rl.py`)

{machine_line()}; torch {torch.__version__} (CPU, 1 thread); 1-minute load average {load0:.1f} at the start, \
{load:.1f} when it ended (the machine is shared: wall times include waiting for a core, CPU times do not).

One `RLPolicy.targets` call on {n_bars} bars of ETH-BTC-5m (the policy's target at every bar: what
`POST /v1/signals/rl:<name>` and the StrategyRunner compute), untrained seeded exports written as
`raytrader train-rl --name` writes them. {rounds} rounds alternate the ways; "identical" compares every
target with the reference's.

| policy | way | wall p50 ms | wall p99 ms | CPU ms, median | CPU ms, p99 | wall p50 speed-up | identical targets | calls |
|---|---|---:|---:|---:|---:|---:|:---:|---:|
{lines}

The numba replay needs {', '.join(gain)} less CPU time than the torch-per-bar reference, with identical
targets. Its compute: CPU time p99 {worst_cpu:.2f} ms at worst, {'inside' if worst_cpu <= 10 else '**outside**'} \
the signals API's p99 budget of 10 ms; wall p99 {worst:.2f} ms{
" (" + ("outside" if worst > 10 else "inside") + " it on this loaded machine: with the load above its 2 CPUs "
"a call waits for a core for most of its wall time)" if loaded else (": inside" if worst <= 10 else ": **outside**")}.
The torch-side variants alone stay near the per-call cost of the TorchScript module (one call per bar).

Reproduce: `.venv/bin/python -m benchmarks.rl --policy-only`.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000, help="environment steps per timing (default 200000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4000, help="PPO env steps per iteration (default 4000)")
    parser.add_argument("--iterations", type=int, default=3, help="timed PPO iterations (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--policy-only", action="store_true", help="only the served-policy latency (rl-policy)")
    parser.add_argument("--policy-rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--policy-calls", type=int, default=40,
                        help="numba calls per way and round; torch ways a tenth, at least 3 (default 40)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    rows, n_bars = policy_latency(args.policy_rounds, args.policy_calls)
    md = _policy_section(rows, n_bars, args.policy_rounds, load0, os.getloadavg()[0])
    print(md)
    if not args.no_write:
        write_section("rl-policy", md)
    if args.policy_only:
        return 0
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
