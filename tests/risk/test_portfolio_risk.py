"""Correlation, stress tests, sizing and regimes: known cases, independent references, real bundled data, no lookahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market.samples import load_sample_frame
from risk import correlation as rc
from risk import regime as rg
from risk import sizing as rs
from risk import stress as st
from risk.errors import RiskInputError

ASSETS = ["AAPL", "MSFT", "JPM", "XOM", "KO", "PG", "JNJ", "WMT"]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample_frame("sp500-close-1d")


@pytest.fixture(scope="module")
def stock_returns(panel: pd.DataFrame) -> np.ndarray:
    px = panel[panel["timestamp"] >= "2010-01-01"][ASSETS].to_numpy()
    return px[1:] / px[:-1] - 1.0


# ------------------------------------------------------------------ correlation
def test_ledoit_wolf_matches_the_published_formula(stock_returns: np.ndarray) -> None:
    """Independent: Ledoit & Wolf (2004) shrinkage toward mu*I computed by hand."""
    cov, delta = rc.ledoit_wolf_cov(stock_returns)
    X = stock_returns - stock_returns.mean(axis=0)
    n, p = X.shape
    S = X.T @ X / n
    mu = np.trace(S) / p
    d2 = np.sum((S - mu * np.eye(p)) ** 2) / p
    b2 = min(sum(np.sum((np.outer(x, x) - S) ** 2) for x in X) / n**2 / p, d2)
    shrink = b2 / d2
    assert delta == pytest.approx(shrink, rel=1e-6)
    assert np.allclose(cov, shrink * mu * np.eye(p) + (1 - shrink) * S, rtol=1e-6)


def test_ewma_cov_weights_recent_bars() -> None:
    rng = np.random.default_rng(1)
    R = np.vstack([rng.normal(0, 0.01, (500, 3)), rng.normal(0, 0.05, (60, 3))])
    assert np.all(np.diag(rc.ewma_cov(R)) > 5 * np.diag(rc.sample_cov(R[:500])))
    assert np.allclose(rc.ewma_cov(R), rc.ewma_cov(R).T)


def test_correlation_rises_in_the_2020_crash(panel: pd.DataFrame) -> None:
    px = panel[(panel["timestamp"] >= "2019-01-01") & (panel["timestamp"] <= "2020-06-30")]
    R = px[ASSETS].to_numpy()
    R = R[1:] / R[:-1] - 1.0
    ts = px["timestamp"].to_numpy()[1:]
    regime = rc.correlation_regime(R, short_window=21, long_window=200, threshold=0.15)
    flagged = pd.DatetimeIndex(ts[regime.flag])
    assert len(flagged) > 0 and flagged.min() >= pd.Timestamp("2020-02-20", tz="UTC")  # not before the crash
    assert ((flagged.month == 3) & (flagged.year == 2020)).sum() >= 5


def test_rolling_correlation_has_no_lookahead(stock_returns: np.ndarray) -> None:
    a = rc.rolling_average_correlation(stock_returns[:600], 50)
    b = rc.rolling_average_correlation(stock_returns[:900], 50)
    assert np.array_equal(a, b[:600], equal_nan=True)


# ------------------------------------------------------------------ stress
def test_btc_worst_days_include_2020_03_12() -> None:
    btc = load_sample_frame("BTC-USD-1d")
    ts = btc["timestamp"].astype(str).to_numpy()
    worst = st.worst_windows(ts, {"BTC": btc["close"].to_numpy()}, {"BTC": 1.0}, window=1, count=5)
    ends = [s.end[:10] for s in worst]
    assert "2020-03-12" in ends
    res = st.apply({"BTC": 10_000.0}, worst[0])
    independent = min(btc["close"].pct_change().dropna())  # the single worst daily return
    assert res.pnl == pytest.approx(10_000.0 * independent)


def test_2008_and_2020_are_among_the_worst_weeks(panel: pd.DataFrame) -> None:
    ts = panel["timestamp"].astype(str).to_numpy()
    closes = {a: panel[a].to_numpy() for a in ASSETS}
    worst = st.worst_windows(ts, closes, {a: 1 / 8 for a in ASSETS}, window=5, count=6)
    years = {s.end[:4] for s in worst}
    assert "2008" in years and "2020" in years


def test_hypothetical_shocks() -> None:
    pos = {"A": 1000.0, "B": -500.0}
    res = st.apply(pos, st.uniform_shock(["A", "B"], -0.2))
    assert res.pnl == pytest.approx(-200.0 + 100.0)
    rng = np.random.default_rng(3)
    R = rng.multivariate_normal([0, 0], [[1e-4, -5e-5], [-5e-5, 1e-4]], 2000)
    long_both = {"A": 1000.0, "B": 1000.0}
    base = st.apply(long_both, st.volatility_multiplier(R, ["A", "B"], long_both, k=1.0))
    one = st.apply(long_both, st.correlation_to_one(R, ["A", "B"], long_both))
    doubled = st.apply(long_both, st.volatility_multiplier(R, ["A", "B"], long_both, k=2.0))
    assert one.pnl < base.pnl < 0  # negatively correlated assets: correlation 1 removes the hedge
    assert doubled.pnl == pytest.approx(2 * base.pnl, rel=1e-9)
    with pytest.raises(RiskInputError, match="positions"):
        st.apply({}, st.uniform_shock(["A"], -0.1))


# ------------------------------------------------------------------ sizing
def test_kelly_known_cases() -> None:
    assert rs.kelly_fraction(0.01, 0.04) == pytest.approx(0.25)
    assert rs.kelly_fraction(0.01, 0.04, fraction=0.5) == pytest.approx(0.125)
    assert rs.kelly_fraction(0.1, 0.01, cap=2.0) == 2.0
    w = rs.kelly_weights([0.01, 0.02], np.diag([0.04, 0.01]), cap=10)
    assert np.allclose(w, [0.25, 2.0])
    assert np.abs(rs.kelly_weights([0.01, 0.02], np.diag([0.04, 0.01]), cap=1.0)).sum() == pytest.approx(1.0)


def test_vol_target_hits_its_target_on_real_btc() -> None:
    btc = load_sample_frame("BTC-USD-1d")
    r = btc["close"].pct_change().dropna().to_numpy()[-1500:]
    w = rs.vol_target_weights(r, 0.2, periods_per_year=365, max_leverage=5.0)
    realised = np.std((w * r)[100:], ddof=1) * np.sqrt(365)
    assert realised == pytest.approx(0.2, rel=0.25)
    # no lookahead: weights up to t do not change when later returns change
    r2 = r.copy()
    r2[1000:] *= 10
    assert np.array_equal(w[:1001], rs.vol_target_weights(r2, 0.2, periods_per_year=365, max_leverage=5.0)[:1001])


def test_risk_parity_equalises_contributions(stock_returns: np.ndarray) -> None:
    cov = np.cov(stock_returns, rowvar=False)
    w = rs.risk_parity_weights(cov)
    assert w.sum() == pytest.approx(1.0) and np.all(w > 0)
    assert np.allclose(rs.risk_contributions(w, cov), 1 / 8, atol=1e-5)
    # diagonal case has the closed form w_i proportional to 1/sigma_i
    d = np.diag([0.01, 0.04, 0.09])
    assert np.allclose(rs.risk_parity_weights(d), (1 / np.sqrt(np.diag(d))) / (1 / np.sqrt(np.diag(d))).sum(), atol=1e-6)


# ------------------------------------------------------------------ regimes
def test_hmm_filtering_equals_hmmlearn_on_prefixes() -> None:
    """The filtered probability at t equals hmmlearn's posterior for the last row of the prefix 0..t."""
    from hmmlearn.hmm import GaussianHMM

    btc = load_sample_frame("BTC-USD-1d")
    X = rg.features(btc["close"].to_numpy()[-1200:])
    X = X[np.all(np.isfinite(X), axis=1)]
    model = rg.fit(X[:800], 2, seed=1)
    probs = rg.filtered_probabilities(model, X)
    ref = GaussianHMM(n_components=2, covariance_type="full")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = model.startprob, model.transmat, model.means, model.covars
    for t in (0, 10, 500, X.shape[0] - 1):
        assert np.allclose(probs[t], ref.predict_proba(X[: t + 1])[-1], atol=1e-8)


