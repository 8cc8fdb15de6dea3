"""Backtesting a VaR model: exceptions, Kupiec, Christoffersen, the Basel traffic light, a rolling backtest.

An **exception** at bar t is a realised loss larger than the VaR forecast
made at the close of bar t − 1: ``returns[t] < -var[t]`` (VaR as a positive
loss fraction, see :mod:`risk.var`).

* Kupiec (1995) proportion of failures: LR_pof = −2 ln[(1−p)^(n−x) p^x /
  ((1−x/n)^(n−x) (x/n)^x)] ~ χ²(1), with p = 1 − α the nominal exception rate.
* Christoffersen (1998) independence: a first-order Markov chain on the
  exception indicator; LR_ind = −2 ln[L(π) / L(π01, π11)] ~ χ²(1).
  Conditional coverage LR_cc = LR_pof + LR_ind ~ χ²(2).
* Basel traffic light (99 % VaR over 250 days): green 0–4 exceptions, yellow
  5–9, red 10 or more; for other sample sizes and levels the zones use the
  same cumulative binomial probabilities (green below 95 %, red from 99.99 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats
from scipy.special import xlogy

from risk.errors import RiskInputError
from risk.var import RiskEstimate

__all__ = ["CoverageTest", "VarBacktest", "exceptions", "kupiec", "christoffersen_independence",
           "conditional_coverage", "traffic_light", "rolling_forecasts", "backtest"]


@dataclass(frozen=True)
class CoverageTest:
    """A likelihood-ratio test: its statistic, degrees of freedom, p-value, and whether it rejects at ``level``."""

    name: str
    statistic: float
    dof: int
    p_value: float
    reject: bool
    level: float

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "statistic": self.statistic, "dof": self.dof, "p_value": self.p_value,
                "reject": self.reject, "level": self.level}


@dataclass(frozen=True)
class VarBacktest:
    """The result of a rolling VaR backtest."""

    method: str
    confidence: float
    window: int
    n: int
    exceptions: int
    expected: float
    kupiec: CoverageTest
    independence: CoverageTest
    conditional: CoverageTest
    zone: str

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "confidence": self.confidence, "window": self.window, "n": self.n,
                "exceptions": self.exceptions, "expected": self.expected, "kupiec": self.kupiec.to_json(),
                "independence": self.independence.to_json(), "conditional_coverage": self.conditional.to_json(),
                "traffic_light": self.zone}


def exceptions(returns: object, var: object) -> np.ndarray:
    """Boolean exception series: ``returns[t] < -var[t]`` (both aligned on the bar being predicted)."""
    r = np.asarray(returns, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    if r.shape != v.shape or r.ndim != 1:
        raise RiskInputError(f"var: expected one forecast per return ({r.shape}), got shape {v.shape}")
    bad = np.flatnonzero(~np.isfinite(r) | ~np.isfinite(v))
    if bad.size:
        raise RiskInputError(f"returns/var[{bad[0]}]: must be finite")
    return r < -v


def _hits(hits: object) -> np.ndarray:
    h = np.asarray(hits)
    if h.ndim != 1 or h.size < 2:
        raise RiskInputError(f"exceptions: expected a 1-D series of at least 2 booleans, got shape {h.shape}")
    return h.astype(bool)


def _test(name: str, lr: float, dof: int, level: float) -> CoverageTest:
    lr = max(float(lr), 0.0)
    p = float(stats.chi2.sf(lr, dof))
    return CoverageTest(name, lr, dof, p, p < 1.0 - level, level)


def kupiec(hits: object, confidence: float, level: float = 0.95) -> CoverageTest:
    """Kupiec's proportion-of-failures test of the exception rate against 1 − ``confidence``."""
    h = _hits(hits)
    n, x = h.size, int(h.sum())
    p = 1.0 - confidence
    pi = x / n
    lr = -2.0 * ((xlogy(n - x, 1 - p) + xlogy(x, p)) - (xlogy(n - x, 1 - pi) + xlogy(x, pi)))
    return _test("kupiec_pof", lr, 1, level)


def _transitions(h: np.ndarray) -> tuple[int, int, int, int]:
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))
    return n00, n01, n10, n11


def christoffersen_independence(hits: object, level: float = 0.95) -> CoverageTest:
    """Christoffersen's test that an exception today does not make one tomorrow more (or less) likely."""
    h = _hits(hits)
    n00, n01, n10, n11 = _transitions(h)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    l0 = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    l1 = xlogy(n00, 1 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1 - pi1) + xlogy(n11, pi1)
    return _test("christoffersen_ind", -2.0 * (l0 - l1), 1, level)


def conditional_coverage(hits: object, confidence: float, level: float = 0.95) -> CoverageTest:
    """Christoffersen's conditional coverage: LR_cc = LR_pof + LR_ind ~ χ²(2).

    LR_pof is computed on the same n − 1 transitions as LR_ind (the first
    observation is the chain's initial state), as in Christoffersen (1998).
    """
    h = _hits(hits)
    pof = kupiec(h[1:], confidence, level)
    ind = christoffersen_independence(h, level)
    return _test("christoffersen_cc", pof.statistic + ind.statistic, 2, level)


def traffic_light(n_exceptions: int, n: int = 250, confidence: float = 0.99) -> str:
    """Basel zone for ``n_exceptions`` in ``n`` days: green below a cumulative binomial 95 %, red from 99.99 %."""
    if n < 1 or n_exceptions < 0 or n_exceptions > n:
        raise RiskInputError(f"n_exceptions: must be in [0, n={n}], got {n_exceptions}")
    cdf = float(stats.binom.cdf(n_exceptions, n, 1.0 - confidence))
    if cdf < 0.95:
        return "green"
    return "yellow" if cdf < 0.9999 else "red"


def rolling_forecasts(returns: object, estimator: Callable[[np.ndarray], RiskEstimate], window: int) -> np.ndarray:
    """One-bar VaR forecasts: ``var[t]`` from ``returns[t - window : t]`` only (no lookahead); NaN before ``window``."""
    r = np.asarray(returns, dtype=np.float64)
    if int(window) < 10 or int(window) >= r.size:
        raise RiskInputError(f"window: must be in [10, {r.size - 1}] bars, got {window!r}")
    out = np.full(r.size, np.nan)
    for t in range(window, r.size):
        out[t] = estimator(r[t - window:t]).var
    return out


def backtest(returns: object, estimator: Callable[[np.ndarray], RiskEstimate], window: int, *,
             confidence: float, level: float = 0.95, method: str = "") -> VarBacktest:
    """Rolling one-bar backtest of ``estimator`` (a function of past returns) with all three tests."""
    r = np.asarray(returns, dtype=np.float64)
    var = rolling_forecasts(r, estimator, window)
    hits = exceptions(r[window:], var[window:])
    n, x = hits.size, int(hits.sum())
    return VarBacktest(method, confidence, int(window), n, x, n * (1 - confidence), kupiec(hits, confidence, level),
                       christoffersen_independence(hits, level), conditional_coverage(hits, confidence, level),
                       traffic_light(x, n, confidence))
