"""RSI, ATR, Bollinger, MACD, Donchian, VWAP, z-score, beta, correlation against straightforward references on real data."""

import numpy as np
import pandas as pd
import pytest

from raytrader.errors import InputError
from strategies.errors import IndicatorError
from strategies.indicators import (
    atr, bollinger, donchian, ema, macd, rolling_beta, rolling_corr, rolling_std, rolling_zscore, rsi, vwap,
)
from tests.strategies._data import eth_ltc, sample

ETH = sample("ETH-BTC-5m")
BTC_1D = sample("BTC-USD-1d")


def _wilder_reference(values: np.ndarray, n: int, seed_at: int) -> np.ndarray:
    """Wilder smoothing with an explicit loop: seed = mean(values[seed_at-n+1 : seed_at+1])."""
    out = np.full(values.shape[0], np.nan)
    if seed_at >= values.shape[0]:
        return out
    prev = values[seed_at - n + 1 : seed_at + 1].mean()
    out[seed_at] = prev
    for t in range(seed_at + 1, values.shape[0]):
        prev = (prev * (n - 1) + values[t]) / n
        out[t] = prev
    return out


def _rsi_reference(close: np.ndarray, n: int) -> np.ndarray:
    d = np.diff(close, prepend=np.nan)
    gain = _wilder_reference(np.where(d > 0, d, 0.0), n, n)
    loss = _wilder_reference(np.where(d < 0, -d, 0.0), n, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 - 100.0 / (1.0 + gain / loss)
    out[(loss == 0) & (gain > 0)] = 100.0
    out[(loss == 0) & (gain == 0)] = 50.0
    return out


def _ema_reference(x: np.ndarray, n: int) -> np.ndarray:
    """pandas ewm(adjust=False) started from the SMA of the first n finite values."""
    out = np.full(x.shape[0], np.nan)
    s = int(np.argmax(np.isfinite(x)))
    if x.shape[0] - s < n:
        return out
    seeded = pd.Series(np.concatenate(([x[s : s + n].mean()], x[s + n :])))
    out[s + n - 1 :] = seeded.ewm(alpha=2.0 / (n + 1), adjust=False).mean().to_numpy()
    return out


@pytest.mark.parametrize("n", [2, 14, 50])
def test_rsi_matches_wilder_loop_and_pandas_ewm(n):
    close = np.array(ETH.close)
    got = rsi(close, n)
    assert np.isnan(got[:n]).all() and np.isfinite(got[n:]).all()
    assert ((got[n:] >= 0) & (got[n:] <= 100)).all()
    np.testing.assert_allclose(got, _rsi_reference(close, n), rtol=1e-10, equal_nan=True)
    # the same via pandas ewm(alpha=1/n) seeded with the first n changes' mean
    d = pd.Series(close).diff()
    seed = lambda v: pd.Series(np.concatenate(([v[1 : n + 1].mean()], v[n + 1 :])))  # noqa: E731
    g = seed(d.clip(lower=0).to_numpy()).ewm(alpha=1 / n, adjust=False).mean().to_numpy()
    lo = seed((-d).clip(lower=0).to_numpy()).ewm(alpha=1 / n, adjust=False).mean().to_numpy()
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(got[n:], 100 - 100 / (1 + g / lo), rtol=1e-9)


def test_rsi_edge_values():
    assert rsi(np.arange(1.0, 20.0), 5)[-1] == 100.0  # only gains
    assert rsi(np.arange(20.0, 1.0, -1.0), 5)[-1] == 0.0  # only losses
    assert rsi(np.full(20, 3.0), 5)[-1] == 50.0  # flat


@pytest.mark.parametrize("n", [1, 14, 30])
def test_atr_matches_true_range_loop(n):
    h, lo, c = np.array(BTC_1D.high), np.array(BTC_1D.low), np.array(BTC_1D.close)
    prev = pd.Series(c).shift(1)
    tr = pd.concat([pd.Series(h - lo), (pd.Series(h) - prev).abs(), (pd.Series(lo) - prev).abs()], axis=1).max(axis=1)
    ref = _wilder_reference(tr.to_numpy(), n, n)
    got = atr(h, lo, c, n)
    assert np.isnan(got[:n]).all() and (got[n:] >= 0).all() and (got[n:] > 0).mean() > 0.99
    np.testing.assert_allclose(got, ref, rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (5, 1.5), (100, 3.0)])