def test_regimes_separate_calm_from_volatile_and_have_no_lookahead() -> None:
    btc = load_sample_frame("BTC-USD-1d")
    X = rg.features(btc["close"].to_numpy())
    labels = rg.walk_forward_regimes(X, 2, train=500, refit_every=1000, seed=0)
    known = labels >= 0
    vol = X[:, 1]
    assert np.nanmean(vol[labels == 1]) > 1.5 * np.nanmean(vol[labels == 0])
    assert known.sum() > 0.8 * len(labels)
    # changing the future does not change past labels
    X2 = X.copy()
    X2[3000:] = X2[3000:] * np.array([-3.0, 3.0])
    labels2 = rg.walk_forward_regimes(X2, 2, train=500, refit_every=1000, seed=0)
    assert np.array_equal(labels[:3000], labels2[:3000])


def test_gmm_regimes_order_by_volatility() -> None:
    rng = np.random.default_rng(4)
    X = np.vstack([np.column_stack([rng.normal(0, 0.05, 300), rng.normal(0.05, 0.005, 300)]),
                   np.column_stack([rng.normal(0, 0.01, 300), rng.normal(0.01, 0.001, 300)])])
    m = rg.fit(X, 2, method="gmm", seed=0)
    assert m.means[0, 1] < m.means[1, 1]
    p = rg.filtered_probabilities(m, X)
    assert (p[:300].argmax(axis=1) == 1).mean() > 0.95 and (p[300:].argmax(axis=1) == 0).mean() > 0.95


@pytest.mark.parametrize("window", [3, 21, 252])
def test_rolling_correlation_equals_numpys_corrcoef_window_by_window(window: int) -> None:
    """The vectorised rolling mean correlation against np.corrcoef on each trailing window (NaN where an asset
    is flat in the window: no correlation is defined there)."""
    rng = np.random.default_rng(7)
    R = rng.standard_t(4, size=(700, 12)) * 0.01 + rng.normal(size=(700, 1)) * 0.005
    R[100:140, 3] = 0.0
    want = np.full(R.shape[0], np.nan)
    for t in range(window - 1, R.shape[0]):
        block = R[t - window + 1:t + 1]
        if np.all(block.std(axis=0, ddof=1) > 0):
            want[t] = rc.average_correlation(np.corrcoef(block, rowvar=False))
    got = rc.rolling_average_correlation(R, window)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(want[120])
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=0, atol=1e-12)
