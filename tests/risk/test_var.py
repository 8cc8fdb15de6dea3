"""VaR/ES against closed forms, independent references (empyrical, arch, scipy) and the bundled 20-stock data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from market.samples import load_sample_frame
from risk import var as rv
from risk.errors import RiskInputError


@pytest.fixture(scope="module")
def stock_returns() -> np.ndarray:
    """Daily simple returns of 8 of the bundled US large caps, 2010-2022 (real data)."""
    df = load_sample_frame("sp500-close-1d")
    df = df[df["timestamp"] >= "2010-01-01"]
    px = df[["AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "JNJ", "WMT"]].to_numpy()
    return px[1:] / px[:-1] - 1.0


# ------------------------------------------------------------------ closed forms
def test_gaussian_matches_the_closed_form_of_the_fitted_normal() -> None:
    r = np.random.default_rng(1).normal(0.0005, 0.012, 5000)
    mu, sd = r.mean(), r.std(ddof=1)
    for c, h in [(0.95, 1), (0.99, 1), (0.975, 10)]:
        est = rv.gaussian(r, c, h)
        # independent: the quantile and the tail integral of N(mu h, sd^2 h) by scipy
        dist = stats.norm(mu * h, sd * np.sqrt(h))
        q = dist.ppf(1 - c)
        tail_mean = integrate.quad(lambda x, d=dist: x * d.pdf(x), -np.inf, q)[0] / (1 - c)
        assert est.var == pytest.approx(-q, rel=1e-9)
        assert est.es == pytest.approx(-tail_mean, rel=1e-6)
        assert est.es > est.var


def test_cornish_fisher_reduces_to_gaussian_without_skew_or_kurtosis() -> None:
    # a symmetric sample with normal kurtosis: the correction vanishes (up to sampling error of the moments)
    z = stats.norm.ppf((np.arange(20000) + 0.5) / 20000)  # exact normal quantiles: skew 0, excess kurtosis ~0
    r = 0.01 * z
    g, cf = rv.gaussian(r, 0.99), rv.cornish_fisher(r, 0.99)
    assert cf.var == pytest.approx(g.var, rel=2e-3)
    assert cf.es == pytest.approx(g.es, rel=2e-3)


def test_cornish_fisher_sees_fat_left_tails() -> None:
    r = stats.t.rvs(df=3, size=20000, random_state=np.random.default_rng(2)) * 0.01
    r = r - 0.004 * (r < -0.02)  # extra left-tail losses: negative skew
    assert rv.cornish_fisher(r, 0.99).var > rv.gaussian(r, 0.99).var


# ------------------------------------------------------------------ historical
def test_historical_matches_empyrical_value_at_risk(stock_returns: np.ndarray) -> None:
    import empyrical
    rp = stock_returns @ np.full(8, 1 / 8)
    for c in (0.95, 0.99):
        assert rv.historical(rp, c).var == pytest.approx(-empyrical.value_at_risk(rp, cutoff=1 - c), rel=1e-12)


def test_historical_es_is_the_mean_beyond_var_by_sorting() -> None:
    r = np.random.default_rng(3).standard_t(4, 1000) * 0.01
    est = rv.historical(r, 0.99)
    s = np.sort(r)
    k = np.searchsorted(s, -est.var, side="right")  # returns at or below the quantile
    assert est.es == pytest.approx(-s[:k].mean())
    assert 9 <= k <= 11


def test_historical_horizon_compounds_overlapping_windows() -> None:
    r = np.array([0.01, -0.02, 0.03, -0.01, 0.02, -0.03, 0.01, 0.0, -0.01, 0.02] * 20)
    est = rv.historical(r, 0.95, horizon=3)
    windows = np.array([np.prod(1 + r[i:i + 3]) - 1 for i in range(r.size - 2)])
    assert est.var == pytest.approx(-np.quantile(windows, 0.05))


# ------------------------------------------------------------------ filtered historical
def test_ewma_volatility_uses_only_past_returns() -> None:
    r = np.random.default_rng(4).normal(0, 0.01, 300)
    a = rv.ewma_volatility(r)
    r2 = r.copy()
    r2[200:] *= 5.0
    b = rv.ewma_volatility(r2)
    assert np.array_equal(a[:201], b[:201])  # sigma[t] depends on r[:t] only
    assert b[201] > a[201]


def test_fhs_rises_after_a_volatility_burst() -> None:
    rng = np.random.default_rng(5)
    calm = rng.normal(0, 0.01, 1000)
    burst = np.concatenate([calm, rng.normal(0, 0.04, 40)])
    assert rv.filtered_historical(burst, 0.99).var > 2 * rv.filtered_historical(calm, 0.99).var


def test_garch_volatility_agrees_with_arch_recursion() -> None:
    from arch import arch_model

    r = np.random.default_rng(6).standard_t(6, 1500) * 0.01
    sig = rv.garch_volatility(r)
    res = arch_model(r * 100, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
    omega, alpha, beta = res.params["omega"], res.params["alpha[1]"], res.params["beta[1]"]
    e = r * 100 - res.params["mu"]
    # independent recursion of the fitted GARCH(1,1): sigma2[t+1] = omega + alpha e[t]^2 + beta sigma2[t]
    nxt = omega + alpha * e[-1] ** 2 + beta * (sig[-2] * 100) ** 2
    assert sig[-1] * 100 == pytest.approx(np.sqrt(nxt), rel=1e-6)
    assert sig.size == r.size + 1 and np.all(sig > 0)


# ------------------------------------------------------------------ Monte Carlo and decomposition
def test_monte_carlo_gaussian_converges_to_the_closed_form(stock_returns: np.ndarray) -> None:
    w = np.array([0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    closed = rv.component_var_gaussian(stock_returns, w, 0.99).total
    mc = rv.monte_carlo(stock_returns, w, 0.99, n_scenarios=400_000, seed=7)
    assert mc.var == pytest.approx(closed, rel=0.02)
    again = rv.monte_carlo(stock_returns, w, 0.99, n_scenarios=400_000, seed=7)
    assert again == mc  # seeded: reproducible


def test_t_copula_has_fatter_joint_tails_than_gaussian(stock_returns: np.ndarray) -> None:
    w = np.full(8, 1 / 8)
    g = rv.monte_carlo(stock_returns, w, 0.999, n_scenarios=200_000, copula="gaussian", marginals="empirical", seed=1)
    t = rv.monte_carlo(stock_returns, w, 0.999, n_scenarios=200_000, copula="t", dof=3, marginals="empirical", seed=1)
    assert t.var > g.var  # tail dependence: assets crash together more often


def test_methods_agree_on_the_stock_portfolio(stock_returns: np.ndarray) -> None:
    """On 13 years of daily large-cap returns, 95 % one-day VaR by every method within 35 % of historical."""
    w = np.full(8, 1 / 8)
    rp = stock_returns @ w
    hist = rv.historical(rp, 0.95).var
    others = {
        "parametric": rv.gaussian(rp, 0.95).var,
        "cornish-fisher": rv.cornish_fisher(rp, 0.95).var,
        "mc": rv.monte_carlo(stock_returns, w, 0.95, n_scenarios=100_000, seed=3).var,
        "mc-empirical-t": rv.monte_carlo(stock_returns, w, 0.95, copula="t", marginals="empirical", seed=3).var,
    }
    for name, v in others.items():
        assert v == pytest.approx(hist, rel=0.35), name
    # fat tails: at 99.5 % the normal underestimates the historical loss on real stocks
    assert rv.gaussian(rp, 0.995).var < rv.historical(rp, 0.995).var


def test_component_var_sums_to_total_and_matches_numerical_gradient(stock_returns: np.ndarray) -> None:
    w = np.array([0.3, -0.1, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1])
    comp = rv.component_var_gaussian(stock_returns, w, 0.99, horizon=5)
    assert sum(comp.components) == pytest.approx(comp.total, rel=1e-12)
    # Euler: c_i = w_i * dVaR/dw_i, the derivative taken numerically on the closed form
    for i in (0, 1, 4):
        eps = 1e-6
        up, dn = w.copy(), w.copy()
        up[i] += eps
        dn[i] -= eps
        grad = (rv.component_var_gaussian(stock_returns, up, 0.99, 5).total
                - rv.component_var_gaussian(stock_returns, dn, 0.99, 5).total) / (2 * eps)
        assert comp.components[i] == pytest.approx(w[i] * grad, rel=1e-5)


def test_component_es_sums_to_the_historical_es(stock_returns: np.ndarray) -> None:
    w = np.full(8, 1 / 8)
    comp = rv.component_es(stock_returns, w, 0.99)
    assert sum(comp.components) == pytest.approx(comp.total, rel=1e-12)
    assert comp.total == pytest.approx(rv.historical(stock_returns @ w, 0.99).es, rel=1e-12)


def test_position_var_is_standalone() -> None:
    R = np.random.default_rng(9).normal(0, 0.01, (2000, 3))
    w = np.array([0.5, 0.0, -0.5])
    pv = rv.position_var(R, w, 0.99)
    assert pv[1] == 0.0
    assert pv[0] == pytest.approx(rv.historical(R[:, 0] * 0.5, 0.99).var)


# ------------------------------------------------------------------ bad input names the argument
@pytest.mark.parametrize("call, field", [
    (lambda: rv.historical([0.01, 0.02, 0.03], 1.2), "confidence"),
    (lambda: rv.historical([0.01, np.nan, 0.03], 0.9), r"returns\[1\]"),
    (lambda: rv.historical(np.zeros(50), 0.99), "confidence"),  # 50 obs cannot hold a 1 % tail
    (lambda: rv.historical(np.full(200, 0.01), 0.95, horizon=0), "horizon"),
    (lambda: rv.gaussian(np.full(200, 0.01), 0.95), "zero variance"),
    (lambda: rv.monte_carlo(np.ones((10, 2)) * 0.01, [1.0], 0.95), "weights"),
    (lambda: rv.filtered_historical(np.random.default_rng(0).normal(0, 0.01, 500), 0.99, vol="bogus"), "vol"),
    (lambda: rv.simulate_returns(np.random.default_rng(0).normal(0, 0.01, (50, 2)), seed=-1), "seed"),
])
def test_bad_input_names_the_argument(call, field: str) -> None:
    with pytest.raises(RiskInputError, match=field):
        call()


def test_monte_carlo_fast_path_equals_full_scenarios(stock_returns: np.ndarray) -> None:
    """The Gaussian shortcut (weights projected before the Cholesky product) gives the same scenarios' VaR/ES."""
    w = np.linspace(-0.2, 0.4, 8)
    fast = rv.monte_carlo(stock_returns, w, 0.99, horizon=3, n_scenarios=20_000, seed=11)
    full = rv.simulate_returns(stock_returns, 20_000, horizon=3, seed=11) @ w
    q = np.quantile(full, 0.01)
    assert fast.var == pytest.approx(-q, rel=1e-9)
    assert fast.es == pytest.approx(-full[full <= q].mean(), rel=1e-9)


def test_cornish_fisher_moments_match_scipy() -> None:
    r = np.random.default_rng(12).standard_t(5, 700) * 0.02
    skew, kurt = rv._sample_skew_kurtosis(r)
    assert skew == pytest.approx(stats.skew(r, bias=False), rel=1e-10)
    assert kurt == pytest.approx(stats.kurtosis(r, fisher=True, bias=False), rel=1e-10)
