import warnings

import numpy as np
import pytest
from statsmodels.tsa.adfvalues import mackinnonp
from statsmodels.tsa.stattools import coint

from market.bars import Bars
from strategies.errors import AssetCountError, InsufficientDataError, MisalignedBarsError, ParamError
from strategies.pairs_trading import engle_granger, mackinnon_pvalue, pairs_trading
from tests._bars import FIVE_MIN_MS, T0_MS, bars_from_close
from tests.strategies._data import eth_ltc


def test_engle_granger_matches_statsmodels_coint_on_trailing_windows_of_real_data():
    eth, ltc = eth_ltc()
    y, x = np.log(np.array(eth.close)), np.log(np.array(ltc.close))
    window = 300
    eg = engle_granger(y, x, window)
    assert np.isnan(eg.tstat[: window - 1]).all() and np.isfinite(eg.tstat[window - 1 :]).all()
    for t in (window - 1, 1_000, 2_345, 4_000, y.shape[0] - 1):
        wy, wx = y[t - window + 1 : t + 1], x[t - window + 1 : t + 1]
        tstat, pvalue, _ = coint(wy, wx, trend="c", maxlag=0, autolag=None)
        assert eg.tstat[t] == pytest.approx(tstat, rel=1e-7)
        assert eg.pvalue[t] == pytest.approx(pvalue, rel=1e-7, abs=1e-12)
        slope, intercept = np.polyfit(wx, wy, 1)
        assert eg.beta[t] == pytest.approx(slope, rel=1e-8) and eg.alpha[t] == pytest.approx(intercept, rel=1e-8)
        resid = wy - intercept - slope * wx
        assert eg.zscore[t] == pytest.approx(resid[-1] / resid.std(), rel=1e-6)
    assert 0.05 < np.mean(eg.pvalue[window:] <= 0.05) < 0.95  # the gate both opens and closes on this pair


@pytest.mark.parametrize("tstat", [-25.0, -18.0, -6.0, -3.9, -3.34, -2.62, -2.0, 0.0, 0.9, 1.5])
def test_mackinnon_pvalue_matches_statsmodels(tstat):
    assert mackinnon_pvalue(tstat) == pytest.approx(mackinnonp(tstat, regression="c", N=2), rel=1e-12, abs=1e-15)


def _pair(spread_noise: np.ndarray, seed: int = 7, beta: float = 1.5):
    n = spread_noise.shape[0]
    lx = np.log(0.05) + np.cumsum(np.random.default_rng(seed).normal(0, 0.002, n))
    ly = 0.3 + beta * lx + spread_noise
    ts = T0_MS + FIVE_MIN_MS * np.arange(n)
    mk = lambda c: Bars(timestamp=ts, open=c, high=c, low=c, close=c, volume=np.ones(n), timeframe="5m")  # noqa: E731
    return mk(np.exp(ly)), mk(np.exp(lx))


def test_a_spread_spike_shorts_the_spread_with_the_entry_hedge_ratio_until_it_reverts():
    n, window, spike = 400, 200, 300
    noise = np.random.default_rng(1).uniform(-0.001, 0.001, n)  # |z| stays below ~1.8 without the spike
    noise[spike : spike + 3] += 0.01
    y, x = _pair(noise)
    eg = engle_granger(np.log(np.array(y.close)), np.log(np.array(x.close)), window)
    assert eg.pvalue[spike] < 0.01 and eg.zscore[spike] > 3  # cointegrated, and the spike is an outlier
    out = pairs_trading((y, x), window=window, entry_z=3.0, exit_z=0.5, pvalue=0.05)
    assert out.shape == (n, 2)
    assert (out[:spike] == 0).all()
    back = spike + int(np.flatnonzero(np.abs(eg.zscore[spike:]) <= 0.5)[0])
    assert back >= spike + 3
    b = eg.beta[spike]
    assert b == pytest.approx(1.5, rel=0.05)
    np.testing.assert_array_equal(out[spike:back, 0], -1 / (1 + b))  # short y ...
    np.testing.assert_array_equal(out[spike:back, 1], b / (1 + b))  # ... long beta of x, beta fixed at entry
    assert (out[back:] == 0).all()


def test_a_negative_spike_buys_the_spread():
    n, window, spike = 400, 200, 300
    noise = np.random.default_rng(1).uniform(-0.001, 0.001, n)
    noise[spike] -= 0.01
    out = pairs_trading(_pair(noise), window=window, entry_z=3.0, exit_z=0.5)
    assert out[spike, 0] > 0 > out[spike, 1]
    assert np.abs(out[spike]).sum() == pytest.approx(1.0)


def test_no_trade_without_cointegration():
    n, window, spike = 400, 200, 300
    walk = np.cumsum(np.random.default_rng(3).normal(0, 0.003, n))  # y's own random walk: not cointegrated
    walk[spike] += 0.05
    y, x = _pair(walk)
    eg = engle_granger(np.log(np.array(y.close)), np.log(np.array(x.close)), window)
    assert eg.pvalue[spike] > 0.05 and abs(eg.zscore[spike]) > 2
    out = pairs_trading((y, x), window=window, entry_z=2.0, exit_z=0.5, pvalue=0.05)
    assert (out[spike] == 0).all()
    assert (out == 0).all() or np.all(eg.pvalue[np.flatnonzero(out.any(axis=1))] <= 0.05)


def test_inputs_are_checked():
    a, b = _pair(np.zeros(100))
    with pytest.raises(ParamError, match="exit_z < entry_z"):
        pairs_trading((a, b), window=50, entry_z=1.0, exit_z=1.0)
    with pytest.raises(InsufficientDataError, match="at least 500 bars"):
        pairs_trading((a, b))
    with pytest.raises(AssetCountError, match="exactly 2"):
        pairs_trading((a, b, a), window=50)
    with pytest.raises(MisalignedBarsError, match=r"bars\[1\]"):
        pairs_trading((a, bars_from_close(np.ones(100)).take(slice(0, 99))), window=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (pairs_trading((a, b), window=50) == 0).all()  # perfectly collinear: no statistic, no trade
