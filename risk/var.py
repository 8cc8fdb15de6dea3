"""Value at Risk and expected shortfall: historical, parametric, Cornish–Fisher, filtered historical, Monte Carlo.

Conventions (every function here):

* Returns are **simple returns per bar** (``close[t] / close[t-1] - 1``), as
  fractions. A portfolio is a vector of **weights**: the value held in each
  asset as a fraction of the portfolio's value (negative for a short), held
  constant from bar to bar, so the portfolio return is ``asset_returns @
  weights``.
* ``confidence`` is the VaR level α in (0.5, 1), e.g. 0.99. ``horizon`` is a
  whole number of bars.
* **VaR and ES are losses, reported as positive fractions of portfolio
  value**: VaR is minus the (1 − α) quantile of the horizon return, ES is
  minus the mean of the horizon returns at or below that quantile. A VaR of
  0.031 means "a loss of 3.1 % of the portfolio's value or worse happens with
  probability 1 − α over the horizon". Either can be negative when the
  distribution is almost all gains.
* Historical quantiles interpolate linearly between order statistics
  (numpy's default, as empyrical does).

Horizons longer than one bar:

* historical: the returns of all overlapping ``horizon``-bar windows,
  compounded (``prod(1 + r) - 1``); no scaling assumption;
* parametric and Cornish–Fisher: i.i.d. aggregation of the one-bar moments
  (mean × h, standard deviation × √h, skewness / √h, excess kurtosis / h);
* filtered historical: the one-step volatility forecast scaled by √h;
* Monte Carlo: one-bar scenarios scaled as the parametric case (mean × h,
  shocks × √h).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from types import ModuleType
from typing import Callable, Literal

import numpy as np

from risk.errors import RiskInputError

__all__ = [
    "RiskEstimate",
    "ComponentRisk",
    "portfolio_returns",
    "historical",
    "gaussian",
    "cornish_fisher",
    "filtered_historical",
    "ewma_volatility",
    "garch_volatility",
    "monte_carlo",
    "monte_carlo_block",
    "monte_carlo_tail",
    "mc_blocks",
    "MC_BLOCK",
    "simulate_returns",
    "component_var_gaussian",
    "component_es",
    "position_var",
    "METHODS",
]

METHODS = ("historical", "parametric", "cornish-fisher", "fhs", "mc")


@dataclass(frozen=True)
class RiskEstimate:
    """One VaR/ES estimate; ``var`` and ``es`` are positive loss fractions of portfolio value."""

    method: str
    confidence: float
    horizon: int
    var: float
    es: float
    n_obs: int

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "confidence": self.confidence, "horizon": self.horizon,
                "var": self.var, "es": self.es, "n_obs": self.n_obs}


@dataclass(frozen=True)
class ComponentRisk:
    """Euler allocation of a portfolio risk measure: ``sum(components) == total`` (to rounding)."""

    measure: str
    total: float
    components: tuple[float, ...]


# ------------------------------------------------------------------ input checks
def _confidence(confidence: float) -> float:
    c = float(confidence)
    if not (0.5 < c < 1.0):
        raise RiskInputError(f"confidence: must be in (0.5, 1), got {confidence!r}")
    return c


def _horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or int(horizon) != horizon or int(horizon) < 1:
        raise RiskInputError(f"horizon: must be a whole number of bars >= 1, got {horizon!r}")
    return int(horizon)


def _returns_1d(returns: object, name: str = "returns") -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise RiskInputError(f"{name}: expected a 1-D series of returns, got shape {r.shape}")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise RiskInputError(f"{name}[{bad[0]}]: a return must be finite, got {r[bad[0]]!r}")
    if r.size < 2:
        raise RiskInputError(f"{name}: need at least 2 returns, got {r.size}")
    return r


def _returns_2d(asset_returns: object, weights: object) -> tuple[np.ndarray, np.ndarray]:
    R = np.asarray(asset_returns, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if R.ndim != 2:
        raise RiskInputError(f"asset_returns: expected a (bars x assets) matrix, got shape {R.shape}")
    if w.ndim != 1 or w.size != R.shape[1]:
        raise RiskInputError(f"weights: expected {R.shape[1]} weights (one per asset), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise RiskInputError(f"weights[{int(np.flatnonzero(~np.isfinite(w))[0])}]: must be finite")
    bad = np.argwhere(~np.isfinite(R) | (R <= -1.0))
    if bad.size:
        i, j = bad[0]
        raise RiskInputError(f"asset_returns[{i}, {j}]: a simple return must be finite and > -1, got {R[i, j]!r}")
    if R.shape[0] < 2:
        raise RiskInputError(f"asset_returns: need at least 2 bars, got {R.shape[0]}")
    return R, w


def _tail_count(n: int, confidence: float) -> None:
    if n * (1.0 - confidence) < 1.0:
        raise RiskInputError(f"confidence: {confidence} needs at least {int(np.ceil(1 / (1 - confidence)))} observations "
                             f"for one in the tail, got {n}")


def portfolio_returns(asset_returns: object, weights: object) -> np.ndarray:
    """Per-bar portfolio return of constant weights: ``asset_returns @ weights``."""
    R, w = _returns_2d(asset_returns, weights)
    return R @ w


def _tail(sample: np.ndarray, confidence: float) -> tuple[float, float]:
    """(VaR, ES) of an empirical sample of horizon returns, as positive losses."""
    q = float(np.quantile(sample, 1.0 - confidence))
    tail = sample[sample <= q]
    return -q, -float(tail.mean())


def _overlapping(r: np.ndarray, horizon: int) -> np.ndarray:
    if horizon == 1:
        return r
    bad = np.flatnonzero(r <= -1.0)
    if bad.size:
        raise RiskInputError(f"returns[{bad[0]}]: compounding over a horizon needs simple returns > -1, got {r[bad[0]]!r}")
    growth = np.cumsum(np.log1p(r))
    growth = np.concatenate(([0.0], growth))
    return np.expm1(growth[horizon:] - growth[:-horizon])


# ------------------------------------------------------------------ methods on a return series
def historical(returns: object, confidence: float = 0.99, horizon: int = 1) -> RiskEstimate:
    """Historical VaR/ES: the empirical quantile of (overlapping, compounded) ``horizon``-bar returns."""
    c, h, r = _confidence(confidence), _horizon(horizon), _returns_1d(returns)
    sample = _overlapping(r, h)
    _tail_count(sample.size, c)
    var, es = _tail(sample, c)
    return RiskEstimate("historical", c, h, var, es, int(r.size))


def _moments(r: np.ndarray) -> tuple[float, float]:
    mu, sigma = float(r.mean()), float(r.std(ddof=1))
    if not (np.ptp(r) > 0 and sigma > 0):
        raise RiskInputError("returns: zero variance; a parametric VaR needs returns that vary")
    return mu, sigma


def gaussian(returns: object, confidence: float = 0.99, horizon: int = 1) -> RiskEstimate:
    """Parametric (normal) VaR/ES from the sample mean and standard deviation (ddof=1).

    VaR = −(μh) + σ√h·z_α and ES = −(μh) + σ√h·φ(z_α)/(1−α), with z_α = Φ⁻¹(α).
    """
    c, h, r = _confidence(confidence), _horizon(horizon), _returns_1d(returns)
    mu, sigma = _moments(r)
    var, es = _gaussian_tail(mu * h, sigma * np.sqrt(h), c)
    return RiskEstimate("parametric", c, h, var, es, int(r.size))


def _gaussian_tail(mu: float, sigma: float, confidence: float) -> tuple[float, float]:
    # Φ⁻¹ and φ directly: the same numbers as stats.norm.ppf/pdf (their standard case), without scipy's
    # per-call argument handling (~0.17 ms a call vs 2 us; a rolling VaR backtest makes thousands)
    z = float(_special().ndtri(confidence))
    return -mu + sigma * z, -mu + sigma * float(np.exp(-np.square(z) / 2.0) / np.sqrt(2 * np.pi)) / (1.0 - confidence)


def _cf_quantile(z: np.ndarray, skew: float, exkurt: float) -> np.ndarray:
    z2 = z * z
    z3 = z2 * z  # not z**3: numpy's pow per element is ~50x slower, and ES evaluates 4,000 levels per call
    return (z + (z2 - 1.0) * skew / 6.0 + (z3 - 3.0 * z) * exkurt / 24.0
            - (2.0 * z3 - 5.0 * z) * skew**2 / 36.0)


def _sample_skew_kurtosis(r: np.ndarray) -> tuple[float, float]:
    """Adjusted sample skewness G1 and excess kurtosis G2 (scipy's ``bias=False``), in plain numpy."""
    n = r.size
    if n < 4:
        raise RiskInputError(f"returns: Cornish-Fisher needs at least 4 returns, got {n}")
    d = r - r.mean()
    m2, m3, m4 = float(np.mean(d**2)), float(np.mean(d**3)), float(np.mean(d**4))
    g1, g2 = m3 / m2**1.5, m4 / m2**2 - 3.0
    return g1 * np.sqrt(n * (n - 1)) / (n - 2), ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))


