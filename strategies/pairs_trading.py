"""Pairs trading on a trailing Engle–Granger cointegration test, with z-score entries and exits.

Two aligned series, ``bars[0]`` (``y``) and ``bars[1]`` (``x``), in log
prices. At every bar ``t`` with a full trailing window ``W = [t-window+1, t]``:

1. OLS ``y = a + b x + e`` on ``W`` only (no later data): hedge ratio ``b``.
2. Engle–Granger statistic: the Dickey–Fuller t-statistic (no lags, no
   constant) of the residuals ``e`` on ``W``, and its MacKinnon (1994/2010)
   asymptotic p-value for two variables with a constant; identical to
   ``statsmodels.tsa.stattools.coint(y, x, trend="c", maxlag=0,
   autolag=None)`` on the same window.
3. ``z[t] = e[t] / std(e on W)`` (population std).

Trading (state per bar, starting flat):

* exit when ``|z| <= exit_z`` or the pair is no longer cointegrated
  (p-value > ``pvalue``) or ``z`` is undefined;
* when flat and cointegrated (p-value <= ``pvalue``): ``z > entry_z`` shorts
  the spread, ``z < -entry_z`` buys it; a bar can exit and re-enter.
* Holding the spread long (``s = +1``) or short (``s = -1``) with the hedge
  ratio ``b`` fixed at entry, the targets are ``y: s / (1 + |b|)`` and
  ``x: -s * b / (1 + |b|)`` (fractions of equity, gross exposure 1).

Output ``(bars, 2)``; ``min_bars = window``. Cost O(bars * window).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from strategies.bar_field import bar_field
from strategies._common import multi_entry
from strategies.errors import IndicatorError
from strategies.params import Constraint, ParamSpec, ParamValue
from strategies.registry import Strategy, register

__all__ = ["pairs_trading", "PAIRS_TRADING", "EngleGranger", "engle_granger", "mackinnon_pvalue"]

# MacKinnon (1994) p-value surface for the cointegration t-test, N = 2 series, constant
# (as in statsmodels.tsa.adfvalues: _tau_maxs/_tau_mins/_tau_stars/_tau_smallps/_tau_largeps["c"][1])
_TAU_MAX = 0.92
_TAU_MIN = -18.86
_TAU_STAR = -2.62
_SMALL_P = (2.92, 1.5012, 0.039796)
_LARGE_P = (2.1945, 0.64695, -0.29198, -0.042377)
#: residual/total sum of squares at or below which a window counts as collinear (statsmodels' 100 * sqrt(eps))
_COLLINEAR = 100.0 * math.sqrt(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class EngleGranger:
    """Trailing-window Engle–Granger results, float64 per bar (NaN before ``window - 1`` or when degenerate).

    Attributes:
        beta: OLS hedge ratio of log ``y`` on log ``x``.
        alpha: OLS intercept.
        zscore: last residual over the residuals' population std, unitless.
        tstat: Dickey–Fuller t-statistic of the residuals (no lags).
        pvalue: MacKinnon asymptotic p-value of ``tstat``, in [0, 1].
    """

    beta: np.ndarray
    alpha: np.ndarray
    zscore: np.ndarray
    tstat: np.ndarray
    pvalue: np.ndarray


def engle_granger(y: np.ndarray, x: np.ndarray, window: int) -> EngleGranger:
    """Engle–Granger on each trailing window of ``y`` and ``x`` (already in logs if wanted).

    Row ``t`` uses only ``y[t-window+1 : t+1]`` and ``x`` likewise. A window
    where ``x`` is constant, or where ``y`` is (almost) exactly linear in
    ``x`` (``R^2 >= 1 - 100 * sqrt(eps)``, where statsmodels warns and
    returns ``-inf``), gives NaN: no statistic, so no trade.

    Raises:
        IndicatorError: ``window`` < 3, series of different lengths, or a
            non-finite value (names the series and row).
    """
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 3:
        raise IndicatorError(f"window: must be an integer >= 3, got {window!r}")
    ya = np.ascontiguousarray(y, dtype=np.float64)
    xa = np.ascontiguousarray(x, dtype=np.float64)
    for name, arr in (("y", ya), ("x", xa)):
        if arr.ndim != 1:
            raise IndicatorError(f"{name}: expected a 1-D series, got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise IndicatorError(f"{name}[{int(bad[0])}]: non-finite value {arr[bad[0]]}")
    if ya.shape != xa.shape:
        raise IndicatorError(f"x: length {xa.shape[0]} differs from y's {ya.shape[0]}")
    cols = np.full((5, ya.shape[0]), np.nan)
    _eg_kernel(ya, xa, int(window), cols)
    return EngleGranger(beta=cols[0], alpha=cols[1], zscore=cols[2], tstat=cols[3], pvalue=cols[4])


def mackinnon_pvalue(tstat: float) -> float:
    """MacKinnon's asymptotic p-value of an Engle–Granger t-statistic (two series, constant)."""
    return float(_pvalue(float(tstat)))


