"""A trained RL policy as a strategy: ``rl:<name>`` runs an exported RLModule on bars, torch on CPU, no Ray.

Why here: the policy's observation is :class:`backtest.rl_env.TradingEnv`'s
(features of closes up to bar ``t``, the target held, the open position's
unrealised return), so the adapter must replay the environment, and
``strategies`` may not import ``backtest``. ``backtest`` is below both
``api`` and ``actors``, so ``POST /v1/signals/rl:<name>`` and the
StrategyRunner (``raytrader paper --strategy rl:<name>``) share this one
module. ``torch`` is imported only when a policy is loaded.

**Export** (:func:`save_policy`, called by ``jobs.train_rl`` with
``--name``): the RLModule's ``forward_inference`` is traced with
``torch.jit.trace`` into ``policy.pt`` (greedy action index: the module's own
``actions`` where it answers them (DQN), else the argmax of
``action_dist_inputs`` (PPO)), beside ``policy.json`` (the environment
settings it was trained with, the algorithm, the data). Loading needs torch
only: no RLlib, no Algorithm. The folder is ``<cluster.home>/policies/<name>/``.

**As a strategy** (:func:`resolve_strategy`): ``rl:<name>`` is a
:class:`strategies.registry.Strategy` with no parameters whose target at bar
``t`` is the policy's greedy action on the observation at ``t``, played from
flat at the first bar whose features are defined (the warm-up is 0.0). The
position and unrealised-return inputs come from replaying the same
environment (fills at the next open, the trained fees and slippage), so the
targets are what ``jobs.train_rl`` evaluates, and the last bar's target uses
bars up to the last one only. Because the policy sees its own position, its
target depends on where the replay starts: the same bars give the same
targets (deterministic), a window that starts elsewhere may not. These
strategies are resolved by name on demand and not listed by
``list_strategies`` (a retrained policy of the same name is picked up when
its ``policy.pt`` changes).
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backtest.rl_env import EnvConfig, TradingEnv
from backtest.rl_replay import MLP, extract_mlp, greedy, replay
from strategies.bar_field import bar_field
from strategies.errors import UnknownStrategyError
from strategies.registry import Strategy, get_strategy

__all__ = ["PREFIX", "POLICY_FILE", "META_FILE", "PolicyMeta", "RLPolicy", "RLPolicyNotFoundError", "policies_dir",
           "policy_dir", "save_policy", "load_policy", "play_targets", "resolve_strategy", "warmup_bars"]

#: strategy names of exported policies start with this
PREFIX = "rl:"
POLICY_FILE = "policy.pt"
META_FILE = "policy.json"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,47}\Z")
_LOCK = threading.Lock()
#: why TorchScript although torch 2.13 marks ``torch.jit`` deprecated: the policy answers one observation per bar,
#: and a ``torch.export`` program loaded back (``torch.export.load(...).module()``) took 2-5x longer per
#: single-observation call than the traced module here (2026-12-01, loaded 2-core machine); the export round trip
#: is tested, so a switch later is a local change.
_JIT_NOTE = "torch.jit"
_CACHE: dict[Path, tuple[int, Strategy]] = {}
#: the target of each action index (TradingEnv's levels) for the actions an export answers
_LEVELS = {"discrete": np.array([-1.0, 0.0, 1.0]), "long_only": np.array([0.0, 1.0])}


class RLPolicyNotFoundError(UnknownStrategyError):
    """``rl:<name>`` names no exported policy (or a malformed name); the message says where it looked."""

    def __init__(self, name: str, message: str) -> None:
        self.name, self.known = name, ()
        Exception.__init__(self, message)


@dataclass(frozen=True)
class PolicyMeta:
    """What ``policy.json`` holds: the environment settings the policy was trained with, and its provenance."""

    name: str
    algo: str
    env: dict[str, Any]
    obs_dim: int
    n_actions: int
    symbol: str = ""
    timeframe: str = ""
    source: str = ""
    checkpoint: str = ""

    def env_config(self, episode_bars: int) -> EnvConfig:
        """The training environment's settings over a window of ``episode_bars`` (no start or end)."""
        return EnvConfig(**{**self.env, "episode_bars": max(2, episode_bars), "start": None, "end": None})


