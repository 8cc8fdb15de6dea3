import numpy as np
import pytest

from market.bars import Bars
from market.resample import resample
from strategies.errors import BarsFieldError, InsufficientDataError, ParamError
from strategies.indicators import ema
from strategies.mtf_trend import htf_trend_direction, mtf_trend
from tests._bars import FIVE_MIN_MS, T0_MS, bars_from_close
from tests.strategies._data import sample


def _bars_at(rows, close):
    """5m bars at bar positions ``rows`` (gaps where a row is missing); T0 is on the 15m grid."""
    close = np.asarray(close, float)
    return Bars(timestamp=T0_MS + FIVE_MIN_MS * np.asarray(rows, np.int64), open=close, high=close, low=close,
                close=close, volume=np.ones(close.shape[0]), timeframe="5m")


def test_a_higher_timeframe_bar_is_used_only_once_complete():
    # htf=3: 15m bins of bars 0-2, 3-5, 6-8; trend=2 -> the first trend is bin 1's: sign(h1 - h0)
    close = [9, 9, 10, 12, 12, 11, 11, 11, 11]  # h0 = 10, h1 = 11: up
    got = htf_trend_direction(_bars_at(range(9), close), htf=3, trend=2)
    # bars 3 and 4 already trade above h0, but bin 1 is incomplete until bar 5 closes
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 0, 1, 1, 1, 1])


def test_a_bin_whose_last_bar_is_missing_completes_at_the_next_bin():
    # bar position 5 missing: bin 1 (positions 3, 4) closes at 12, is complete only at position 6;
    # bin 2 closes at 13, above its EMA, so the trend stays up at position 8
    got = htf_trend_direction(_bars_at([0, 1, 2, 3, 4, 6, 7, 8], [9, 9, 10, 11, 12, 13, 13, 13]), htf=3, trend=2)
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 0, 1, 1, 1])


def test_higher_timeframe_trend_matches_resampled_bars_on_real_data():
    bars = sample("ETH-BTC-5m")
    hourly = resample(bars, "1h")
    hclose = np.array(hourly.close)
    hdir = np.sign(np.nan_to_num(hclose - ema(hclose, 20), nan=0.0))
    done = np.searchsorted(np.array(hourly.timestamp) + 3_600_000, np.array(bars.timestamp) + FIVE_MIN_MS,
                           side="right") - 1
    ref = np.where(done >= 0, hdir[np.maximum(done, 0)], 0.0)
    got = htf_trend_direction(bars, htf=12, trend=20)
    np.testing.assert_array_equal(got, ref)
    assert (got == 1).sum() > 1_000 and (got == -1).sum() > 1_000


def test_fast_signal_is_taken_only_when_the_trend_agrees():
    bars = sample("ETH-BTC-5m")
    got = mtf_trend(bars, fast=12, slow=26, htf=12, trend=20)
    close = np.array(bars.close)
    fast = np.sign(np.nan_to_num(ema(close, 12) - ema(close, 26)))
    trend = htf_trend_direction(bars, 12, 20)
    np.testing.assert_array_equal(got, np.where(fast == trend, fast, 0.0))
    assert ((got != 0) & (got != fast)).sum() == 0
    assert ((fast != 0) & (got == 0)).sum() > 500  # the filter removes many fast signals
    long_only = mtf_trend(bars, fast=12, slow=26, htf=12, trend=20, short=0)
    np.testing.assert_array_equal(long_only, np.maximum(got, 0.0))


def test_needs_a_timeframe_and_enough_bars():
    class NoTimeframe:
        timestamp = np.arange(300, dtype=np.int64) * FIVE_MIN_MS
        close = np.ones(300)

    with pytest.raises(BarsFieldError, match=r"bars\.timeframe"):
        mtf_trend(NoTimeframe(), htf=12, trend=20)
    with pytest.raises(InsufficientDataError, match="at least 240 bars"):
        mtf_trend(bars_from_close(np.ones(239)), htf=12, trend=20)
    with pytest.raises(ParamError, match=r"^htf=1 is out of range"):
        mtf_trend(bars_from_close(np.ones(300)), htf=1)