@lru_cache(maxsize=32)
def _tail_normal_quantiles(confidence: float, k: int = 4000) -> np.ndarray:
    """Φ⁻¹ at the midpoints of ``k`` equal slices of the tail (0, 1 − α) (read-only, cached)."""
    z = _special().ndtri((1.0 - confidence) * (np.arange(k) + 0.5) / k)  # = stats.norm.ppf, standard case
    z.setflags(write=False)
    return z


def cornish_fisher(returns: object, confidence: float = 0.99, horizon: int = 1) -> RiskEstimate:
    """Modified (Cornish–Fisher) VaR: the normal quantile corrected for sample skewness and excess kurtosis.

    ES is the average of the Cornish–Fisher VaR over the tail levels u in (α, 1),
    integrated numerically (midpoint rule, 4,000 levels).
    """
    c, h, r = _confidence(confidence), _horizon(horizon), _returns_1d(returns)
    mu, sigma = _moments(r)
    skew, exkurt = _sample_skew_kurtosis(r)
    skew, exkurt = skew / np.sqrt(h), exkurt / h
    m, s = mu * h, sigma * np.sqrt(h)
    z = np.array([_special().ndtri(1.0 - c)])
    var = -(m + s * float(_cf_quantile(z, skew, exkurt)[0]))
    es = -(m + s * float(_cf_quantile(_tail_normal_quantiles(c), skew, exkurt).mean()))
    return RiskEstimate("cornish-fisher", c, h, var, es, int(r.size))


