"""Reinforcement learning on real bars: PPO (RLlib, new API stack) on ``backtest.rl_env.TradingEnv``, walk-forward.

The bars are cut into ``folds + 1`` equal, consecutive segments. Fold ``k``
trains a fresh policy on segment ``k`` and evaluates it on segment ``k + 1``
(rolling, never on its own training bars); every fold and seed is one Ray
task holding a fraction of a CPU (sized to the free CPUs by
:mod:`jobs.resources`), inside which RLlib runs with ``num_env_runners=0``
and ``num_learners=0`` (torch on CPU, one thread).

Index conventions (bars as positions in the series):

* training on ``[train_start, train_end)``: the training environment is
  built on ``open[:train_end]``/``close[:train_end]`` only, so no bar at or
  after ``train_end`` exists for it; episodes start in ``[train_start,
  train_end - 1)``.
* evaluation on ``[test_start, test_end)`` with ``test_start == train_end``:
  an environment on ``open[:test_end]``/``close[:test_end]``, reset at
  ``test_start`` from flat (equity 1.0), the greedy action (argmax of the
  RLModule's ``forward_inference``) at every bar until ``test_end - 1``.
  Observations at ``test_start`` use earlier closes for their indicators
  (causal features), never later ones.

Buy-and-hold (always long) and flat (never trades) play the same test
windows through the same environment, so fees, slippage and the fill at the
next open are the engine's for all three (``TradingEnv`` is bit-identical to
``backtest.engine.run_backtest`` for the same targets). Returns, drawdowns,
turnover and fees are fractions of the fold's starting equity, net of costs;
Sharpe is annualised from per-bar returns with the series' bars per year.
The total chains the folds' test curves (each fold restarts from flat).

The last fold's first seed is checkpointed (``Algorithm.save_to_path``); its
task loads only the saved RLModule (``RLModule.from_checkpoint``, a fresh
module built from the files) and replays the last test window: the round trip
must give identical actions. The driver unpacks the same files as the
run's checkpoint (and, with ``--name``, exports and replays the policy).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import sys
import tarfile
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from jobs._entry import run_job_main
from jobs.inputs import MAX_SEED, add_data_arguments, data_fields, describe_source, load_request_bars, parse_seed
from raytrader.errors import InputError

__all__ = ["TrainRLRequest", "FoldSpan", "PolicyMetrics", "SeedResult", "FoldResult", "TrainRLReport", "ALGOS",
           "add_train_rl_arguments", "request_from_args", "plan_folds", "play", "random_episode_returns",
           "run_train_rl", "module_policy", "MODULE_PATH", "main"]

#: algorithms this job trains: PPO (on-policy) and DQN (off-policy, double and dueling Q by RLlib's defaults)
ALGOS = ("ppo", "dqn")

#: where the RLModule lives inside an ``Algorithm.save_to_path`` checkpoint
MODULE_PATH = ("learner_group", "learner", "rl_module", "default_policy")

#: the rule baseline's grid (``--rule-grid``), chosen per fold on the training window by in-sample Sharpe
RULE_GRID = ("fast=5:40:5", "slow=20:160:20")

#: what ``--tune N`` samples N configurations from (PPO): learning rate, entropy bonus, epochs per batch
TUNE_SPACE: dict[str, tuple[float | int, ...]] = {"lr": (1e-4, 3e-4, 1e-3, 3e-3), "entropy": (0.0, 0.01, 0.05),
                                                   "epochs": (3, 5, 10)}
_TUNE_KEYS = {"lr": "lr", "entropy": "entropy_coeff", "epochs": "num_epochs"}
#: what ASHA ranks trials by: the mean training-episode return (log return net of costs, per episode)
TUNE_METRIC = "env_runners/episode_return_mean"

#: CPUs a training task asks for when free (less is fine: the largest free share is used)
TASK_CPUS = 1.0

_ENV_NAME = "raytrader-trading-env"
_ACTION_LONG = {"discrete": 2, "long_only": 1}
_ACTION_FLAT = {"discrete": 1, "long_only": 0}


@dataclass(frozen=True)
class TrainRLRequest:
    """What to train and how to evaluate it (fees and slippage in bps per side; ``timesteps`` per fold and seed)."""

    data: str | tuple[str, ...] = ""
    sample: str | tuple[str, ...] = ""
    symbol: str | tuple[str, ...] | None = None
    timeframe: str | None = None
    venue: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    algo: str = "ppo"
    timesteps: int = 8000
    folds: int = 3
    seeds: int = 3
    seed: int = 0
    fees_bps: float = 10.0
    slippage_bps: float = 0.0
    window: int = 16
    action: str = "discrete"
    reward: str = "log"
    episode_bars: int = 250
    batch: int = 1000
    lr: float = 1e-3
    hidden: int = 64
    eval_episodes: int = 8
    checkpoint: str = ""
    name: str = ""
    entropy: float = 0.0
    epochs: int = 5
    tune: int = 0
    rule: str = "sma_cross"
    rule_grid: tuple[str, ...] = RULE_GRID

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise InputError(f"--algo: must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.action not in _ACTION_LONG:
            raise InputError(f"--action: must be discrete or long_only, got {self.action!r}")
        checks = (("--timesteps", self.timesteps, 100, 10_000_000), ("--folds", self.folds, 1, 50),
                  ("--seeds", self.seeds, 1, 20), ("--seed", self.seed, 0, MAX_SEED),
                  ("--episode-bars", self.episode_bars, 10, 100_000), ("--batch", self.batch, 64, 1_000_000),
                  ("--hidden", self.hidden, 4, 1024), ("--eval-episodes", self.eval_episodes, 1, 1000),
                  ("--epochs", self.epochs, 1, 100), ("--tune", self.tune, 0, 64))
        for flag, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not (lo <= value <= hi):
                raise InputError(f"{flag}: must be an integer in {lo}..{hi}, got {value!r}")
        if not (isinstance(self.lr, float) and math.isfinite(self.lr) and 0.0 < self.lr < 1.0):
            raise InputError(f"--lr: must be a number in (0, 1), got {self.lr!r}")
        if self.name:
            from backtest.rl_policy import policy_dir  # noqa: PLC0415 - the name rule lives with the policies

            try:
                policy_dir(self.name, "/")
            except InputError as exc:
                raise InputError(f"--name: {str(exc).partition(': ')[2]}") from None
        if not (isinstance(self.entropy, float) and math.isfinite(self.entropy) and 0.0 <= self.entropy < 1.0):
            raise InputError(f"--entropy: must be a number in [0, 1), got {self.entropy!r}")
        if self.tune and self.algo != "ppo":
            raise InputError(f"--tune: tunes PPO's hyperparameters; not with --algo {self.algo}")
        if self.tune and self.batch < self.episode_bars:
            raise InputError(f"--tune: needs --batch >= --episode-bars ({self.episode_bars}) so that every "
                             f"iteration reports an episode return for ASHA, got --batch {self.batch}")
        if self.batch > self.timesteps:
            raise InputError(f"--batch: {self.batch} steps per iteration exceeds --timesteps {self.timesteps}")
        try:
            self.env_config()  # the environment's own checks: window, reward, fees, slippage
        except InputError as exc:
            field_name, _, why = str(exc).partition(":")
            raise InputError(f"--{field_name.replace('_', '-')}:{why}") from None

    def env_config(self, start: int | None = None, episode_bars: int | None = None) -> Any:
        """The environment's settings (training episodes of ``episode_bars``; evaluation passes its window's length)."""
        from backtest.rl_env import EnvConfig  # noqa: PLC0415

        return EnvConfig(window=self.window, action=self.action, reward=self.reward,  # type: ignore[arg-type]
                         fees_bps=self.fees_bps, slippage_bps=self.slippage_bps,
                         episode_bars=episode_bars or self.episode_bars, start=start)

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class FoldSpan:
    """One fold's bars as half-open index ranges; ``train_end <= test_start`` always."""

    fold: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class PolicyMetrics:
    """A policy played on a window from flat: fractions of starting equity (return, drawdown, turnover, fees)."""

    total_return: float
    sharpe: float
    max_drawdown: float
    turnover: float
    fees: float
    trades: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SeedResult:
    """One seed of one fold: the greedy policy out-of-sample, and what training did in-sample.

    ``train_env_bars`` is how many bars the training environment held (``train_end``: none of the test window).
    """

    seed: int
    train_env_bars: int
    test: PolicyMetrics
    iterations: int
    env_steps: int
    first_iteration_return: float | None
    last_iteration_return: float | None
    greedy_train_return: float
    random_train_return: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "test": self.test.to_json()}


