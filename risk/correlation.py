"""Covariance and correlation estimators, and a flag for correlation regimes.

Inputs are (bars x assets) matrices of per-bar simple returns. Covariances
are per bar (multiply by periods per year to annualise).

* sample: unbiased (ddof = 1);
* EWMA: RiskMetrics, ``S[t] = λ S[t-1] + (1-λ) r[t-1] r[t-1]ᵀ`` on demeaned
  returns, seeded with the sample covariance of the first ``seed_bars``;
* Ledoit–Wolf: scikit-learn's shrinkage toward a scaled identity;
* rolling: the average pairwise correlation over a trailing window, using
  only bars up to and including ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from risk.errors import RiskInputError

__all__ = ["sample_cov", "ewma_cov", "ledoit_wolf_cov", "to_correlation", "average_correlation",
           "rolling_average_correlation", "CorrelationRegime", "correlation_regime"]


def _matrix(returns: object) -> np.ndarray:
    R = np.asarray(returns, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] < 2:
        raise RiskInputError(f"returns: expected a (bars x assets) matrix with >= 2 assets, got shape {R.shape}")
    bad = np.argwhere(~np.isfinite(R))
    if bad.size:
        raise RiskInputError(f"returns[{bad[0][0]}, {bad[0][1]}]: must be finite")
    if R.shape[0] < 3:
        raise RiskInputError(f"returns: need at least 3 bars, got {R.shape[0]}")
    return R


def sample_cov(returns: object) -> np.ndarray:
    """Unbiased sample covariance (ddof = 1)."""
    return np.cov(_matrix(returns), rowvar=False, ddof=1)


def ewma_cov(returns: object, lam: float = 0.94, seed_bars: int = 30) -> np.ndarray:
    """RiskMetrics EWMA covariance after the last bar (the forecast for the next one)."""
    R = _matrix(returns)
    if not (0.0 < lam < 1.0):
        raise RiskInputError(f"lam: the EWMA decay must be in (0, 1), got {lam!r}")
    X = R - R.mean(axis=0)
    S = np.cov(X[: max(3, min(seed_bars, X.shape[0]))], rowvar=False, ddof=1)
    for x in X:
        S = lam * S + (1.0 - lam) * np.outer(x, x)
    return S


def ledoit_wolf_cov(returns: object) -> tuple[np.ndarray, float]:
    """Ledoit–Wolf shrunk covariance (scikit-learn) and its shrinkage intensity in [0, 1]."""
    from sklearn.covariance import LedoitWolf  # noqa: PLC0415 - scikit-learn loads only for shrinkage

    lw = LedoitWolf().fit(_matrix(returns))
    return lw.covariance_, float(lw.shrinkage_)


def to_correlation(cov: object) -> np.ndarray:
    """Correlation matrix of a covariance matrix."""
    C = np.asarray(cov, dtype=np.float64)
    sd = np.sqrt(np.diag(C))
    if np.any(sd <= 0):
        raise RiskInputError(f"cov[{int(np.flatnonzero(sd <= 0)[0])}]: zero variance")
    return C / np.outer(sd, sd)


def average_correlation(corr: object) -> float:
    """Mean of the off-diagonal entries of a correlation matrix."""
    C = np.asarray(corr, dtype=np.float64)
    n = C.shape[0]
    return float((C.sum() - np.trace(C)) / (n * (n - 1)))


def rolling_average_correlation(returns: object, window: int) -> np.ndarray:
    """Average pairwise correlation over the trailing ``window`` bars ending at each bar (NaN before)."""
    R = _matrix(returns)
    if int(window) < 3 or int(window) > R.shape[0]:
        raise RiskInputError(f"window: must be in [3, {R.shape[0]}] bars, got {window!r}")
    w = int(window)
    n, k = R.shape
    out = np.full(n, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(R, w, axis=0)  # (n - w + 1, k, w), a view
    # windows in chunks of about 4 MB of demeaned copies: the covariance of each window as np.cov computes it
    # (demeaned products), then the correlations' off-diagonal mean, as average_correlation(np.corrcoef(...))
    step = max(1, 4_000_000 // (8 * k * w))
    for lo in range(0, windows.shape[0], step):
        block = windows[lo:lo + step]
        d = block - block.mean(axis=2, keepdims=True)
        cov = np.matmul(d, d.transpose(0, 2, 1)) / (w - 1)
        sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        ok = np.all(sd > 0, axis=1)
        corr = cov[ok] / (sd[ok, :, None] * sd[ok, None, :])
        np.clip(corr, -1.0, 1.0, out=corr)  # as np.corrcoef
        avg = (corr.sum(axis=(1, 2)) - np.trace(corr, axis1=1, axis2=2)) / (k * (k - 1))
        idx = np.flatnonzero(ok) + lo + w - 1
        out[idx] = avg
    return out


@dataclass(frozen=True)
class CorrelationRegime:
    """Bars where the short-window average correlation jumped above the long-window one by ``threshold``."""

    short: np.ndarray
    long: np.ndarray
    flag: np.ndarray
    threshold: float


def correlation_regime(returns: object, short_window: int = 21, long_window: int = 252,
                       threshold: float = 0.2) -> CorrelationRegime:
    """Flag a correlation regime: ``short[t] - long[t] > threshold`` (both trailing, so no lookahead)."""
    if short_window >= long_window:
        raise RiskInputError(f"short_window: must be shorter than long_window ({long_window}), got {short_window}")
    short = rolling_average_correlation(returns, short_window)
    long = rolling_average_correlation(returns, long_window)
    with np.errstate(invalid="ignore"):
        flag = (short - long) > threshold
    return CorrelationRegime(short, long, flag & np.isfinite(long), float(threshold))
