"""Monte Carlo robustness of a backtest: reshuffled trades and block-bootstrapped returns.

Two resampling schemes, both seeded and reproducible:

* **trades** (:func:`simulate_trades`): the backtest's per-trade equity
  multipliers ``g_k = equity after trade k / equity before trade k`` are
  re-ordered (``replace=False``: a permutation, so the final return is the
  same in every path and only the path — drawdown, ruin — changes) or
  resampled with replacement (``replace=True``: returns change too).
* **bootstrap** (:func:`simulate_block_bootstrap`): the per-bar simple
  returns of the equity curve are resampled in circular blocks of
  ``block_bars`` consecutive bars (keeps short-range autocorrelation and
  volatility clustering), to the original length.

Every path starts at 1.0 (a fraction of starting equity). Per path:
``total_return`` (fraction), ``sharpe`` (annualised with
``periods_per_year``: bars per year for bootstrap, trades per year for
trades), ``max_drawdown`` (positive fraction), and whether the path was
**ruined**: equity at or below ``ruin_level`` (default 0.5, i.e. half the
starting equity lost) at any point. :func:`summarize_paths` turns paths
into percentiles, confidence intervals and the probability of ruin.

A backtest whose account was liquidated (see "Ruin" in
:mod:`backtest.engine`) is resampled like any other: its bar of ruin is a
return of -1 and its liquidated trade a multiplier of 0 (later bars
return 0). Such a step takes a path's equity to 0 and it stays there
(a total return of -1, drawdown 1, ruined at any ``ruin_level``).

Pure: no ``import ray``; ``jobs.montecarlo`` splits the paths across Ray
tasks with independent seeds (``numpy.random.SeedSequence.spawn``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from backtest.errors import BacktestInputError

__all__ = ["MonteCarloError", "MonteCarloPaths", "METHODS", "trade_multipliers", "bar_returns",
           "simulate_trades", "simulate_block_bootstrap", "summarize_paths"]

#: supported resampling schemes
METHODS: tuple[str, ...] = ("trades", "bootstrap")


class MonteCarloError(BacktestInputError):
    """A Monte Carlo setting or input series is unusable (the message names it)."""


@dataclass(frozen=True, kw_only=True)
class MonteCarloPaths:
    """Per-path outcomes; every array has one value per simulated path.

    Attributes:
        method: ``"trades"`` or ``"bootstrap"``.
        total_return: fraction of starting equity.
        sharpe: annualised mean/std of the path's period returns (0.0 when std is 0).
        max_drawdown: positive fraction.
        ruined: True when equity touched ``ruin_level`` or below.
        ruin_level: the ruin threshold, a fraction of starting equity.
    """

    method: str
    total_return: np.ndarray
    sharpe: np.ndarray
    max_drawdown: np.ndarray
    ruined: np.ndarray
    ruin_level: float

    def __len__(self) -> int:
        return int(self.total_return.shape[0])

    @staticmethod
    def concat(parts: "list[MonteCarloPaths]") -> "MonteCarloPaths":
        """Paths of several chunks (same method and ruin level), in order."""
        if not parts:
            raise MonteCarloError("paths: nothing to concatenate")
        return MonteCarloPaths(method=parts[0].method, ruin_level=parts[0].ruin_level,
                               **{k: np.concatenate([getattr(p, k) for p in parts])
                                  for k in ("total_return", "sharpe", "max_drawdown", "ruined")})


def trade_multipliers(equity: np.ndarray, entry_idx: np.ndarray, exit_idx: np.ndarray, initial_cash: float) -> np.ndarray:
    """Per-trade equity multipliers from a backtest's equity curve.

    Trade ``k`` entered on bar ``entry_idx[k]`` and exited on ``exit_idx[k]``
    (``-1``: still open, marked at the last bar). Its multiplier is the
    equity after its exit bar over the equity before its entry bar (the
    previous bar's close, or ``initial_cash`` on bar 0): fees included; 0
    for a trade ended by liquidation (equity 0 after it).
    """
    eq = np.asarray(equity, dtype=np.float64)
    out = np.empty(len(entry_idx))
    for k, (a, b) in enumerate(zip(entry_idx, exit_idx)):
        before = initial_cash if a == 0 else eq[a - 1]
        after = eq[-1] if b < 0 else eq[b]
        out[k] = after / before
    return out


def bar_returns(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Per-bar simple returns of ``[initial_cash, equity...]`` (as ``backtest.metrics`` uses; 0 after ruin)."""
    curve = np.concatenate(([float(initial_cash)], np.asarray(equity, dtype=np.float64)))
    prev = curve[:-1]
    return np.divide(curve[1:], prev, out=np.ones_like(prev), where=prev > 0.0) - 1.0


def _check(n_paths: int, ruin_level: float) -> None:
    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)) or n_paths < 1:
        raise MonteCarloError(f"n_paths: expected an integer >= 1, got {n_paths!r}")
    if not (isinstance(ruin_level, (int, float)) and 0.0 <= ruin_level < 1.0):
        raise MonteCarloError(f"ruin_level: expected a fraction in [0, 1), got {ruin_level!r}")