@dataclass(frozen=True)
class FoldResult:
    """A fold: its index ranges, bar times (ms UTC), each seed's agent, and the baselines on the same window."""

    span: FoldSpan
    train_time: tuple[int, int]
    test_time: tuple[int, int]
    seeds: tuple[SeedResult, ...]
    buy_hold: PolicyMetrics
    flat: PolicyMetrics
    rule: PolicyMetrics
    rule_params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        returns = [s.test.total_return for s in self.seeds]
        return {**self.span.to_json(), "train_time": list(self.train_time), "test_time": list(self.test_time),
                "seeds": [s.to_json() for s in self.seeds], "buy_hold": self.buy_hold.to_json(),
                "flat": self.flat.to_json(), "rule": {**self.rule.to_json(), "params": dict(self.rule_params)},
                "agent_return_mean": float(np.mean(returns)),
                "agent_return_min": float(np.min(returns)), "agent_return_max": float(np.max(returns))}


@dataclass(frozen=True)
class TrainRLReport:
    """The whole run: per fold, and in total over the chained test windows (agent per seed, buy-and-hold, flat)."""

    request: TrainRLRequest
    source: str
    symbol: str
    timeframe: str
    bars: int
    periods_per_year: float
    folds: tuple[FoldResult, ...]
    total_agent: tuple[PolicyMetrics, ...]
    total_buy_hold: PolicyMetrics
    total_flat: PolicyMetrics
    total_rule: PolicyMetrics
    task_cpus: float
    checkpoint: str
    roundtrip_actions: int
    roundtrip_identical: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        returns = [m.total_return for m in self.total_agent]
        sharpes = [m.sharpe for m in self.total_agent]
        return {"job": "train_rl", "request": self.request.to_json(), "algo": self.request.algo, "source": self.source,
                "symbol": self.symbol, "timeframe": self.timeframe, "bars": self.bars,
                "periods_per_year": self.periods_per_year, "fees_bps": self.request.fees_bps,
                "folds": [f.to_json() for f in self.folds],
                "total": {"agent": [m.to_json() for m in self.total_agent],
                          "agent_return_mean": float(np.mean(returns)), "agent_return_min": float(np.min(returns)),
                          "agent_return_max": float(np.max(returns)), "agent_sharpe_mean": float(np.mean(sharpes)),
                          "agent_sharpe_min": float(np.min(sharpes)), "agent_sharpe_max": float(np.max(sharpes)),
                          "buy_hold": self.total_buy_hold.to_json(), "flat": self.total_flat.to_json(),
                          "rule": self.total_rule.to_json()},
                "rule": self.request.rule, "rule_grid": list(self.request.rule_grid),
                "task_cpus": self.task_cpus, "checkpoint": self.checkpoint,
                "roundtrip_actions": self.roundtrip_actions, "roundtrip_identical": self.roundtrip_identical,
                "seconds": self.seconds, **self.extra}