def test_bollinger_matches_pandas_rolling(n, k):
    close = pd.Series(np.array(ETH.close))
    mid = close.rolling(n).mean()
    std = np.full(close.shape[0], np.nan)  # exact per-window reference (pandas' running sums drift ~1e-10)
    std[n - 1 :] = np.lib.stride_tricks.sliding_window_view(close.to_numpy(), n).std(axis=1)
    bands = bollinger(close.to_numpy(), n, k)
    np.testing.assert_allclose(bands.middle, mid, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(bands.upper, mid + k * std, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(bands.lower, mid - k * std, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(rolling_std(close.to_numpy(), n), std, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(std, close.rolling(n).std(ddof=0), rtol=1e-5, atol=1e-10, equal_nan=True)
    assert np.isnan(bands.upper[: n - 1]).all() and np.isfinite(bands.upper[n - 1 :]).all()


def test_bollinger_std_keeps_precision_with_a_large_offset():
    x = 1e9 + np.array(ETH.close) * 1e3  # tiny moves on a huge level
    exact = pd.Series(x - 1e9).rolling(20).std(ddof=0).to_numpy()
    np.testing.assert_allclose(rolling_std(x, 20)[19:], exact[19:], rtol=1e-5)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 7, 3)])
def test_macd_matches_seeded_pandas_ewm(fast, slow, signal):
    close = np.array(BTC_1D.close)
    line = _ema_reference(close, fast) - _ema_reference(close, slow)
    sig = _ema_reference(line, signal)
    got = macd(close, fast, slow, signal)
    np.testing.assert_allclose(got.line, line, rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got.signal, sig, rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got.histogram, line - sig, rtol=1e-7, atol=1e-9, equal_nan=True)
    assert np.isnan(got.signal[: slow + signal - 2]).all() and np.isfinite(got.signal[slow + signal - 2 :]).all()
    np.testing.assert_array_equal(got.line, ema(close, fast) - ema(close, slow))


@pytest.mark.parametrize("n", [1, 20, 55])
def test_donchian_matches_rolling_max_min(n):
    h, lo = pd.Series(np.array(ETH.high)), pd.Series(np.array(ETH.low))
    ch = donchian(h.to_numpy(), lo.to_numpy(), n)
    np.testing.assert_array_equal(ch.upper, h.rolling(n).max().to_numpy())
    np.testing.assert_array_equal(ch.lower, lo.rolling(n).min().to_numpy())
    np.testing.assert_array_equal(ch.middle, (ch.upper + ch.lower) / 2)


@pytest.mark.parametrize("n", [1, 12, 288])
def test_vwap_matches_rolling_sums(n):
    typical = (np.array(ETH.high) + np.array(ETH.low) + np.array(ETH.close)) / 3
    vol = pd.Series(np.array(ETH.volume))
    ref = (pd.Series(typical) * vol).rolling(n).sum() / vol.rolling(n).sum()
    got = vwap(typical, vol.to_numpy(), n)
    np.testing.assert_allclose(got, ref.to_numpy(), rtol=1e-9, equal_nan=True)
    assert np.isnan(got[: n - 1]).all()


def test_vwap_is_nan_where_the_window_traded_nothing_and_rejects_negative_volume():
    price = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    got = vwap(price, np.array([2.0, 0.0, 0.0, 1.0, 3.0]), 2)
    np.testing.assert_array_equal(got, [np.nan, 1.0, np.nan, 4.0, (4 + 15) / 4], strict=False)
    with pytest.raises(IndicatorError, match=r"^volume\[3\]: negative"):
        vwap(price, np.array([1.0, 1.0, 1.0, -1.0, 1.0]), 2)


@pytest.mark.parametrize("n", [2, 30, 500])
def test_rolling_zscore_matches_pandas(n):
    x = np.log(np.array(ETH.close))
    win = np.lib.stride_tricks.sliding_window_view(x, n)
    mean, std = win.mean(axis=1), win.std(axis=1)
    ref = np.full(x.shape[0], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref[n - 1 :] = np.where(std > 0, (x[n - 1 :] - mean) / std, 0.0)
    got = rolling_zscore(x, n)
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9, equal_nan=True)
    xs = pd.Series(x)
    pandas_ref = ((xs - xs.rolling(n).mean()) / xs.rolling(n).std(ddof=0)).to_numpy()
    both = np.isfinite(pandas_ref) & (std[np.clip(np.arange(x.shape[0]) - n + 1, 0, None)] > 1e-6)
    np.testing.assert_allclose(got[both], pandas_ref[both], rtol=1e-5, atol=1e-6)


def test_zscore_of_a_constant_window_is_zero():
    got = rolling_zscore(np.array([1.0, 2.0, 2.0, 2.0, 5.0]), 3)
    np.testing.assert_array_equal(got[:2], [np.nan, np.nan])
    assert got[3] == 0.0 and got[4] == pytest.approx((5 - 3) / np.sqrt(2.0))


@pytest.mark.parametrize("n", [2, 50, 288])
def test_rolling_beta_and_corr_match_pandas_on_real_returns(n):
    eth, ltc = eth_ltc()
    y = pd.Series(np.log(np.array(eth.close))).diff()
    x = pd.Series(np.log(np.array(ltc.close))).diff()
    beta_ref = y.rolling(n).cov(x) / x.rolling(n).var()
    corr_ref = x.rolling(n).corr(y)
    beta = rolling_beta(y.to_numpy(), x.to_numpy(), n)
    corr = rolling_corr(x.to_numpy(), y.to_numpy(), n)
    ok = np.isfinite(beta_ref.to_numpy()) & (x.rolling(n).var().to_numpy() > 1e-14)
    assert ok.sum() > 5_000
    np.testing.assert_allclose(beta[ok], beta_ref.to_numpy()[ok], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(corr[ok], corr_ref.to_numpy()[ok], rtol=1e-6, atol=1e-9)
    assert np.isnan(beta[:n]).all()  # first return is NaN, so the window is full at row n
    assert (np.abs(corr[np.isfinite(corr)]) <= 1).all()


def test_beta_is_nan_where_x_is_constant():
    x = np.array([1.0, 1.0, 1.0, 2.0, 3.0])
    y = np.array([5.0, 6.0, 7.0, 9.0, 11.0])
    got = rolling_beta(y, x, 3)
    np.testing.assert_array_equal(got[:3], [np.nan] * 3)
    assert got[4] == pytest.approx(2.0)
    assert np.isnan(rolling_corr(x, y, 3)[2])


def _all_indicators(c, h, lo, v):
    bands, ch, m = bollinger(c, 20, 2.0), donchian(h, lo, 20), macd(c, 12, 26, 9)
    r = np.diff(np.log(c), prepend=np.nan)
    lagged = np.concatenate(([np.nan], r[:-1]))
    return [rsi(c, 14), atr(h, lo, c, 14), bands.upper, bands.lower, ch.upper, ch.lower, m.line, m.signal,
            vwap(c, v, 12), rolling_zscore(c, 30), rolling_beta(r, lagged, 40), rolling_corr(r, lagged, 40)]


def test_no_indicator_looks_ahead_on_real_data():
    c, h, lo, v = (np.array(getattr(ETH, f)) for f in ("close", "high", "low", "volume"))
    full = _all_indicators(c, h, lo, v)
    for t in (45, 46, 300, 2_001, c.shape[0] - 2):
        cut = _all_indicators(c[: t + 1], h[: t + 1], lo[: t + 1], v[: t + 1])
        for i, (a, b) in enumerate(zip(cut, full, strict=True)):
            np.testing.assert_array_equal(a, b[: t + 1], err_msg=f"indicator {i} at t={t}")


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: rsi(np.arange(9.0), 0), "n"),
        (lambda: atr(np.ones(5), np.ones(5), np.ones(5), 2.5), "n"),
        (lambda: bollinger(np.ones(5), 3, -1.0), "k"),
        (lambda: macd(np.ones(50), 26, 12, 9), "fast"),
        (lambda: macd(np.ones(50), 12, 26, 0), "signal"),
        (lambda: donchian(np.ones(5), np.ones(4), 2), "low"),
        (lambda: vwap(np.ones(5), np.ones(5), True), "n"),
        (lambda: rolling_zscore(np.ones(5), 1), "n"),
        (lambda: rolling_beta(np.ones(5), np.ones(6), 3), "x"),
        (lambda: atr(np.ones(5), np.array([1, 1, np.nan, 1, 1.0]), np.ones(5), 2), r"low\[2\]"),
    ],
)
def test_bad_inputs_are_named_errors(call, param):
    with pytest.raises(IndicatorError, match=rf"^{param}") as info:
        call()
    assert isinstance(info.value, InputError)


def test_leading_nans_chain_through_two_series_indicators():
    r = np.diff(np.log(np.array(ETH.close)), prepend=np.nan)  # one leading NaN
    v = np.array(ETH.volume)
    got = vwap(r, v, 5)
    assert np.isnan(got[:5]).all() and np.isfinite(got[5:50]).all()
    np.testing.assert_allclose(got[5], np.dot(r[1:6], v[1:6]) / v[1:6].sum(), rtol=1e-12)
