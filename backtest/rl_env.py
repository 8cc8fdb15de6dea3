"""A gymnasium trading environment over real bars, with the backtest engine's costs and fill convention.

One step is one bar. At step ``t`` the agent sees features computed from
bars ``0..t`` (closes up to bar ``t``'s close) and its own state, and picks
a **target position** (a signed fraction of equity, as the engine's
``target[t]``). The target fills at bar ``t + 1``'s open exactly as
:func:`backtest.engine.run_backtest` fills ``target[t]``: the engine's sizing
rule (``backtest.engine._target_units``), fees of ``fees_bps`` on notional,
adverse slippage of ``slippage_bps``, and no trade when the target equals
the one last acted on. The step then marks equity at bar ``t + 1``'s close.
So an action sequence played here gives the engine's equity curve for the
same targets, bit for bit (tested), and an RL result means what a backtest
result means.

* **Actions**: ``action="discrete"`` → ``Discrete(3)`` = short, flat, long
  (−1, 0, +1); ``"long_only"`` → ``Discrete(2)`` = flat, long;
  ``"continuous"`` → ``Box(−1, 1, (1,))``, the target itself.
* **Observation** (float32): the last ``window`` log returns divided by the
  trailing 20-bar volatility, that volatility (per bar, ×100), RSI(14)
  rescaled to [−1, 1], the close's distance from its 20- and 50-bar SMAs
  (fractions), then the current target and the unrealised return of the
  open position (fraction of its entry price). Warm-up bars (NaN features)
  are never observed: episodes start after them.
* **Reward** (``reward=``): ``"log"`` = log(E[t+1]/E[t]), net of costs;
  ``"dsr"`` = Moody & Saffell's differential Sharpe ratio of that log
  return (η = ``dsr_eta``); ``"drawdown"`` = the log return minus
  ``dd_penalty`` × the increase in drawdown from the episode's peak.
* **Episodes** start at a random bar inside ``[start, end)`` (the training
  period; ``None`` = all bars) and last ``episode_bars`` bars or until the
  period ends (truncated) or equity reaches 0 (terminated, as the engine's
  ruin; the reward is then log(1e-6)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from backtest.costs import fee_fraction, slippage_fractions
from backtest.engine import _target_units
from backtest.errors import BacktestInputError
from strategies.indicators import rsi, sma

__all__ = ["EnvConfig", "TradingEnv", "features", "N_MARKET_FEATURES"]

#: extra market features after the ``window`` normalised returns
N_MARKET_FEATURES = 4
_VOL_BARS = 20
_LOG_RUIN = float(np.log(1e-6))
#: observations are clipped to ±this (a 1,000-sigma return; nothing real reaches it)
_OBS_BOUND = 1e3


def features(close: np.ndarray, window: int) -> np.ndarray:
    """(bars, window + 4) market features; row ``t`` uses ``close[0..t]`` only (NaN during warm-up)."""
    c = np.asarray(close, dtype=np.float64)
    n = c.size
    r = np.full(n, np.nan)
    r[1:] = np.diff(np.log(c))
    vol = np.full(n, np.nan)
    if n > _VOL_BARS:
        vol[_VOL_BARS:] = sliding_window_view(r[1:], _VOL_BARS).std(axis=1, ddof=1)
    out = np.full((n, window + N_MARKET_FEATURES), np.nan)
    for k in range(window):  # column k: the return k bars ago, scaled by today's volatility
        out[k:, window - 1 - k] = r[: n - k] / vol[k:]
    out[:, window] = vol * 100.0
    out[:, window + 1] = rsi(c, 14) / 50.0 - 1.0
    out[:, window + 2] = c / sma(c, 20) - 1.0
    out[:, window + 3] = c / sma(c, 50) - 1.0
    return out


@dataclass(frozen=True)
class EnvConfig:
    """Settings of :class:`TradingEnv` (fees and slippage in bps per side; bars as indexes into the arrays)."""

    window: int = 16
    action: Literal["discrete", "long_only", "continuous"] = "discrete"
    reward: Literal["log", "dsr", "drawdown"] = "log"
    fees_bps: float = 10.0
    slippage_bps: float = 0.0
    episode_bars: int = 1000
    start: int | None = None
    end: int | None = None
    dsr_eta: float = 0.01
    dd_penalty: float = 1.0

    def __post_init__(self) -> None:
        if not (1 <= self.window <= 256):
            raise BacktestInputError(f"window: must be 1..256 bars, got {self.window!r}")
        if self.action not in ("discrete", "long_only", "continuous"):
            raise BacktestInputError(f"action: must be discrete, long_only or continuous, got {self.action!r}")
        if self.reward not in ("log", "dsr", "drawdown"):
            raise BacktestInputError(f"reward: must be log, dsr or drawdown, got {self.reward!r}")
        if self.episode_bars < 2:
            raise BacktestInputError(f"episode_bars: must be >= 2, got {self.episode_bars!r}")
        fee_fraction(self.fees_bps)
        slippage_fractions(self.slippage_bps, 0.0)


class TradingEnv(gym.Env):
    """Single-asset trading on ``open``/``close`` arrays; see the module docstring for every convention."""

    metadata = {"render_modes": []}

    def __init__(self, open_: np.ndarray, close: np.ndarray, config: EnvConfig | None = None) -> None:
        self.config = config or EnvConfig()
        o = np.ascontiguousarray(open_, dtype=np.float64)
        c = np.ascontiguousarray(close, dtype=np.float64)
        if o.shape != c.shape or o.ndim != 1:
            raise BacktestInputError(f"open/close: expected two 1-D arrays of equal length, got {o.shape} and {c.shape}")
        bad = np.flatnonzero(~np.isfinite(o) | ~np.isfinite(c) | (o <= 0) | (c <= 0))
        if bad.size:
            raise BacktestInputError(f"bars[{bad[0]}]: open and close must be finite and > 0")
        self._open, self._close = o, c
        self._ol, self._cl = o.tolist(), c.tolist()  # Python floats: scalar reads in step() are several times faster
        with np.errstate(divide="ignore", invalid="ignore"):
            feat = features(c, self.config.window)
        self._feat = np.clip(feat, -_OBS_BOUND, _OBS_BOUND).astype(np.float32)  # NaN (warm-up) stays NaN
        first = int(np.argmax(np.all(np.isfinite(self._feat), axis=1)))
        lo = max(first, self.config.start or 0)
        hi = min(c.size - 1, self.config.end if self.config.end is not None else c.size - 1)
        if hi - lo < 2:
            raise BacktestInputError(f"start/end: the period [{lo}, {hi}) leaves no bars to trade after the "
                                     f"{first}-bar warm-up")
        self._lo, self._hi = lo, hi
        self._fee = fee_fraction(self.config.fees_bps)
        self._slip, _ = slippage_fractions(self.config.slippage_bps, 0.0)
        if self.config.action == "discrete":
            self.action_space: gym.Space = gym.spaces.Discrete(3)
            self._levels = np.array([-1.0, 0.0, 1.0])
        elif self.config.action == "long_only":
            self.action_space = gym.spaces.Discrete(2)
            self._levels = np.array([0.0, 1.0])
        else:
            self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
            self._levels = np.empty(0)
        self._level_list: list[float] = self._levels.tolist()
        dim = self._feat.shape[1] + 2
        self.observation_space = gym.spaces.Box(-_OBS_BOUND, _OBS_BOUND, (dim,), dtype=np.float32)
        self._obs = np.zeros(dim, dtype=np.float32)
        self._reset_state(self._lo)

    # ------------------------------------------------------------------ state
    def _reset_state(self, t: int) -> None:
        self._t = t
        self._stop = min(t + self.config.episode_bars, self._hi)
        self._cash, self._units, self._held = 1.0, 0.0, 0.0
        self._entry = 0.0
        self._equity = 1.0
        self._peak = 1.0
        self._dsr_a, self._dsr_b = 0.0, 0.0
        self.fees_paid = 0.0
        self.turnover = 0.0

    def _observation(self) -> np.ndarray:
        f = self._feat[self._t]
        n = f.size
        self._obs[:n] = f
        self._obs[n] = self._held
        px = self._cl[self._t]
        units = self._units
        upnl = (px / self._entry - 1.0) * (1.0 if units > 0.0 else -1.0) if units != 0.0 else 0.0
        self._obs[n + 1] = min(max(upnl, -_OBS_BOUND), _OBS_BOUND)
        return self._obs.copy()

    def _info(self) -> dict[str, Any]:
        return {"bar": self._t, "equity": self._equity, "target": self._held, "fees_paid": self.fees_paid,
                "turnover": self.turnover}

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if options and "start" in options:
            t = int(options["start"])
            if not (self._lo <= t < self._hi):
                raise BacktestInputError(f"start: must be in [{self._lo}, {self._hi}), got {t}")
        else:
            t = int(self.np_random.integers(self._lo, max(self._lo + 1, self._hi - 1)))
        self._reset_state(t)
        return self._observation(), self._info()

    def target_of(self, action: Any) -> float:
        """The target position an action means."""
        if self.config.action == "continuous":
            return float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        return self._level_list[int(action)]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        w = self.target_of(action)
        t1 = self._t + 1
        ruined = False
        if w != self._held:
            ref = self._ol[t1]
            self._held = w
            if self._cash + self._units * ref <= 0.0:
                ruined = True
            else:
                self._fill(w, ref)
        eq = self._cash + self._units * self._cl[t1]
        if eq <= 0.0:
            ruined = True
        r = _LOG_RUIN if ruined else math.log(eq / self._equity)
        reward = self._shape(r, eq)
        self._equity = max(eq, 0.0)
        self._t = t1
        terminated = ruined
        truncated = (not terminated) and t1 >= self._stop
        return self._observation(), reward, terminated, truncated, self._info()

    def _fill(self, w: float, ref: float) -> None:
        units, cash, fee = self._units, self._cash, self._fee
        naive = _target_units(units, cash, w, ref, fee)
        direction = naive - units
        if direction == 0.0:
            return
        price = ref * (1.0 + self._slip) if direction > 0 else ref * (1.0 - self._slip)
        new_units = _target_units(units, cash, w, price, fee) if self._slip else naive
        delta = new_units - units
        if delta == 0.0 or (delta > 0.0) != (direction > 0.0):
            return
        notional = abs(delta) * price
        fee_paid = notional * fee
        new_cash = cash + (-(delta * price) - fee_paid)
        eq_after = new_cash + new_units * price
        if new_cash != 0.0 and abs(new_cash) <= 1e-12 * abs(eq_after):
            fee_paid += new_cash
            new_cash = 0.0
        if new_units == 0.0:
            self._entry = 0.0
        elif units == 0.0 or (new_units > 0.0) != (units > 0.0):
            self._entry = price
        elif abs(new_units) > abs(units):
            self._entry = (self._entry * abs(units) + price * abs(delta)) / abs(new_units)
        self._units, self._cash = new_units, new_cash
        self.fees_paid += fee_paid
        self.turnover += notional

    def _shape(self, r: float, eq: float) -> float:
        cfg = self.config
        if cfg.reward == "log":
            return r
        if cfg.reward == "drawdown":
            dd_before = 1.0 - self._equity / self._peak
            self._peak = max(self._peak, eq)
            dd_after = 1.0 - max(eq, 0.0) / self._peak
            return r - cfg.dd_penalty * max(dd_after - dd_before, 0.0)
        # differential Sharpe ratio (Moody & Saffell 2001), on the step's log return
        a, b, eta = self._dsr_a, self._dsr_b, cfg.dsr_eta
        da, db = r - a, r * r - b
        denom = (b - a * a) ** 1.5
        d = (b * da - 0.5 * a * db) / denom if denom > 1e-12 else 0.0
        self._dsr_a, self._dsr_b = a + eta * da, b + eta * db
        return float(d)