def ewma_volatility(returns: object, lam: float = 0.94, seed_bars: int = 30) -> np.ndarray:
    """RiskMetrics EWMA volatility: σ²[t] = λ·σ²[t−1] + (1−λ)·r[t−1]².

    Returns ``n + 1`` values: ``σ[t]`` is known at the close of bar ``t − 1``
    (uses returns before ``t`` only), and the last one is the forecast for the
    next bar. σ²[0] is the sample variance of the first ``seed_bars`` returns
    (a documented, small look into the first bars only).
    """
    r = _returns_1d(returns)
    if not (0.0 < lam < 1.0):
        raise RiskInputError(f"lam: the EWMA decay must be in (0, 1), got {lam!r}")
    var0 = float(np.var(r[: max(2, min(seed_bars, r.size))], ddof=1)) or float(np.mean(r**2))
    # the recursion as an IIR filter (scipy's C loop): var[t+1] = lam var[t] + (1 - lam) r[t]^2
    from scipy.signal import lfilter  # noqa: PLC0415 - scipy.signal costs ~1 s of import; the RiskMonitor's restart does not need it

    tail, _ = lfilter([1.0 - lam], [1.0, -lam], r**2, zi=[lam * var0])
    var = np.concatenate(([var0], tail))
    return np.sqrt(var)


def garch_volatility(returns: object) -> np.ndarray:
    """GARCH(1,1) conditional volatility (``arch``, constant mean, normal innovations), plus the next-bar forecast.

    Same shape and timing as :func:`ewma_volatility`: ``n + 1`` values, the
    last the one-step forecast. Fitted by maximum likelihood on the whole
    series given (call it on past data only).
    """
    from arch import arch_model  # noqa: PLC0415 - arch (and its statsmodels chain) loads only for GARCH

    r = _returns_1d(returns)
    scale = 100.0  # arch's optimiser is best conditioned on percent returns
    res = arch_model(r * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")
    cond = np.asarray(res.conditional_volatility, dtype=np.float64) / scale
    nxt = float(np.sqrt(res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0])) / scale
    return np.concatenate((cond, [nxt]))