# ---------------------------------------------------------------------------------------------------- pure parts
def plan_folds(n_bars: int, folds: int, warmup: int) -> tuple[FoldSpan, ...]:
    """``folds`` rolling folds over ``n_bars``: ``folds + 1`` equal segments after ``warmup`` bars.

    Raises:
        InputError: a segment would be shorter than 20 bars.
    """
    usable = n_bars - warmup
    seg = usable // (folds + 1)
    if seg < 20:
        raise InputError(f"--folds: {folds} folds leave {seg} bars per segment of {n_bars} bars "
                         f"({warmup} warm-up); need at least 20")
    cuts = [warmup + i * seg for i in range(folds + 2)]
    cuts[-1] = n_bars
    return tuple(FoldSpan(k, cuts[k], cuts[k + 1], cuts[k + 1], cuts[k + 2]) for k in range(folds))


def play(env: Any, start: int, policy: Callable[[np.ndarray], int], periods_per_year: float
         ) -> tuple[PolicyMetrics, list[int]]:
    """Play ``policy`` on ``env`` from flat at bar ``start`` until the environment's last bar.

    Returns the metrics of the equity curve (equity 1.0 at ``start``'s close) and the actions taken.
    """
    from backtest.metrics import max_drawdown, sharpe  # noqa: PLC0415

    obs, info = env.reset(options={"start": start})
    equity, actions, trades = [1.0], [], 0
    held = info["target"]
    done = False
    while not done:
        action = policy(obs)
        obs, _, terminated, truncated, info = env.step(action)
        actions.append(action)
        trades += info["target"] != held
        held = info["target"]
        equity.append(info["equity"])
        done = terminated or truncated
    curve = np.asarray(equity)
    return PolicyMetrics(total_return=float(curve[-1] - 1.0), sharpe=sharpe(curve, periods_per_year),
                         max_drawdown=max_drawdown(curve), turnover=float(info["turnover"]),
                         fees=float(info["fees_paid"]), trades=int(trades)), actions


def _chain(parts: Sequence[tuple[np.ndarray, PolicyMetrics]], periods_per_year: float) -> PolicyMetrics:
    """The folds' test curves chained (each restarts from flat): compounded return, Sharpe and drawdown of the
    chained curve; turnover and fees summed (each a fraction of its fold's starting equity)."""
    from backtest.metrics import max_drawdown, sharpe  # noqa: PLC0415

    curve = [1.0]
    for eq, _ in parts:
        curve.extend(curve[-1] * eq[1:])
    c = np.asarray(curve)
    return PolicyMetrics(total_return=float(c[-1] - 1.0), sharpe=sharpe(c, periods_per_year),
                         max_drawdown=max_drawdown(c), turnover=float(sum(m.turnover for _, m in parts)),
                         fees=float(sum(m.fees for _, m in parts)), trades=int(sum(m.trades for _, m in parts)))


def rule_fold(request: TrainRLRequest, bars: Any, span: FoldSpan, periods_per_year: float
              ) -> tuple[PolicyMetrics, list[float], dict[str, Any]]:
    """The rule baseline of a fold, chosen by walk-forward on the same fold.

    :func:`backtest.walkforward.run_fold` sweeps ``request.rule`` over ``request.rule_grid`` on the fold's
    training bars and keeps the best in-sample Sharpe; the chosen configuration's targets (computed on the bars
    before ``test_end``, causal) then play the test window from flat through the same environment as the agent
    (its costs and fills; the continuous action space takes any target). Returns (metrics, targets played,
    chosen parameters).
    """
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.grid import expand_grid, parse_grid  # noqa: PLC0415
    from backtest.rl_env import TradingEnv  # noqa: PLC0415
    from backtest.walkforward import Fold, run_fold  # noqa: PLC0415
    from strategies.registry import get_strategy  # noqa: PLC0415

    strategy = get_strategy(request.rule)
    names, params = expand_grid(strategy, parse_grid(request.rule_grid))
    fold = Fold(index=span.fold, train_start=span.train_start, train_end=span.train_end,
                test_start=span.test_start, test_end=span.test_end)
    chosen = run_fold(bars, strategy, names, params, fold, metric="sharpe", fees_bps=request.fees_bps,
                      periods_per_year=periods_per_year).params
    targets = np.asarray(strategy.run(bars.take(slice(0, span.test_end)), chosen), dtype=np.float64)
    targets = np.nan_to_num(targets, nan=0.0)
    cfg = replace(request.env_config(episode_bars=span.test_end - span.test_start), action="continuous")
    env = TradingEnv(np.asarray(bars.open[: span.test_end], dtype=np.float64),
                     np.asarray(bars.close[: span.test_end], dtype=np.float64), cfg)
    at = iter(range(span.test_start, span.test_end))
    metrics, played = play(env, span.test_start, lambda _obs: np.array([targets[next(at)]]), periods_per_year)
    return metrics, [float(a[0]) for a in played], dict(chosen)