def _rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    return np.random.default_rng(seed)


def simulate_trades(multipliers: np.ndarray, *, n_paths: int, seed: int | np.random.SeedSequence = 0,
                    replace: bool = False, periods_per_year: float = 1.0,
                    ruin_level: float = 0.5) -> MonteCarloPaths:
    """Re-ordered (or resampled) trade sequences; see the module docstring.

    ``periods_per_year`` annualises the per-trade Sharpe (trades per year).

    Raises:
        MonteCarloError: fewer than 2 trades, a multiplier < 0 or not finite (0 is a liquidation), bad counts.
    """
    _check(n_paths, ruin_level)
    g = np.asarray(multipliers, dtype=np.float64)
    if g.ndim != 1 or g.shape[0] < 2:
        raise MonteCarloError(f"trades: need at least 2 trades to resample, got {g.shape[0] if g.ndim == 1 else g.shape}")
    bad = ~(np.isfinite(g) & (g >= 0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise MonteCarloError(f"trades[{k}]: a trade multiplier must be finite and >= 0, got {g[k]}")
    rng = _rng(seed)
    n = g.shape[0]
    if replace:
        idx = rng.integers(0, n, size=(int(n_paths), n))
    else:
        idx = np.argsort(rng.random((int(n_paths), n)), axis=1)
    return _paths("trades", g[idx] - 1.0, periods_per_year, ruin_level)


def simulate_block_bootstrap(returns: np.ndarray, *, n_paths: int, block_bars: int,
                             seed: int | np.random.SeedSequence = 0, periods_per_year: float = 1.0,
                             ruin_level: float = 0.5) -> MonteCarloPaths:
    """Circular block bootstrap of per-bar returns; see the module docstring.

    Raises:
        MonteCarloError: fewer than 2 returns, a return < -1 or not finite (-1 is ruin), ``block_bars`` < 1 or
            longer than the series, bad counts.
    """
    _check(n_paths, ruin_level)
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.shape[0] < 2:
        raise MonteCarloError("returns: need at least 2 per-bar returns")
    bad = ~(np.isfinite(r) & (r >= -1.0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise MonteCarloError(f"returns[{k}]: a return must be finite and >= -1, got {r[k]}")
    n = r.shape[0]
    if isinstance(block_bars, bool) or not isinstance(block_bars, (int, np.integer)) or not 1 <= block_bars <= n:
        raise MonteCarloError(f"block_bars: expected an integer in [1, {n}], got {block_bars!r}")
    rng = _rng(seed)
    n_blocks = -(-n // int(block_bars))
    starts = rng.integers(0, n, size=(int(n_paths), n_blocks))
    out_ret, out_sharpe, out_dd, out_ruin = _bootstrap_kernel(r, starts, int(block_bars), float(ruin_level),
                                                              math.sqrt(_ppy(periods_per_year)))
    return MonteCarloPaths(method="bootstrap", total_return=out_ret, sharpe=out_sharpe, max_drawdown=out_dd,
                           ruined=out_ruin, ruin_level=float(ruin_level))


def _ppy(periods_per_year: float) -> float:
    if not (isinstance(periods_per_year, (int, float)) and math.isfinite(periods_per_year) and periods_per_year > 0):
        raise MonteCarloError(f"periods_per_year: expected a finite number > 0, got {periods_per_year!r}")
    return float(periods_per_year)


def _paths(method: str, rets: np.ndarray, periods_per_year: float, ruin_level: float) -> MonteCarloPaths:
    out_ret, out_sharpe, out_dd, out_ruin = _path_kernel(np.ascontiguousarray(rets), float(ruin_level),
                                                         math.sqrt(_ppy(periods_per_year)))
    return MonteCarloPaths(method=method, total_return=out_ret, sharpe=out_sharpe, max_drawdown=out_dd,
                           ruined=out_ruin, ruin_level=float(ruin_level))


@njit(cache=True)
def _path_stats(path_rets, ruin_level, sqrt_ppy):
    eq = 1.0
    peak = 1.0
    dd = 0.0
    ruined = False
    n = path_rets.shape[0]
    total = 0.0
    for i in range(n):
        eq *= 1.0 + path_rets[i]
        total += path_rets[i]
        if eq > peak:
            peak = eq
        x = 1.0 - eq / peak
        if x > dd:
            dd = x
        if eq <= ruin_level:
            ruined = True
    mean = total / n
    ss = 0.0
    for i in range(n):
        d = path_rets[i] - mean
        ss += d * d
    std = math.sqrt(ss / (n - 1)) if n > 1 else 0.0
    sharpe = 0.0 if std == 0.0 else mean / std * sqrt_ppy
    return eq - 1.0, sharpe, dd, ruined


@njit(cache=True)
def _path_kernel(rets, ruin_level, sqrt_ppy):
    m = rets.shape[0]
    out_ret = np.empty(m)
    out_sharpe = np.empty(m)
    out_dd = np.empty(m)
    out_ruin = np.empty(m, dtype=np.bool_)
    for p in range(m):
        out_ret[p], out_sharpe[p], out_dd[p], out_ruin[p] = _path_stats(rets[p], ruin_level, sqrt_ppy)
    return out_ret, out_sharpe, out_dd, out_ruin


@njit(cache=True)
def _bootstrap_kernel(r, starts, block, ruin_level, sqrt_ppy):
    n = r.shape[0]
    m = starts.shape[0]
    buf = np.empty(n)
    out_ret = np.empty(m)
    out_sharpe = np.empty(m)
    out_dd = np.empty(m)
    out_ruin = np.empty(m, dtype=np.bool_)
    for p in range(m):
        k = 0
        b = 0
        while k < n:
            s = starts[p, b]
            for j in range(block):
                if k >= n:
                    break
                buf[k] = r[(s + j) % n]
                k += 1
            b += 1
        out_ret[p], out_sharpe[p], out_dd[p], out_ruin[p] = _path_stats(buf, ruin_level, sqrt_ppy)
    return out_ret, out_sharpe, out_dd, out_ruin


def summarize_paths(paths: MonteCarloPaths, *, confidence: float = 0.95) -> dict[str, object]:
    """Distribution summary of ``paths`` as a JSON-ready dict.

    For ``total_return``, ``sharpe`` and ``max_drawdown``: ``mean``,
    ``std``, percentiles ``p5 p25 p50 p75 p95`` and the two-sided
    ``confidence`` interval ``ci`` = ``[lo, hi]`` (percentile method).
    Plus ``prob_ruin`` (fraction of paths ruined), ``n_paths``, ``method``,
    ``ruin_level``, ``confidence``.
    """
    if not 0.0 < confidence < 1.0:
        raise MonteCarloError(f"confidence: expected a fraction in (0, 1), got {confidence!r}")
    if len(paths) == 0:
        raise MonteCarloError("paths: no paths to summarize")
    tail = (1.0 - confidence) / 2.0 * 100.0
    out: dict[str, object] = {"method": paths.method, "n_paths": len(paths), "confidence": confidence,
                              "ruin_level": paths.ruin_level, "prob_ruin": float(np.mean(paths.ruined))}
    for name in ("total_return", "sharpe", "max_drawdown"):
        v = getattr(paths, name)
        pct = np.percentile(v, [5, 25, 50, 75, 95, tail, 100.0 - tail])
        out[name] = {"mean": float(v.mean()), "std": float(v.std()), "p5": float(pct[0]), "p25": float(pct[1]),
                     "p50": float(pct[2]), "p75": float(pct[3]), "p95": float(pct[4]),
                     "ci": [float(pct[5]), float(pct[6])]}
    return out