def filtered_historical(returns: object, confidence: float = 0.99, horizon: int = 1,
                        vol: Literal["ewma", "garch"] = "ewma", lam: float = 0.94) -> RiskEstimate:
    """Filtered historical simulation: returns standardised by their conditional volatility, rescaled to today's.

    ``z[t] = r[t] / σ[t]`` with σ from :func:`ewma_volatility` or
    :func:`garch_volatility`; the VaR/ES of ``z`` times the next-bar forecast
    σ[n], times √horizon.
    """
    c, h, r = _confidence(confidence), _horizon(horizon), _returns_1d(returns)
    _tail_count(r.size, c)
    if vol == "ewma":
        sig = ewma_volatility(r, lam=lam)
        z, forecast = r / sig[:-1], sig[-1]
    elif vol == "garch":
        sig = garch_volatility(r)
        z, forecast = r / sig[:-1], sig[-1]
    else:
        raise RiskInputError(f"vol: must be 'ewma' or 'garch', got {vol!r}")
    var_z, es_z = _tail(z, c)
    scale = forecast * np.sqrt(h)
    return RiskEstimate(f"fhs-{vol}", c, h, var_z * scale, es_z * scale, int(r.size))


# ------------------------------------------------------------------ Monte Carlo with correlated shocks
#: scenarios per Monte Carlo block: block 0 draws from ``default_rng(seed)``, block ``b >= 1`` from
#: ``default_rng([seed, b])``, so a run is the same numbers whether its blocks run in one process or as Ray tasks
MC_BLOCK = 250_000