def _test_env(request: TrainRLRequest, open_: np.ndarray, close: np.ndarray, span: FoldSpan) -> Any:
    """The evaluation environment of a fold: the bars before ``test_end``, one episode spanning the test window."""
    from backtest.rl_env import TradingEnv  # noqa: PLC0415

    return TradingEnv(open_[: span.test_end], close[: span.test_end],
                      request.env_config(episode_bars=span.test_end - span.test_start))


def _curve(env: Any, start: int, actions: Sequence[Any]) -> np.ndarray:
    env.reset(options={"start": start})
    out = [1.0]
    for a in actions:
        out.append(env.step(a)[4]["equity"])
    return np.asarray(out)


def random_episode_returns(env: Any, starts: Sequence[int], seed: int) -> list[float]:
    """Sum of rewards of a uniformly random policy on episodes starting at ``starts`` (a seeded generator)."""
    rng = np.random.default_rng(seed)
    return [_episode_return(env, s, lambda _obs: int(rng.integers(env.action_space.n))) for s in starts]


def _episode_return(env: Any, start: int, policy: Callable[[np.ndarray], int]) -> float:
    obs, _ = env.reset(options={"start": start})
    total, done = 0.0, False
    while not done:
        obs, r, terminated, truncated, _ = env.step(policy(obs))
        total += r
        done = terminated or truncated
    return total


def module_policy(module: Any) -> Callable[[np.ndarray], int]:
    """The greedy action of an RLModule: argmax of ``forward_inference``'s action logits (PPO), or the action it
    returns itself (DQN's module answers the argmax of its Q-values)."""
    import torch  # noqa: PLC0415

    def act(obs: np.ndarray) -> int:
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.from_numpy(np.asarray(obs, dtype=np.float32)[None])})
        if "actions" in out:
            return int(out["actions"][0].item())
        return int(torch.argmax(out["action_dist_inputs"][0]).item())

    return act


# ---------------------------------------------------------------------------------------------------- RLlib parts
def _make_env(env_config: dict[str, Any]) -> Any:
    from backtest.rl_env import EnvConfig, TradingEnv  # noqa: PLC0415

    return TradingEnv(env_config["open"], env_config["close"], EnvConfig(**env_config["env"]))


def _env_dict(request: TrainRLRequest, open_: np.ndarray, close: np.ndarray, start: int | None) -> dict[str, Any]:
    return {"open": open_, "close": close, "env": asdict(request.env_config(start=start))}