def warmup_bars(window: int) -> int:
    """Index of the first bar with every feature defined: the 50-bar SMA (bar 49) or the ``window`` returns."""
    return max(49, window)


def policies_dir(home: Path | str | None = None) -> Path:
    """``<cluster.home>/policies`` (the config's run folder when ``home`` is None)."""
    if home is None:
        from raytrader.config import load_config  # noqa: PLC0415 - config read only when a policy is looked up

        home = load_config().cluster.home
    return Path(home).expanduser() / "policies"


def policy_dir(name: str, home: Path | str | None = None) -> Path:
    """The folder of policy ``name`` (without the ``rl:`` prefix). Raises RLPolicyNotFoundError on a bad name."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise RLPolicyNotFoundError(f"{PREFIX}{name}", f"strategy: {PREFIX}{name!s} is not a policy name "
                                    "(1-48 of letters, digits, _ . -, not starting with . or -)")
    return policies_dir(home) / name


def save_policy(folder: Path, traced: Any, meta: PolicyMeta) -> Path:
    """Write ``policy.pt`` (a traced module: float32 ``(batch, obs_dim)`` -> int64 action indexes) and
    ``policy.json`` into ``folder`` (created; files replaced atomically). Returns the folder."""
    import torch  # noqa: PLC0415 - torch only where a policy is saved or loaded

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{POLICY_FILE}.{os.getpid()}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see _JIT_NOTE
        torch.jit.save(traced, str(tmp))
    meta_tmp = folder / f".{META_FILE}.{os.getpid()}"
    meta_tmp.write_text(json.dumps(asdict(meta), indent=1) + "\n")
    os.replace(meta_tmp, folder / META_FILE)
    os.replace(tmp, folder / POLICY_FILE)
    return folder


class RLPolicy:
    """A loaded policy: :meth:`act` on one observation, :meth:`targets` over bars."""

    def __init__(self, folder: Path) -> None:
        import torch  # noqa: PLC0415 - torch only where a policy is saved or loaded

        self.folder = folder
        self.meta = PolicyMeta(**json.loads((folder / META_FILE).read_text()))
        self._torch = torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see _JIT_NOTE
            self._module = torch.jit.load(str(folder / POLICY_FILE), map_location="cpu")
        self._module.eval()
        self.window = int(self.meta.env.get("window", 16))
        #: the MLP replayed in numba by :meth:`targets` (None: every bar asks torch, :meth:`targets_torch`)
        self.mlp = self._fast_path()

    def _fast_path(self) -> MLP | None:
        """The module's MLP when :mod:`backtest.rl_replay` recognises it and it matches the environment: its
        certified actions on 256 seeded observations must be torch's, else None (torch for every bar)."""
        levels = _LEVELS.get(str(self.meta.env.get("action")))
        mlp = extract_mlp(self._module)
        if mlp is None or levels is None or mlp.n_actions != len(levels) or mlp.obs_dim != int(self.meta.obs_dim):
            return None
        rng = np.random.default_rng(0)
        for obs in rng.standard_normal((256, mlp.obs_dim)).astype(np.float32) * np.float32(2.0):
            a = greedy(mlp, obs)
            if a >= 0 and a != self.act(obs):
                return None
        return mlp

    def act(self, obs: np.ndarray) -> int:
        """The greedy action index for one observation (the TorchScript module, one call)."""
        with self._torch.inference_mode():
            out = self._module(self._torch.from_numpy(np.asarray(obs, dtype=np.float32).reshape(1, -1)))
        return int(out.reshape(-1)[0].item())

    def policy(self) -> Callable[[np.ndarray], int]:
        return self.act

    def min_bars(self) -> int:
        """Fewest bars :meth:`targets` accepts: the warm-up, then three bars to trade."""
        return warmup_bars(self.window) + 3

    def targets(self, open_: np.ndarray, close: np.ndarray) -> np.ndarray:
        """Target per bar (fraction of equity); 0.0 before the first bar with features.

        Played from flat at the first defined bar through :class:`TradingEnv` (fills at the next open with the
        trained costs); the target at the last bar is decided on its observation without any later bar.
        Equal to :meth:`targets_torch`, computed by :func:`backtest.rl_replay.replay` where the module is an MLP
        it recognises (the module answers only the bars whose float32 action is not certain).
        """
        if self.mlp is None:
            return self.targets_torch(open_, close)
        o, c = np.asarray(open_, dtype=np.float64), np.asarray(close, dtype=np.float64)
        env = TradingEnv(o, c, self.meta.env_config(c.size))  # validates the bars, computes the features
        return replay(self.mlp, env._feat, env._open, env._close, env._levels, env._fee,
                      env._slip, env._lo, self.act)

    def targets_torch(self, open_: np.ndarray, close: np.ndarray) -> np.ndarray:
        """:meth:`targets` the reference way: the TorchScript module once per bar, the Python TradingEnv stepped."""
        c = np.asarray(close, dtype=np.float64)
        return play_targets(open_, c, self.meta.env_config(c.size), self.act)


