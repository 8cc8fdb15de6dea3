import math

import numpy as np
import pandas as pd
import pytest

from raytrader.errors import InputError
from strategies.errors import IndicatorError
from strategies.indicators import ema, sma


def _walk(n: int, seed: int = 0, offset: float = 100.0) -> np.ndarray:
    return offset + np.random.default_rng(seed).normal(size=n).cumsum()


def _ema_reference(x: np.ndarray, n: int) -> np.ndarray:
    """pandas ewm(adjust=False) started from the SMA of the first n values."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] < n:
        return out
    seeded = pd.Series(np.concatenate(([x[:n].mean()], x[n:])))
    out[n - 1 :] = seeded.ewm(alpha=2.0 / (n + 1), adjust=False).mean().to_numpy()
    return out


@pytest.mark.parametrize("n", [1, 2, 5, 30, 200])
def test_sma_matches_pandas_rolling(n):
    x = _walk(2_000)
    ref = pd.Series(x).rolling(n).mean().to_numpy()
    got = sma(x, n)
    assert got.dtype == np.float64
    assert np.isnan(got[: n - 1]).all()
    assert np.isfinite(got[n - 1 :]).all()
    np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("n", [1, 3, 10, 50])
def test_ema_matches_seeded_pandas_ewm(n):
    x = _walk(1_500, seed=1)
    got = ema(x, n)
    assert np.isnan(got[: n - 1]).all()
    assert got[n - 1] == pytest.approx(x[:n].mean(), rel=1e-15)
    np.testing.assert_allclose(got, _ema_reference(x, n), rtol=1e-12, equal_nan=True)


def test_sma_keeps_full_precision_on_large_offset():
    # a long series around 1e9: a plain difference of cumulative sums loses ~1000 ulps here
    x = _walk(5_000, seed=2, offset=1e9)
    n = 37
    exact = np.array([math.fsum(x[i - n + 1 : i + 1]) / n for i in range(n - 1, x.shape[0])])
    got = sma(x, n)[n - 1 :]
    assert np.max(np.abs(got - exact) / np.spacing(exact)) <= 1.0


def test_window_longer_than_series_is_all_nan():
    x = np.arange(5.0)
    assert np.isnan(sma(x, 6)).all()
    assert np.isnan(ema(x, 6)).all()
    assert sma(np.array([]), 3).shape == (0,)


def test_leading_nans_are_skipped_so_indicators_chain():
    x = _walk(300, seed=3)
    inner = sma(x, 5)  # 4 leading NaNs
    ref = pd.Series(x).rolling(5).mean().rolling(7).mean().to_numpy()
    np.testing.assert_allclose(sma(inner, 7), ref, rtol=1e-12, equal_nan=True)
    chained = ema(inner, 7)
    assert np.isnan(chained[: 4 + 6]).all()
    np.testing.assert_allclose(chained[4:], _ema_reference(inner[4:], 7), rtol=1e-12, equal_nan=True)


def test_indicators_have_no_lookahead():
    x = _walk(400, seed=4)
    full_sma, full_ema = sma(x, 20), ema(x, 20)
    for t in (0, 18, 19, 20, 57, 250, 399):
        np.testing.assert_array_equal(sma(x[: t + 1], 20), full_sma[: t + 1])
        np.testing.assert_array_equal(ema(x[: t + 1], 20), full_ema[: t + 1])


@pytest.mark.parametrize("bad_n", [0, -3, 2.5, True, "5"])
def test_bad_window_is_a_named_error(bad_n):
    with pytest.raises(IndicatorError, match=r"^n: ") as info:
        sma(np.arange(10.0), bad_n)
    assert isinstance(info.value, InputError)
    with pytest.raises(IndicatorError, match=r"^n: "):
        ema(np.arange(10.0), bad_n)


def test_nan_inside_the_series_is_rejected_naming_the_row():
    x = np.arange(10.0)
    x[6] = np.nan
    with pytest.raises(IndicatorError, match=r"x\[6\]"):
        sma(x, 3)
    x[6] = np.inf
    with pytest.raises(IndicatorError, match=r"x\[6\]"):
        ema(x, 3)


def test_two_dimensional_input_is_rejected():
    with pytest.raises(IndicatorError, match="1-D"):
        sma(np.ones((4, 2)), 2)
