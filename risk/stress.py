"""Stress tests: historical scenarios and hypothetical shocks applied to a portfolio of positions.

A portfolio is a mapping ``asset -> value held`` in one quote currency
(negative for a short). A scenario is a mapping ``asset -> simple return``
(−0.4 is a 40 % fall). The P&L of a scenario is ``Σ value_i · return_i`` in
the quote currency; assets a scenario does not name are unchanged.

Historical scenarios are the worst windows of real returns (the bundled
BTC/USD daily series, the 20-stock panel); hypothetical ones are built from
the portfolio's own return history: a uniform shock, correlations to one,
volatility times k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from risk.errors import RiskInputError

__all__ = ["Scenario", "StressResult", "apply", "worst_windows", "uniform_shock", "correlation_to_one",
           "volatility_multiplier"]


@dataclass(frozen=True)
class Scenario:
    """A named set of asset returns (fractions)."""

    name: str
    returns: Mapping[str, float]
    start: str = ""
    end: str = ""


@dataclass(frozen=True)
class StressResult:
    """The P&L of one scenario on one portfolio, in the portfolio's quote currency, and as a fraction of gross value."""

    scenario: str
    pnl: float
    pnl_fraction: float
    by_asset: Mapping[str, float]
    start: str = ""
    end: str = ""

    def to_json(self) -> dict[str, object]:
        return {"scenario": self.scenario, "pnl": self.pnl, "pnl_fraction": self.pnl_fraction,
                "by_asset": dict(self.by_asset), "start": self.start, "end": self.end}


def _portfolio(positions: Mapping[str, float]) -> dict[str, float]:
    if not positions:
        raise RiskInputError("positions: the portfolio is empty")
    out = {}
    for k, v in positions.items():
        if not np.isfinite(v):
            raise RiskInputError(f"positions[{k}]: value must be finite, got {v!r}")
        out[str(k)] = float(v)
    if sum(abs(v) for v in out.values()) == 0:
        raise RiskInputError("positions: every position is zero")
    return out


def apply(positions: Mapping[str, float], scenario: Scenario) -> StressResult:
    """P&L of ``scenario`` on ``positions``."""
    pos = _portfolio(positions)
    for k, r in scenario.returns.items():
        if not (np.isfinite(r) and r >= -1.0):
            raise RiskInputError(f"scenario {scenario.name!r} [{k}]: a return must be finite and >= -1, got {r!r}")
    by_asset = {k: v * float(scenario.returns.get(k, 0.0)) for k, v in pos.items()}
    pnl = float(sum(by_asset.values()))
    gross = sum(abs(v) for v in pos.values())
    return StressResult(scenario.name, pnl, pnl / gross, by_asset, scenario.start, scenario.end)


def worst_windows(timestamps: Sequence[object], closes: Mapping[str, np.ndarray], weights: Mapping[str, float], *,
                  window: int = 1, count: int = 5, min_gap: int | None = None) -> list[Scenario]:
    """The ``count`` worst ``window``-bar periods for a weighted portfolio, as historical scenarios.

    ``closes`` maps each asset to its close prices aligned on ``timestamps``;
    the portfolio's window return is ``Σ w_i · (close_i[t] / close_i[t−window] − 1)``.
    Windows closer than ``min_gap`` bars (default ``window``) to a worse one are skipped,
    so one crash is not listed five times.
    """
    if int(window) < 1:
        raise RiskInputError(f"window: must be >= 1 bar, got {window!r}")
    names = [k for k in weights if weights[k] != 0]
    if not names:
        raise RiskInputError("weights: all zero")
    missing = [k for k in names if k not in closes]
    if missing:
        raise RiskInputError(f"weights: no prices for {missing[0]!r}")
    px = np.column_stack([np.asarray(closes[k], dtype=np.float64) for k in names])
    if px.shape[0] != len(timestamps) or px.shape[0] <= window:
        raise RiskInputError(f"closes: need more than {window} bars aligned on the timestamps, got {px.shape[0]}")
    rets = px[window:] / px[:-window] - 1.0
    w = np.array([weights[k] for k in names])
    port = rets @ w
    gap = int(min_gap if min_gap is not None else window)
    order = np.argsort(port)
    chosen: list[int] = []
    for i in order:
        if not np.isfinite(port[i]):
            continue
        if all(abs(int(i) - j) >= max(gap, 1) for j in chosen):
            chosen.append(int(i))
        if len(chosen) == count:
            break
    out = []
    for i in chosen:
        start, end = str(timestamps[i]), str(timestamps[i + window])
        out.append(Scenario(f"worst {window}-bar window ending {end[:10]}", dict(zip(names, rets[i].tolist())), start, end))
    return out


def uniform_shock(assets: Sequence[str], shock: float) -> Scenario:
    """Every asset moves by ``shock`` (e.g. −0.2)."""
    if not (np.isfinite(shock) and shock >= -1.0):
        raise RiskInputError(f"shock: must be a return >= -1, got {shock!r}")
    return Scenario(f"every asset {shock:+.0%}", {a: float(shock) for a in assets})


def _quantile_scenario(name: str, sd: np.ndarray, corr: np.ndarray, assets: Sequence[str],
                       confidence: float, direction: np.ndarray) -> Scenario:
    """Each asset's move in the (1-α) stress of a Gaussian model with ``sd`` and ``corr``, along ``direction``."""
    cov = corr * np.outer(sd, sd)
    sigma_p = float(np.sqrt(direction @ cov @ direction))
    if sigma_p <= 0:
        raise RiskInputError("positions: the portfolio has zero variance under this scenario")
    z = float(stats.norm.ppf(confidence))
    moves = -z * (cov @ direction) / sigma_p  # the most likely move given a z-sigma portfolio loss
    return Scenario(name, {a: float(max(m, -1.0)) for a, m in zip(assets, moves)})


def correlation_to_one(asset_returns: np.ndarray, assets: Sequence[str], positions: Mapping[str, float],
                       confidence: float = 0.99) -> Scenario:
    """The 1-in-(1−α) Gaussian loss of the portfolio with every correlation set to one (diversification gone)."""
    R = np.asarray(asset_returns, dtype=np.float64)
    sd = R.std(axis=0, ddof=1)
    w = np.array([positions.get(a, 0.0) for a in assets], dtype=np.float64)
    return _quantile_scenario(f"correlations to 1 at {confidence:.0%}", sd, np.ones((len(assets), len(assets))),
                              assets, confidence, w)


def volatility_multiplier(asset_returns: np.ndarray, assets: Sequence[str], positions: Mapping[str, float],
                          k: float = 2.0, confidence: float = 0.99) -> Scenario:
    """The 1-in-(1−α) Gaussian loss with every volatility multiplied by ``k`` (correlations as observed)."""
    if not (np.isfinite(k) and k > 0):
        raise RiskInputError(f"k: the volatility multiplier must be > 0, got {k!r}")
    R = np.asarray(asset_returns, dtype=np.float64)
    sd = R.std(axis=0, ddof=1)
    corr = np.corrcoef(R, rowvar=False).reshape(len(assets), len(assets))
    w = np.array([positions.get(a, 0.0) for a in assets], dtype=np.float64)
    return _quantile_scenario(f"volatility x{k:g} at {confidence:.0%}", sd * k, corr, assets, confidence, w)
