import math

import numpy as np
import pandas as pd
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


def _ema_ref(x, n):
    """EMA by a plain loop, as documented: seeded with the mean of the first n values, alpha = 2 / (n + 1)."""
    out = [math.nan] * len(x)
    if len(x) < n:
        return out
    prev = sum(x[:n]) / n
    out[n - 1] = prev
    alpha = 2.0 / (n + 1)
    for t in range(n, len(x)):
        prev = alpha * x[t] + (1 - alpha) * prev
        out[t] = prev
    return out


def _sign(v):
    return 0.0 if math.isnan(v) or v == 0 else math.copysign(1.0, v)


def _mtf_reference(bars, fast, slow, htf_minutes, trend):
    """The target by an independent route: pandas hourly bins (present bars only) and plain loops.

    Returns (target, margin): ``margin[t]`` is how far the deciding differences are from zero, relative,
    so a tie that two float paths may round differently can be told apart from a real disagreement.
    """
    close = [float(c) for c in bars.close]
    ts = pd.to_datetime(np.asarray(bars.timestamp), unit="ms")
    hourly = pd.Series(close, index=ts).resample(f"{htf_minutes}min").last().dropna()
    hclose = hourly.to_list()
    hema = _ema_ref(hclose, trend)
    hdir = [_sign(c - e) for c, e in zip(hclose, hema)]
    hmargin = [abs(c - e) / c if not math.isnan(e) else math.inf for c, e in zip(hclose, hema)]
    bin_end = hourly.index.values.astype("datetime64[ms]").astype(np.int64) + htf_minutes * 60_000
    efast, eslow = _ema_ref(close, fast), _ema_ref(close, slow)
    target, margin = [], []
    j = -1  # the latest bin complete at bar t: its end <= the bar's close time
    for t, stamp in enumerate(np.asarray(bars.timestamp)):
        while j + 1 < len(bin_end) and bin_end[j + 1] <= stamp + FIVE_MIN_MS:
            j += 1
        f = _sign(efast[t] - eslow[t])
        h = hdir[j] if j >= 0 else 0.0
        target.append(f if f == h else 0.0)
        fm = abs(efast[t] - eslow[t]) / close[t] if not math.isnan(efast[t] - eslow[t]) else math.inf
        margin.append(min(fm, hmargin[j] if j >= 0 else math.inf))
    return np.array(target), np.array(margin)


def test_matches_an_independent_reference_on_real_data():
    bars = sample("ETH-BTC-5m")
    got = mtf_trend(bars, fast=12, slow=26, htf=12, trend=20)
    want, margin = _mtf_reference(bars, 12, 26, 60, 20)
    differ = np.flatnonzero(got != want)
    assert (margin[differ] < 1e-12).all(), [(int(t), got[t], want[t], margin[t]) for t in differ[:5]]
    assert differ.size <= 2
    assert set(np.unique(got)) == {-1.0, 0.0, 1.0}
    assert (got == 1).sum() > 300 and (got == -1).sum() > 300 and (got == 0).sum() > 500


def test_the_target_never_looks_ahead():
    bars = sample("ETH-BTC-5m")
    full = mtf_trend(bars, fast=12, slow=26, htf=12, trend=20)
    for cut in (300, 1234, 2881, 4000, len(bars) - 1):
        prefix = mtf_trend(bars.take(np.arange(cut)), fast=12, slow=26, htf=12, trend=20)
        np.testing.assert_array_equal(prefix, full[:cut])


def test_long_only_drops_the_shorts_and_nothing_else():
    bars = sample("ETH-BTC-5m")
    got = mtf_trend(bars, fast=12, slow=26, htf=12, trend=20)
    long_only = mtf_trend(bars, fast=12, slow=26, htf=12, trend=20, short=0)
    np.testing.assert_array_equal(long_only[got >= 0], got[got >= 0])
    assert (long_only[got < 0] == 0).all() and (got < 0).any()


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
