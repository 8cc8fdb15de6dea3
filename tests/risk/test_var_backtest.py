"""VaR backtesting statistics against vartests, an independent likelihood maximisation, and the Basel table."""

from __future__ import annotations

import numpy as np
import pytest
import vartests
from scipy import optimize, stats

from risk import var as rv
from risk import var_backtest as vb
from risk.errors import RiskInputError


def _hits(n: int, p: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < p


@pytest.mark.parametrize("n, p, seed", [(250, 0.01, 1), (500, 0.03, 2), (1000, 0.01, 3), (250, 0.0, 4)])
def test_kupiec_matches_vartests(n: int, p: float, seed: int) -> None:
    hits = _hits(n, p, seed)
    ours = vb.kupiec(hits, 0.99)
    ref = vartests.kupiec_test(hits.astype(int), risk_conf_level=0.99, conf_level=0.95)
    assert ours.statistic == pytest.approx(ref["statistic"], rel=1e-10, abs=1e-12)
    assert ours.p_value == pytest.approx(ref["p-value"], rel=1e-10, abs=1e-12)
    assert ours.reject == (ref["decision"] == "Reject H0")


def _independence_by_optimiser(hits: np.ndarray) -> float:
    """LR_ind by maximising the Markov-chain likelihood numerically (no closed-form estimates)."""
    prev, cur = hits[:-1], hits[1:]

    def nll_markov(theta: np.ndarray) -> float:
        p0, p1 = stats.norm.cdf(theta)  # P(hit | no hit yesterday), P(hit | hit yesterday)
        pr = np.where(prev, p1, p0)
        return -float(np.sum(np.where(cur, np.log(pr), np.log1p(-pr))))

    def nll_iid(theta: np.ndarray) -> float:
        p = stats.norm.cdf(theta[0])
        return -float(np.sum(np.where(cur, np.log(p), np.log1p(-p))))

    m = optimize.minimize(nll_markov, x0=[-2.0, -1.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12,
                                                                                          "maxiter": 20000})
    i = optimize.minimize(nll_iid, x0=[-2.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    return 2.0 * (i.fun - m.fun)


def test_christoffersen_independence_matches_a_numerical_mle() -> None:
    hits = _hits(1000, 0.03, 11)
    hits[500:520] = [True, True, False, True, True] * 4  # some clustering, so pi1 is interior
    ours = vb.christoffersen_independence(hits)
    assert ours.statistic == pytest.approx(_independence_by_optimiser(hits), abs=1e-5)


def test_clustered_exceptions_fail_independence_but_not_kupiec() -> None:
    hits = np.zeros(1000, dtype=bool)
    hits[[100, 101, 102, 103, 104, 600, 601, 602, 603, 604]] = True  # 1 % rate, all in two bursts
    assert not vb.kupiec(hits, 0.99).reject
    assert vb.christoffersen_independence(hits).reject
    cc = vb.conditional_coverage(hits, 0.99)
    assert cc.dof == 2 and cc.reject


@pytest.mark.parametrize("k, zone", [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red"), (30, "red")])
def test_basel_traffic_light_at_99_over_250_days(k: int, zone: str) -> None:
    assert vb.traffic_light(k, 250, 0.99) == zone


def test_kupiec_accepts_a_correct_model_and_rejects_a_wrong_one() -> None:
    """Simulated t(4) returns: the historical 99 % VaR passes; a Gaussian model at half the volatility fails."""
    rng = np.random.default_rng(21)
    r = rng.standard_t(4, 3000) * 0.01
    good = vb.backtest(r, lambda x: rv.historical(x, 0.99), window=500, confidence=0.99, method="historical")
    assert not good.kupiec.reject and good.zone != "red"

    def wrong(x: np.ndarray) -> rv.RiskEstimate:
        return rv.gaussian(x * 0.5, 0.99)  # a model that believes volatility is half what it is

    bad = vb.backtest(r, wrong, window=500, confidence=0.99, method="too-calm")
    assert bad.kupiec.reject and bad.exceptions > 3 * bad.expected and bad.zone == "red"


def test_rolling_forecasts_use_only_the_past() -> None:
    r = np.random.default_rng(5).normal(0, 0.01, 400)
    a = vb.rolling_forecasts(r, lambda x: rv.historical(x, 0.95), 100)
    r2 = r.copy()
    r2[300:] = -0.5  # a crash after bar 300 must not move forecasts made up to bar 300
    b = vb.rolling_forecasts(r2, lambda x: rv.historical(x, 0.95), 100)
    assert np.array_equal(a[:301], b[:301], equal_nan=True)
    assert np.isnan(a[:100]).all() and np.isfinite(a[100:]).all()


def test_bad_input_is_named() -> None:
    with pytest.raises(RiskInputError, match="var"):
        vb.exceptions(np.zeros(10), np.zeros(9))
    with pytest.raises(RiskInputError, match="window"):
        vb.rolling_forecasts(np.zeros(50), lambda x: rv.historical(x, 0.9), 60)
    with pytest.raises(RiskInputError, match="n_exceptions"):
        vb.traffic_light(300, 250)