def pairs_trading(
    bars: Sequence[object], window: int = 500, entry_z: float = 2.0, exit_z: float = 0.5, pvalue: float = 0.05,
) -> np.ndarray:
    """Targets ``(bars, 2)`` for ``y = bars[0]`` and ``x = bars[1]``; see the module docstring.

    ``window`` in bars; ``entry_z``/``exit_z`` in residual standard
    deviations; ``pvalue`` the cointegration significance level.

    Raises:
        ParamError: a parameter out of range, or ``exit_z >= entry_z``.
        AssetCountError, MisalignedBarsError: not two aligned series.
        InsufficientDataError: fewer than ``window`` bars.
    """
    values, _ = multi_entry(
        PAIRS_TRADING, bars, {"window": window, "entry_z": entry_z, "exit_z": exit_z, "pvalue": pvalue})
    ly = np.log(bar_field(bars[0], "close"))
    lx = np.log(bar_field(bars[1], "close"))
    eg = engle_granger(ly, lx, int(values["window"]))
    out = np.zeros((ly.shape[0], 2))
    _trade_kernel(eg.beta, eg.zscore, eg.pvalue, float(values["entry_z"]), float(values["exit_z"]),
                  float(values["pvalue"]), out)
    return out


@njit(cache=True)
def _pvalue(tstat: float) -> float:
    if tstat > _TAU_MAX:
        return 1.0
    if tstat < _TAU_MIN:
        return 0.0
    if tstat <= _TAU_STAR:
        z = _SMALL_P[0] + _SMALL_P[1] * tstat + _SMALL_P[2] * tstat * tstat
    else:
        z = _LARGE_P[0] + _LARGE_P[1] * tstat + _LARGE_P[2] * tstat * tstat + _LARGE_P[3] * tstat ** 3
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


@njit(cache=True)
def _eg_kernel(y: np.ndarray, x: np.ndarray, w: int, cols: np.ndarray) -> None:
    e = np.empty(w)
    for t in range(w - 1, y.shape[0]):
        s = t - w + 1
        mx = 0.0
        my = 0.0
        for j in range(s, t + 1):
            mx += x[j]
            my += y[j]
        mx /= w
        my /= w
        sxx = 0.0
        sxy = 0.0
        syy = 0.0
        for j in range(s, t + 1):
            dx = x[j] - mx
            dy = y[j] - my
            sxx += dx * dx
            sxy += dx * dy
            syy += dy * dy
        if sxx <= 0.0:
            continue
        b = sxy / sxx
        a = my - b * mx
        ss = 0.0
        for j in range(w):
            e[j] = y[s + j] - a - b * x[s + j]
            ss += e[j] * e[j]
        if ss <= _COLLINEAR * syy:  # R^2 ~ 1: the test is meaningless (statsmodels warns here)
            continue
        num = 0.0
        den = 0.0
        for j in range(1, w):
            num += (e[j] - e[j - 1]) * e[j - 1]
            den += e[j - 1] * e[j - 1]
        if den <= 0.0:
            continue
        g = num / den
        ssr = 0.0
        for j in range(1, w):
            u = (e[j] - e[j - 1]) - g * e[j - 1]
            ssr += u * u
        tstat = g / math.sqrt(ssr / (w - 2) / den) if ssr > 0.0 else -np.inf
        cols[0, t] = b
        cols[1, t] = a
        cols[2, t] = e[w - 1] / math.sqrt(ss / w)
        cols[3, t] = tstat
        cols[4, t] = _pvalue(tstat)


@njit(cache=True)
def _trade_kernel(beta, z, pval, entry_z, exit_z, max_p, out):
    state = 0.0
    b = 0.0
    for t in range(z.shape[0]):
        coint = pval[t] <= max_p  # False for NaN
        if state != 0.0 and not (abs(z[t]) > exit_z and coint):
            state = 0.0
        if state == 0.0 and coint:
            if z[t] > entry_z:
                state = -1.0
                b = beta[t]
            elif z[t] < -entry_z:
                state = 1.0
                b = beta[t]
        if state != 0.0:
            gross = 1.0 + abs(b)
            out[t, 0] = state / gross
            out[t, 1] = -state * b / gross


def _exit_below_entry(values: Mapping[str, ParamValue]) -> bool:
    return values["exit_z"] < values["entry_z"]


def _min_bars(values: Mapping[str, ParamValue]) -> int:
    return int(values["window"])


PAIRS_TRADING: Strategy = register(
    Strategy(
        name="pairs_trading",
        doc="Pairs trading: trailing Engle-Granger hedge ratio and test; trade the residual z-score.",
        fn=pairs_trading,
        params=(
            ParamSpec(name="window", kind="int", low=30, high=20_000, default=500,
                      doc="trailing estimation window, bars"),
            ParamSpec(name="entry_z", kind="float", low=0.25, high=6.0, step=0.25, default=2.0,
                      doc="entry threshold, residual standard deviations"),
            ParamSpec(name="exit_z", kind="float", low=0.0, high=5.75, step=0.25, default=0.5,
                      doc="exit threshold, residual standard deviations"),
            ParamSpec(name="pvalue", kind="float", low=0.01, high=0.5, step=0.01, default=0.05,
                      doc="cointegration significance level (MacKinnon p-value)"),
        ),
        constraints=(Constraint(description="exit_z < entry_z", predicate=_exit_below_entry,
                                names=("exit_z", "entry_z")),),
        min_bars=_min_bars,
        min_assets=2,
        max_assets=2,
    )
)