def _algo_config(request: TrainRLRequest, env_config: dict[str, Any], seed: int) -> Any:
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig  # noqa: PLC0415

    per_iter_episodes = max(1, request.batch // request.episode_bars)
    if request.algo == "dqn":
        from ray.rllib.algorithms.dqn import DQNConfig  # noqa: PLC0415

        config = DQNConfig().training(
            lr=request.lr, train_batch_size_per_learner=32, n_step=1, target_network_update_freq=500,
            num_steps_sampled_before_learning_starts=min(1000, request.timesteps // 4),
            epsilon=[(0, 1.0), (max(1, request.timesteps // 2), 0.05)],
            replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": 50_000,
                                  "alpha": 0.6, "beta": 0.4})
        config = config.reporting(min_sample_timesteps_per_iteration=request.batch)
    else:
        from ray.rllib.algorithms.ppo import PPOConfig  # noqa: PLC0415

        config = PPOConfig().training(lr=request.lr, train_batch_size_per_learner=request.batch,
                                      minibatch_size=min(128, request.batch), num_epochs=request.epochs,
                                      gamma=0.99, entropy_coeff=request.entropy)
    return (config
            .environment(_ENV_NAME, env_config=env_config)
            .framework("torch")
            .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
            .learners(num_learners=0)
            .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[request.hidden, request.hidden]))
            .reporting(metrics_num_episodes_for_smoothing=per_iter_episodes)
            .debugging(seed=seed, log_level="ERROR"))


def _train_one(request: TrainRLRequest, open_: np.ndarray, close: np.ndarray, span: FoldSpan, seed: int,
               periods_per_year: float, save: bool) -> dict[str, Any]:
    """Train on ``span``'s training bars and evaluate greedily on its test bars (runs inside a Ray task)."""
    import torch  # noqa: PLC0415
    from ray.tune.registry import register_env  # noqa: PLC0415


    torch.set_num_threads(1)
    torch.manual_seed(seed)
    started = time.perf_counter()
    register_env(_ENV_NAME, _make_env)
    # the training environment holds the bars before train_end and nothing after
    train_cfg = _env_dict(request, open_[: span.train_end], close[: span.train_end], span.train_start)
    algo = _algo_config(request, train_cfg, seed).build_algo()
    try:
        returns: list[float] = []
        steps = iterations = 0
        while steps < request.timesteps:
            result = algo.train()
            iterations += 1
            steps = int(result["env_runners"].get("num_env_steps_sampled_lifetime", steps + request.batch))
            r = result["env_runners"].get("episode_return_mean")
            if r is not None and math.isfinite(r):
                returns.append(float(r))
        module = algo.get_module()
        policy = module_policy(module)
        train_env = _make_env(train_cfg)
        rng = np.random.default_rng([seed, span.fold, 7])
        starts = [int(s) for s in rng.integers(train_env._lo, train_env._hi - 1, request.eval_episodes)]
        greedy = float(np.mean([_episode_return(train_env, s, policy) for s in starts]))
        random_ = float(np.mean(random_episode_returns(train_env, starts, seed)))
        test_env = _test_env(request, open_, close, span)
        metrics, actions = play(test_env, span.test_start, policy, periods_per_year)
        out = {"seed": SeedResult(seed=seed, train_env_bars=int(train_env._close.size), test=metrics,
                                  iterations=iterations, env_steps=steps,
                                  first_iteration_return=returns[0] if returns else None,
                                  last_iteration_return=returns[-1] if returns else None,
                                  greedy_train_return=greedy, random_train_return=random_,
                                  seconds=round(time.perf_counter() - started, 3)),
               "actions": actions}
        if save:
            with tempfile.TemporaryDirectory() as tmp:
                algo.save_to_path(tmp)
                # here, where torch and RLlib are loaded already (the driver then needs neither: ~1/3 of a DQN
                # job's driver CPU was importing them for this step alone)
                out["roundtrip"] = _roundtrip(request, open_, close, span, Path(tmp), actions)
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                    tar.add(tmp, arcname="checkpoint")
                out["checkpoint_tar"] = buf.getvalue()
        return out
    finally:
        algo.stop()


def tune_ppo(request: TrainRLRequest, open_: np.ndarray, close: np.ndarray, span: FoldSpan, cpus: float,
             storage: Path) -> dict[str, Any]:
    """Ray Tune over :data:`TUNE_SPACE` with ASHA on the first fold's training window only (runs in the driver).

    ``request.tune`` configurations are sampled (seeded by ``request.seed``); each is a PPO trial of up to
    ``timesteps // batch`` iterations on the bars before ``span.train_end`` (never a test bar), ranked by
    :data:`TUNE_METRIC`; ASHA (grace 1 iteration, reduction factor 2) stops the weaker ones early. Each trial
    checkpoints at its end under ``storage``. Returns the trials and the best configuration (flag names).
    """
    from jobs.sweep import quiet_tune_env  # noqa: PLC0415

    quiet_tune_env()  # the classic, quiet reporter: nothing of Tune's on stdout (--json prints one object)
    from ray import tune  # noqa: PLC0415
    from ray.tune.logger import JsonLoggerCallback  # noqa: PLC0415
    from ray.tune.registry import register_env  # noqa: PLC0415
    from ray.tune.schedulers import ASHAScheduler  # noqa: PLC0415
    from ray.tune.search.basic_variant import BasicVariantGenerator  # noqa: PLC0415

    register_env(_ENV_NAME, _make_env)
    logging.getLogger("ray.rllib").setLevel(logging.ERROR)  # the driver: no "new API stack" notice on the CLI
    train_cfg = _env_dict(request, open_[: span.train_end], close[: span.train_end], span.train_start)
    config = (_algo_config(request, train_cfg, request.seed)
              .learners(num_learners=0, num_cpus_per_learner=cpus)
              .resources(num_cpus_for_main_process=cpus)
              .training(**{_TUNE_KEYS[k]: tune.choice(list(v)) for k, v in TUNE_SPACE.items()}))
    iterations = max(1, request.timesteps // request.batch)
    tuner = tune.Tuner(
        config.algo_class, param_space=config,
        tune_config=tune.TuneConfig(
            metric=TUNE_METRIC, mode="max", num_samples=request.tune,
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=iterations, grace_period=1,
                                    reduction_factor=2),
            search_alg=BasicVariantGenerator(random_state=request.seed)),
        run_config=tune.RunConfig(name="tune", storage_path=str(storage), stop={"training_iteration": iterations},
                                  checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True, num_to_keep=1),
                                  verbose=0, log_to_file=True, callbacks=[JsonLoggerCallback()]))
    grid = tuner.fit()
    leftovers = release_placement_groups()
    trials = []
    for r in grid:
        if r.error is not None:
            raise RuntimeError(f"tune trial failed: {r.error}")
        cfg = r.config
        trials.append({**{k: cfg[_TUNE_KEYS[k]] for k in TUNE_SPACE},
                       "iterations": int(r.metrics.get("training_iteration", 0)),
                       "episode_return_mean": float((r.metrics.get("env_runners") or {}).get(
                           "episode_return_mean", float("nan"))),
                       "checkpoint": r.checkpoint.path if r.checkpoint else None})
    best = grid.get_best_result(metric=TUNE_METRIC, mode="max")
    best_cfg = {k: best.config[_TUNE_KEYS[k]] for k in TUNE_SPACE}
    return {"trials": trials, "best": best_cfg, "max_iterations": iterations, "scheduler": "ASHA",
            "metric": TUNE_METRIC, "train_end": span.train_end, "storage": str(storage / "tune"),
            "leftover_placement_groups": len(leftovers)}


def release_placement_groups() -> list[str]:
    """Remove this job's placement groups that are not removed yet; their ids (empty when there were none).

    Called when ``Tuner.fit`` has returned: Tune removes its trials' placement groups itself (that is what happened
    in every run where it was looked at), but twice on the loaded test cluster the CPUs its trials held were not
    free 2 minutes later, so the fold tasks could not be placed. Removing a placement group also ends the actors
    in it, so no Tune trial of this job can hold a CPU after this. The train-rl job creates no other placement
    group (its fold tasks are plain tasks).
    """
    import ray  # noqa: PLC0415 - Ray loads only when the job runs
    from ray._raylet import PlacementGroupID  # noqa: PLC0415 - Ray loads only when the job runs
    from ray.util.placement_group import PlacementGroup, remove_placement_group  # noqa: PLC0415 - Ray loads only when the job runs
    from ray.util.state import list_placement_groups  # noqa: PLC0415 - Ray loads only when the job runs

    ctx = ray.get_runtime_context()
    rows = list_placement_groups(address=ctx.gcs_address, filters=[("creator_job_id", "=", ctx.get_job_id())],
                                 limit=10_000, raise_on_missing_output=False)
    left = [r.placement_group_id for r in rows if str(r.state) != "REMOVED"]
    for pg_id in left:
        remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(pg_id))))
    return left