def mc_blocks(n_scenarios: int) -> list[tuple[int, int]]:
    """``(block index, scenarios)`` of a Monte Carlo run of ``n_scenarios``, in order (all full but the last)."""
    n = int(n_scenarios)
    return [(b, min(MC_BLOCK, n - b * MC_BLOCK)) for b in range(-(-n // MC_BLOCK))]


def _block_seed(seed: int, block: int) -> int | list[int]:
    return int(seed) if block == 0 else [int(seed), int(block)]


def _projected_normals_py(rng: np.random.Generator, n: int, v: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """``rng.standard_normal((n, v.size)) @ v`` without forming the (n x k) matrix: numba's Generator draws the
    same standard normals as numpy's, in the same row-major order (tested), and each row's products are summed
    left to right as they are drawn (BLAS may sum in another order: equal to ~1e-15 relative). No 8·n·k-byte
    array is written and read back, which made the draw-then-multiply path 3-4x slower at 100,000 x 50."""
    k = v.size
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(k):
            s += v[j] * rng.standard_normal()
        out[i] = s
    return out


@cache
def _projected_normals_kernel() -> Callable[..., np.ndarray]:
    """:func:`_projected_normals_py` compiled by numba (``cache=True``: the machine code is read back from
    ``__pycache__`` after the first compile). numba is imported here, once per process, and not when this
    module loads: it cost ~0.2-0.5 s of CPU in every process that imports :mod:`risk.var` (the risk monitor
    at each start and restart) and only Monte Carlo needs it."""
    from numba import njit  # noqa: PLC0415 - numba's import is slow; only the Monte Carlo path needs it

    return njit(cache=True, nogil=True)(_projected_normals_py)


@cache
def _special() -> ModuleType:
    """``scipy.special``, imported on first use (~0.25 s of CPU; the historical VaR the risk monitor runs
    needs none of it)."""
    from scipy import special  # noqa: PLC0415 - scipy's import is slow; the live risk path never needs it

    return special


def simulate_returns(asset_returns: object, n_scenarios: int = 100_000, *, copula: Literal["gaussian", "t"] = "gaussian",
                     dof: float = 5.0, marginals: Literal["gaussian", "empirical"] = "gaussian",
                     horizon: int = 1, seed: int = 0, dtype: type = np.float64, block: int = 0) -> np.ndarray:
    """Scenario returns per asset, shape (n_scenarios, assets), from a copula fitted to history.

    * ``copula="gaussian"``, ``marginals="gaussian"``: multivariate normal with
      the sample mean and covariance (Cholesky of Σ times standard normals);
    * ``copula="t"``: a Student-t copula with ``dof`` degrees of freedom and the
      sample correlation; its uniforms are mapped to each asset's marginal;
    * ``marginals="empirical"``: the uniforms are mapped through each asset's
      historical quantile function (linear interpolation).

    Horizon scaling: mean × h, deviations from the mean × √h. ``block``: the
    Monte Carlo block these scenarios are (its random stream, see :data:`MC_BLOCK`).
    """
    R = np.asarray(asset_returns, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] < 3:
        raise RiskInputError(f"asset_returns: expected a (bars x assets) matrix with >= 3 bars, got shape {R.shape}")
    if int(n_scenarios) < (100 if block == 0 else 1):  # a run's last block may be small
        raise RiskInputError(f"n_scenarios: need at least 100, got {n_scenarios!r}")
    if int(seed) < 0:
        raise RiskInputError(f"seed: must be >= 0, got {seed!r}")
    if copula not in ("gaussian", "t"):
        raise RiskInputError(f"copula: must be 'gaussian' or 't', got {copula!r}")
    if marginals not in ("gaussian", "empirical"):
        raise RiskInputError(f"marginals: must be 'gaussian' or 'empirical', got {marginals!r}")
    if copula == "t" and not (dof > 2.0):
        raise RiskInputError(f"dof: the t copula needs dof > 2, got {dof!r}")
    h = _horizon(horizon)
    rng = np.random.default_rng(_block_seed(seed, block))
    mu = R.mean(axis=0)
    cov = np.cov(R, rowvar=False, ddof=1).reshape(R.shape[1], R.shape[1])
    sd = np.sqrt(np.diag(cov))
    if np.any(sd <= 0):
        raise RiskInputError(f"asset_returns[:, {int(np.flatnonzero(sd <= 0)[0])}]: zero variance")
    corr = cov / np.outer(sd, sd)
    n, k = int(n_scenarios), R.shape[1]
    if copula == "gaussian" and marginals == "gaussian":
        L = np.linalg.cholesky(cov).astype(dtype)
        z = rng.standard_normal((n, k), dtype=dtype)
        return (mu * h).astype(dtype) + (z @ L.T) * dtype(np.sqrt(h))
    L = np.linalg.cholesky(corr)
    z = rng.standard_normal((n, k)) @ L.T
    if copula == "t":
        w = rng.chisquare(dof, size=(n, 1)) / dof
        u = _special().stdtr(dof, z / np.sqrt(w))
    else:
        u = _special().ndtr(z)
    if marginals == "gaussian":
        x = mu + sd * _special().ndtri(u)
    else:  # each asset's empirical quantile function, linear between order statistics (numpy's default)
        x = np.empty_like(u)
        grid = np.linspace(0.0, 1.0, R.shape[0])
        for j in range(k):
            x[:, j] = np.interp(u[:, j], grid, np.sort(R[:, j]))
    return (mu * h + (x - mu) * np.sqrt(h)).astype(dtype)


def monte_carlo_block(asset_returns: object, weights: object, block: int, n: int, horizon: int = 1, *,
                      copula: Literal["gaussian", "t"] = "gaussian", dof: float = 5.0,
                      marginals: Literal["gaussian", "empirical"] = "gaussian", seed: int = 0) -> np.ndarray:
    """Portfolio returns of the ``n`` scenarios of Monte Carlo block ``block`` (see :data:`MC_BLOCK`)."""
    R, w = _returns_2d(asset_returns, weights)
    if copula == "gaussian" and marginals == "gaussian":
        # the same scenarios as simulate_returns, projected on the weights before the Cholesky product:
        # portfolio = mu·w·h + √h · z · (Lᵀw), so the (scenarios x assets) product is never formed
        h = _horizon(horizon)
        if int(seed) < 0:
            raise RiskInputError(f"seed: must be >= 0, got {seed!r}")
        cov = np.cov(R, rowvar=False, ddof=1).reshape(R.shape[1], R.shape[1])
        v = np.ascontiguousarray(np.linalg.cholesky(cov).T @ w)
        z_v = _projected_normals_kernel()(np.random.default_rng(_block_seed(seed, block)), int(n), v)
        return float(R.mean(axis=0) @ w) * h + z_v * np.sqrt(h)
    return simulate_returns(R, n, copula=copula, dof=dof, marginals=marginals, horizon=horizon, seed=seed,
                            block=block) @ w


def monte_carlo_tail(portfolio_returns: object, confidence: float, horizon: int, copula: str,
                     n_obs: int) -> RiskEstimate:
    """VaR/ES of simulated portfolio returns (all blocks, in block order)."""
    rp = np.asarray(portfolio_returns, dtype=np.float64)
    c = _confidence(confidence)
    _tail_count(rp.size, c)
    var, es = _tail(rp, c)
    return RiskEstimate(f"mc-{copula}", c, _horizon(horizon), var, es, int(n_obs))


def monte_carlo(asset_returns: object, weights: object, confidence: float = 0.99, horizon: int = 1, *,
                n_scenarios: int = 100_000, copula: Literal["gaussian", "t"] = "gaussian", dof: float = 5.0,
                marginals: Literal["gaussian", "empirical"] = "gaussian", seed: int = 0) -> RiskEstimate:
    """Monte Carlo VaR/ES of a portfolio over scenarios from :func:`simulate_returns` (seeded, reproducible).

    The scenarios are drawn in blocks of :data:`MC_BLOCK` (one block up to
    250,000 scenarios); ``jobs.risk_report.monte_carlo_ray`` runs the same
    blocks as Ray tasks and gives the same numbers.
    """
    c = _confidence(confidence)
    R, w = _returns_2d(asset_returns, weights)
    _tail_count(int(n_scenarios), c)
    if int(n_scenarios) < 100:
        raise RiskInputError(f"n_scenarios: need at least 100, got {n_scenarios!r}")
    parts = [monte_carlo_block(R, w, b, n, horizon, copula=copula, dof=dof, marginals=marginals, seed=seed)
             for b, n in mc_blocks(n_scenarios)]
    return monte_carlo_tail(parts[0] if len(parts) == 1 else np.concatenate(parts), c, horizon, copula, R.shape[0])


# ------------------------------------------------------------------ decomposition
def component_var_gaussian(asset_returns: object, weights: object, confidence: float = 0.99,
                           horizon: int = 1) -> ComponentRisk:
    """Euler allocation of the Gaussian portfolio VaR: ``c_i = w_i·(−μ_i·h + z_α·√h·(Σw)_i / σ_p)``; Σ c_i = VaR."""
    c, h = _confidence(confidence), _horizon(horizon)
    R, w = _returns_2d(asset_returns, weights)
    mu = R.mean(axis=0)
    cov = np.cov(R, rowvar=False, ddof=1).reshape(R.shape[1], R.shape[1])
    sigma_p = float(np.sqrt(w @ cov @ w))
    if not sigma_p > 0:
        raise RiskInputError("weights: the portfolio has zero variance")
    z = float(_special().ndtri(c))  # = stats.norm.ppf(c)
    comps = w * (-mu * h + z * np.sqrt(h) * (cov @ w) / sigma_p)
    total = float(-(w @ mu) * h + z * np.sqrt(h) * sigma_p)
    return ComponentRisk("var-gaussian", total, tuple(float(x) for x in comps))


def component_es(scenarios: object, weights: object, confidence: float = 0.99) -> ComponentRisk:
    """Euler allocation of ES over scenarios (historical or simulated asset returns, one row each).

    ``c_i = −mean(w_i·r_i over the tail scenarios)``, where the tail is the
    scenarios whose portfolio return is at or below the (1 − α) quantile;
    the components sum to the ES of the same scenarios exactly.
    """
    c = _confidence(confidence)
    R, w = _returns_2d(scenarios, weights)
    _tail_count(R.shape[0], c)
    rp = R @ w
    q = float(np.quantile(rp, 1.0 - c))
    tail = R[rp <= q]
    comps = -(tail * w).mean(axis=0)
    return ComponentRisk("es", float(-rp[rp <= q].mean()), tuple(float(x) for x in comps))


def position_var(asset_returns: object, weights: object, confidence: float = 0.99, horizon: int = 1) -> tuple[float, ...]:
    """Stand-alone historical VaR of each position (``w_i · r_i`` alone), as positive loss fractions of the portfolio."""
    R, w = _returns_2d(asset_returns, weights)
    return tuple(historical(R[:, j] * w[j], confidence, horizon).var if w[j] != 0 else 0.0 for j in range(R.shape[1]))