def play_targets(open_: np.ndarray, close: np.ndarray, config: EnvConfig, act: Callable[[np.ndarray], int]
                 ) -> np.ndarray:
    """Targets per bar of ``act`` (observation -> action index) played from flat at the first bar with features
    through :class:`TradingEnv` stepped in Python, one ``act`` call per bar (0.0 before; after a ruin the last
    target stays)."""
    o, c = np.asarray(open_, dtype=np.float64), np.asarray(close, dtype=np.float64)
    n = c.size
    env = TradingEnv(o, c, config)
    out = np.zeros(n, dtype=np.float64)
    obs, _ = env.reset(options={"start": env._lo})
    t = env._lo
    while True:
        action = act(obs)
        out[t] = env.target_of(action)
        if t >= n - 1:
            return out
        obs, _, terminated, _, _ = env.step(action)
        t += 1
        if terminated:  # ruined: the engine trades no more; the position stays as the last target
            out[t:] = out[t - 1]
            return out


def load_policy(name: str, home: Path | str | None = None) -> RLPolicy:
    """The exported policy ``name`` (without ``rl:``). Raises RLPolicyNotFoundError naming where it looked."""
    folder = policy_dir(name, home)
    if not (folder / POLICY_FILE).is_file() or not (folder / META_FILE).is_file():
        raise RLPolicyNotFoundError(f"{PREFIX}{name}", f"strategy: no exported policy {PREFIX}{name} in {folder} "
                                    "(train one with `raytrader train-rl ... --name NAME`)")
    return RLPolicy(folder)


def _strategy(full_name: str, policy: RLPolicy) -> Strategy:
    def run(bars: object) -> np.ndarray:
        return policy.targets(bar_field(bars, "open"), bar_field(bars, "close"))

    meta = policy.meta
    return Strategy(name=full_name, fn=run, params=(), min_bars=lambda _p: policy.min_bars(),
                    doc=f"RL policy ({meta.algo.upper()}, {meta.env.get('action')} actions) trained on "
                        f"{meta.symbol} {meta.timeframe}; greedy action of the exported RLModule",
                    origin=str(policy.folder))


def resolve_strategy(name: str, home: Path | str | None = None) -> Strategy:
    """``rl:<name>``: the exported policy as a Strategy (cached until its ``policy.pt`` changes); any other name:
    :func:`strategies.registry.get_strategy`.

    Raises:
        RLPolicyNotFoundError: (an UnknownStrategyError) no such policy.
        UnknownStrategyError: no strategy of that name.
    """
    if not (isinstance(name, str) and name.startswith(PREFIX)):
        return get_strategy(name)
    short = name[len(PREFIX):]
    folder = policy_dir(short, home)
    try:
        stamp = (folder / POLICY_FILE).stat().st_mtime_ns
    except OSError:
        stamp = -1
    with _LOCK:
        hit = _CACHE.get(folder)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        strategy = _strategy(name, load_policy(short, home))
        _CACHE[folder] = (stamp, strategy)
        return strategy