# ---------------------------------------------------------------------------------------------------- the job
def run_train_rl(request: TrainRLRequest, *, home: Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Train and evaluate walk-forward on the cluster this process is attached to; the report as JSON."""
    import ray  # noqa: PLC0415

    from backtest.metrics import resolve_periods_per_year  # noqa: PLC0415
    from backtest.rl_env import TradingEnv  # noqa: PLC0415
    from jobs.resources import gather, plan_tasks  # noqa: PLC0415

    started = time.perf_counter()
    bars = load_request_bars(request)
    open_, close = np.asarray(bars.open, dtype=np.float64), np.asarray(bars.close, dtype=np.float64)
    ts = np.asarray(bars.timestamp)
    ppy = float(resolve_periods_per_year(ts, bars.timeframe_ms, None))
    probe = TradingEnv(open_, close, request.env_config())
    spans = plan_folds(close.size, request.folds, probe._lo)
    seeds = [request.seed + i for i in range(request.seeds)]

    cpus = plan_tasks(TASK_CPUS, what="train-rl")
    ckpt_dir = _checkpoint_dir(request, home)
    tuned: dict[str, Any] = {}
    if request.tune:
        tuned = tune_ppo(request, open_, close, spans[0], cpus, ckpt_dir)
        _wait_for_free_cpus(cpus, timeout_s=120.0)  # Tune's trial actors and placement groups go away async
        best = tuned["best"]
        request = replace(request, lr=float(best["lr"]), entropy=float(best["entropy"]), epochs=int(best["epochs"]))
    task = ray.remote(_train_one).options(num_cpus=cpus, max_retries=0)
    o_ref, c_ref = ray.put(open_), ray.put(close)
    jobs = [(span, s) for span in spans for s in seeds]
    last = (spans[-1], seeds[0])
    refs = [task.remote(request, o_ref, c_ref, span, s, ppy, (span, s) == last) for span, s in jobs]
    outs = gather(refs, what="train-rl", task_cpus=cpus, progress=progress)
    by_key = {(span.fold, s): out for (span, s), out in zip(jobs, outs)}

    folds: list[FoldResult] = []
    agent_parts: dict[int, list] = {s: [] for s in seeds}
    bh_parts, flat_parts, rule_parts = [], [], []
    for span in spans:
        for s in seeds:
            if by_key[(span.fold, s)]["seed"].train_env_bars > span.test_start:
                raise AssertionError(f"fold {span.fold}: the training environment held bars of the test window")
        env = _test_env(request, open_, close, span)
        bh, bh_actions = play(env, span.test_start, lambda _o: _ACTION_LONG[request.action], ppy)
        fl, fl_actions = play(env, span.test_start, lambda _o: _ACTION_FLAT[request.action], ppy)
        bh_parts.append((_curve(env, span.test_start, bh_actions), bh))
        flat_parts.append((_curve(env, span.test_start, fl_actions), fl))
        for s in seeds:
            out = by_key[(span.fold, s)]
            agent_parts[s].append((_curve(env, span.test_start, out["actions"]), out["seed"].test))
        rule, rule_targets, rule_params = rule_fold(request, bars, span, ppy)
        cont = TradingEnv(open_[: span.test_end], close[: span.test_end],
                          replace(request.env_config(episode_bars=span.test_end - span.test_start), action="continuous"))
        rule_parts.append((_curve(cont, span.test_start, [np.array([a]) for a in rule_targets]), rule))
        folds.append(FoldResult(span=span, train_time=(int(ts[span.train_start]), int(ts[span.train_end - 1])),
                                test_time=(int(ts[span.test_start]), int(ts[span.test_end - 1])),
                                seeds=tuple(by_key[(span.fold, s)]["seed"] for s in seeds), buy_hold=bh, flat=fl,
                                rule=rule, rule_params=rule_params))

    saved = by_key[(last[0].fold, last[1])]
    with tarfile.open(fileobj=io.BytesIO(saved["checkpoint_tar"]), mode="r:gz") as tar:
        tar.extractall(ckpt_dir, filter="data")
    ckpt = ckpt_dir / "checkpoint"
    n, same = saved["roundtrip"]
    extra: dict[str, Any] = {"tune": tuned} if tuned else {}
    if request.name:
        extra.update(_export_policy(request, home, ckpt, bars, last[0], saved["actions"]))
    report = TrainRLReport(request=request, source=describe_source(request), symbol=bars.symbol,
                           timeframe=bars.timeframe, bars=int(close.size), periods_per_year=ppy, folds=tuple(folds),
                           total_agent=tuple(_chain(agent_parts[s], ppy) for s in seeds),
                           total_buy_hold=_chain(bh_parts, ppy), total_flat=_chain(flat_parts, ppy),
                           total_rule=_chain(rule_parts, ppy), task_cpus=cpus,
                           checkpoint=str(ckpt), roundtrip_actions=n, roundtrip_identical=same,
                           seconds=round(time.perf_counter() - started, 3), extra=extra)
    return report.to_json()


def _wait_for_free_cpus(cpus: float, timeout_s: float) -> None:
    """Poll until ``cpus`` CPUs are free on the cluster again (after Tune released its trials), or ``timeout_s``;
    the training tasks' own wait (:mod:`jobs.resources`) then names whatever still holds them."""
    import ray  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and float(ray.available_resources().get("CPU", 0.0)) < cpus - 1e-9:
        time.sleep(0.5)


def _checkpoint_dir(request: TrainRLRequest, home: Path | None) -> Path:
    if request.checkpoint:
        path = Path(request.checkpoint).expanduser().absolute()
    else:
        from jobs.sweep import default_run_dir  # noqa: PLC0415

        if home is None:
            from raytrader.config import load_config  # noqa: PLC0415

            home = load_config().cluster.home
        path = default_run_dir(Path(home), "train_rl")
    path.mkdir(parents=True, exist_ok=True)
    return path


class _GreedyExport:
    """Builds the traced greedy policy of an RLModule (a torch.nn.Module made on first use: torch loads late)."""

    @staticmethod
    def trace(module: Any, obs_dim: int) -> Any:
        import torch  # noqa: PLC0415

        class Greedy(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, obs: Any) -> Any:
                out = self.inner.forward_inference({"obs": obs})
                if "actions" in out:  # DQN answers its own argmax
                    return out["actions"].long()
                return torch.argmax(out["action_dist_inputs"], dim=-1)

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit: see backtest.rl_policy._JIT_NOTE
            return torch.jit.trace(Greedy(module).eval(), torch.zeros((1, obs_dim), dtype=torch.float32),
                                   check_trace=False)


def _export_policy(request: TrainRLRequest, home: Path | None, ckpt: Path, bars: Any, span: FoldSpan,
                   actions: Sequence[int]) -> dict[str, Any]:
    """Export the checkpoint's RLModule as ``rl:<name>`` (see :mod:`backtest.rl_policy`), then load the export
    (torch only) and replay the last test window: the actions must be the checkpoint's."""
    import torch  # noqa: PLC0415
    from ray.rllib.core.rl_module.rl_module import RLModule  # noqa: PLC0415

    from backtest.rl_policy import PolicyMeta, load_policy, policy_dir, save_policy  # noqa: PLC0415

    torch.set_num_threads(1)
    module = RLModule.from_checkpoint(ckpt.joinpath(*MODULE_PATH))
    open_, close = np.asarray(bars.open, dtype=np.float64), np.asarray(bars.close, dtype=np.float64)
    env = _test_env(request, open_, close, span)
    obs_dim = int(env.observation_space.shape[0])
    env_settings = {k: v for k, v in asdict(request.env_config()).items() if k not in ("start", "end")}
    meta = PolicyMeta(name=request.name, algo=request.algo, env=env_settings, obs_dim=obs_dim,
                      n_actions=int(env.action_space.n), symbol=bars.symbol, timeframe=bars.timeframe,
                      source=describe_source(request), checkpoint=str(ckpt))
    folder = save_policy(policy_dir(request.name, _home(home)), _GreedyExport.trace(module, obs_dim), meta)
    exported = load_policy(request.name, _home(home))
    _, replay = play(env, span.test_start, exported.act, 1.0)
    return {"policy": request.name, "policy_strategy": f"rl:{request.name}", "policy_dir": str(folder),
            "policy_roundtrip_identical": list(replay) == list(actions)}


def _home(home: Path | None) -> Path:
    if home is not None:
        return Path(home)
    from raytrader.config import load_config  # noqa: PLC0415

    return load_config().cluster.home


def _roundtrip(request: TrainRLRequest, open_: np.ndarray, close: np.ndarray, span: FoldSpan, ckpt: Path,
               actions: Sequence[int]) -> tuple[int, bool]:
    """Load only the RLModule from the checkpoint folder ``ckpt`` (an ``Algorithm.save_to_path`` folder) and
    replay the test window: (actions compared, identical to ``actions``?). Runs in the training task, on the files
    it saved, before they are packed for the driver (a fresh module built from the files alone)."""
    import torch  # noqa: PLC0415
    from ray.rllib.core.rl_module.rl_module import RLModule  # noqa: PLC0415


    torch.set_num_threads(1)
    module = RLModule.from_checkpoint(ckpt.joinpath(*MODULE_PATH))
    env = _test_env(request, open_, close, span)
    _, replay = play(env, span.test_start, module_policy(module), 1.0)
    return len(replay), list(replay) == list(actions)


# ---------------------------------------------------------------------------------------------------- flags
def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def add_train_rl_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``raytrader train-rl`` and ``python -m jobs.train_rl``."""
    add_data_arguments(parser)
    parser.add_argument("--algo", default="ppo", help=f"algorithm: {', '.join(ALGOS)} (default ppo)")
    parser.add_argument("--timesteps", type=_int, default=8000, help="environment steps per fold and seed (default 8000)")
    parser.add_argument("--folds", type=_int, default=3, help="walk-forward folds (default 3)")
    parser.add_argument("--seeds", type=_int, default=3, help="seeds per fold, for the spread (default 3)")
    parser.add_argument("--seed", type=parse_seed, default=0, help="first seed (default 0)")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="fee in bps of notional, each side (default 10)")
    parser.add_argument("--slippage-bps", type=float, default=0.0, help="adverse slippage in bps (default 0)")
    parser.add_argument("--window", type=_int, default=16, help="returns in the observation (default 16)")
    parser.add_argument("--action", default="discrete", help="discrete (short/flat/long) or long_only (default discrete)")
    parser.add_argument("--reward", default="log", help="log, dsr or drawdown (default log)")
    parser.add_argument("--episode-bars", type=_int, default=250, help="bars per training episode (default 250)")
    parser.add_argument("--batch", type=_int, default=1000, help="environment steps per training iteration (default 1000)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    parser.add_argument("--entropy", type=float, default=0.0, help="PPO entropy bonus coefficient (default 0)")
    parser.add_argument("--epochs", type=_int, default=5, help="PPO epochs per training batch (default 5)")
    parser.add_argument("--tune", type=_int, default=0, metavar="N",
                        help="first tune PPO (Ray Tune, ASHA) over N sampled configurations of lr, entropy and "
                             "epochs on the first training window; the best one trains every fold (default 0: off)")
    parser.add_argument("--hidden", type=_int, default=64, help="units in each of the two hidden layers (default 64)")
    parser.add_argument("--eval-episodes", type=_int, default=8,
                        help="training-window episodes for the greedy-vs-random check (default 8)")
    parser.add_argument("--checkpoint", default="", metavar="DIR",
                        help="folder for the final policy's checkpoint (default: a new run folder)")
    parser.add_argument("--name", default="", metavar="NAME",
                        help="export the final policy as strategy rl:NAME (<cluster.home>/policies/NAME) for "
                             "signals and paper trading")
    parser.add_argument("--rule", default="sma_cross",
                        help="rule strategy of the walk-forward baseline (default sma_cross)")
    parser.add_argument("--rule-grid", action="append", default=None, metavar="AXIS",
                        help=f"grid of the rule baseline, repeatable (default {' '.join(RULE_GRID)})")


def request_from_args(args: argparse.Namespace) -> TrainRLRequest:
    """The request of parsed flags (validated: bad input raises InputError naming the flag)."""
    return TrainRLRequest(**data_fields(args), algo=args.algo, timesteps=args.timesteps, folds=args.folds,
                          seeds=args.seeds, seed=args.seed, fees_bps=args.fees_bps, slippage_bps=args.slippage_bps,
                          window=args.window, action=args.action, reward=args.reward, episode_bars=args.episode_bars,
                          batch=args.batch, lr=args.lr, hidden=args.hidden, eval_episodes=args.eval_episodes,
                          checkpoint=args.checkpoint, name=args.name, entropy=args.entropy, epochs=args.epochs,
                          tune=args.tune, rule=args.rule,
                          rule_grid=tuple(args.rule_grid) if args.rule_grid else RULE_GRID)


def prepare(args: argparse.Namespace) -> TrainRLRequest:
    """Validate flags and data before Ray starts (bad input: InputError naming the flag)."""
    request = request_from_args(args)  # first: a bad number needs neither the bars nor numba and pandas
    from backtest.rl_env import TradingEnv  # noqa: PLC0415

    bars = load_request_bars(request)
    probe = TradingEnv(np.asarray(bars.open, dtype=np.float64), np.asarray(bars.close, dtype=np.float64),
                       request.env_config())
    spans = plan_folds(len(bars), request.folds, probe._lo)
    _check_rule(request, bars, spans)
    return request


def _check_rule(request: TrainRLRequest, bars: Any, spans: Sequence[FoldSpan]) -> None:
    """The rule baseline's strategy, grid and windows, checked before Ray (InputError naming the flag)."""
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.grid import expand_grid, parse_grid  # noqa: PLC0415
    from backtest.walkforward import Fold, check_fold_bars  # noqa: PLC0415
    from strategies.registry import get_strategy  # noqa: PLC0415

    try:
        strategy = get_strategy(request.rule)
        if strategy.multi_asset:
            raise InputError(f"strategy {request.rule!r} is multi-asset; the baseline trades one series")
    except InputError as exc:
        raise InputError(f"--rule: {exc}") from None
    try:
        names, params = expand_grid(strategy, parse_grid(request.rule_grid))
        check_fold_bars(bars, strategy, names, params,
                        [Fold(index=s.fold, train_start=s.train_start, train_end=s.train_end,
                              test_start=s.test_start, test_end=s.test_end) for s in spans])
    except InputError as exc:
        raise InputError(f"--rule-grid: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.train_rl``: print one JSON object; exit 2 on bad input (before Ray starts)."""
    return run_job_main("train_rl", __doc__, add_train_rl_arguments, prepare, run_train_rl, argv)


if __name__ == "__main__":
    sys.exit(main())
