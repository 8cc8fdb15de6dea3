"""strategies.ta (TA-Lib) under our conventions, and agreement with the numba indicators on real bundled bars."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from strategies import ta
from strategies.errors import IndicatorError
from strategies.indicators import atr, bollinger, ema, macd, rolling_std, rsi, sma
from tests.strategies._data import sample

SAMPLES = ("ETH-BTC-5m", "BTC-USD-1d", "XRP-ETH-1m")


def _same(ours: np.ndarray, theirs: np.ndarray, rtol: float = 1e-9) -> None:
    """Same NaN warm-up rows, and equal values (relative to the series' scale) everywhere else."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype == np.float64 and ours.shape == theirs.shape
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    scale = np.nanmax(np.abs(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=rtol * scale, equal_nan=True)


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("n", [2, 14, 50])
def test_where_both_exist_they_agree(name: str, n: int) -> None:
    bars = sample(name)
    close, high, low = bars.close, bars.high, bars.low
    _same(sma(close, n), ta.SMA(close, timeperiod=n))
    _same(ema(close, n), ta.EMA(close, timeperiod=n))
    _same(rsi(close, n), ta.RSI(close, timeperiod=n))
    _same(atr(high, low, close, n), ta.on_bars("ATR", bars, timeperiod=n))
    _same(rolling_std(close, n), ta.STDDEV(close, timeperiod=n, nbdev=1.0), rtol=1e-7)
    bands = bollinger(close, n, 2.0)
    upper, middle, lower = ta.BBANDS(close, timeperiod=n, nbdevup=2.0, nbdevdn=2.0, matype=0)
    _same(bands.upper, upper, rtol=1e-7)
    _same(bands.middle, middle)
    _same(bands.lower, lower, rtol=1e-7)


@pytest.mark.parametrize("name", SAMPLES)
def test_macd_differs_only_in_its_documented_warm_up(name: str) -> None:
    close = sample(name).close
    fast, slow, signal = 12, 26, 9
    ours = macd(close, fast, slow, signal)
    line, sig, hist = ta.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    first = lambda x: int(np.argmax(~np.isnan(x)))  # noqa: E731
    assert first(ours.line) == slow - 1 and first(line) == slow + signal - 2  # TA-Lib shows the line with the signal
    assert first(ours.signal) == first(sig) == first(ours.histogram) == first(hist) == slow + signal - 2
    settled = slow + 12 * fast
    tol = 1e-8 * np.max(np.abs(close))
    for a, b in ((ours.line, line), (ours.signal, sig), (ours.histogram, hist)):
        assert np.max(np.abs(a[settled:] - b[settled:])) <= tol
    early = np.abs(ours.line[slow + signal - 2: slow + signal + 8] - line[slow + signal - 2: slow + signal + 8])
    assert early.max() > 0  # the seeding really differs: this is why the doc says so


def test_conventions_float64_same_length_nan_warm_up_leading_nans_skipped() -> None:
    close = sample("BTC-USD-1d").close[:300]
    padded = np.concatenate([np.full(5, np.nan), close])
    out = ta.RSI(padded, timeperiod=14)
    assert out.shape == padded.shape and out.dtype == np.float64
    assert np.isnan(out[: 5 + 14]).all() and np.isfinite(out[5 + 14:]).all()
    np.testing.assert_array_equal(out[5:], ta.RSI(close, timeperiod=14))
    ints = close.astype(np.int64)  # any real dtype in, float64 out
    assert ta.SMA(ints, timeperiod=3).dtype == np.float64
    bars = sample("ETH-BTC-5m")
    doji = ta.on_bars("CDLDOJI", bars)  # TA-Lib gives int32 -100/0/100
    assert doji.dtype == np.float64 and set(np.unique(doji)) <= {-100.0, 0.0, 100.0} and (doji != 0).any()
    assert ta.inputs("ATR") == ("high", "low", "close") and ta.outputs("MACD") == ("macd", "macdsignal", "macdhist")
    assert len(ta.functions()) >= 150 and "ADX" in ta.functions()
    assert "RSI" in ta.groups()["Momentum Indicators"]


def test_no_lookahead_in_a_sample_of_functions() -> None:
    bars = sample("ETH-BTC-5m")
    for name in ("ADX", "SAR", "MFI", "KAMA", "CCI", "WILLR", "OBV", "NATR", "HT_TRENDLINE"):
        full = ta.on_bars(name, bars)
        cut = ta.on_bars(name, bars.take(slice(0, 3000)))
        np.testing.assert_array_equal(full[:3000], cut, err_msg=name)


def test_bad_input_is_an_indicator_error_naming_what_is_wrong() -> None:
    close = sample("BTC-USD-1d").close[:100].copy()
    close[40] = np.nan
    with pytest.raises(IndicatorError, match=r"SMA.close\[40\]: NaN after the first finite value"):
        ta.SMA(close, timeperiod=5)
    with np.errstate(all="ignore"):
        assert np.isnan(talib.SMA(close, 5)[44])  # what TA-Lib alone would have done: NaN downstream, silently
    good = sample("BTC-USD-1d").close[:100]
    with pytest.raises(IndicatorError, match="SMA: TA-Lib refused timeperiod=0"):
        ta.SMA(good, timeperiod=0)
    with pytest.raises(IndicatorError, match="its parameters: timeperiod"):
        ta.SMA(good, window=5)
    with pytest.raises(IndicatorError, match="expected 3 series"):
        ta.call("ATR", good, good)
    with pytest.raises(IndicatorError, match="not a TA-Lib function"):
        ta.call("NOPE", good)
    with pytest.raises(AttributeError):
        ta.NOPE  # noqa: B018
    with pytest.raises(IndicatorError, match="length"):
        ta.call("ATR", good, good, good[:50])
