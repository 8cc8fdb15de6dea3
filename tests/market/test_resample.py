from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market.bars import Bars
from raytrader.errors import InputError
from market.resample import resample
from market.samples import load_sample
from market.validate import validate_bars

from .helpers import MINUTE, T0


def _minute_bars() -> Bars:
    # 00:00 .. 00:11 with 00:05-00:09 missing entirely and 00:02 missing
    minutes = [0, 1, 3, 4, 10, 11]
    o = [10.0, 11.0, 12.0, 13.0, 20.0, 21.0]
    h = [11.5, 12.0, 14.0, 13.5, 22.0, 21.5]
    lo = [9.5, 10.5, 11.0, 12.5, 19.0, 20.5]
    c = [11.0, 11.5, 13.0, 13.0, 21.0, 21.0]
    v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    ts = [T0 + m * MINUTE for m in minutes]
    return Bars(np.array(ts), o, h, lo, c, v, "X/Y", "1m", "v")


def test_hand_computed_5m() -> None:
    out = resample(_minute_bars(), "5m")
    # bin 00:00 holds minutes 0,1,3,4; bin 00:05 is empty (not created); bin 00:10 holds 10,11
    assert out.timestamp.tolist() == [T0, T0 + 10 * MINUTE]
    assert out.open.tolist() == [10.0, 20.0]
    assert out.high.tolist() == [14.0, 22.0]
    assert out.low.tolist() == [9.5, 19.0]
    assert out.close.tolist() == [13.0, 21.0]
    assert out.volume.tolist() == [10.0, 11.0]
    assert (out.symbol, out.timeframe, out.venue) == ("X/Y", "5m", "v")
    report = validate_bars(out)
    assert report.n_missing == 1  # the empty bin stays a gap


def test_same_timeframe_is_identity() -> None:
    bars = _minute_bars()
    assert resample(bars, "1m").equals(bars)


@pytest.mark.parametrize(("src", "dst", "match"), [
    ("5m", "1m", "finer"), ("5m", "7m", "whole multiple"), ("2m", "5m", "whole multiple"),
])
def test_bad_targets(src: str, dst: str, match: str) -> None:
    step = {"5m": 5, "2m": 2}[src] * MINUTE
    bars = Bars(np.array([T0, T0 + step]), [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], "X/Y", src, "v")
    with pytest.raises(InputError, match=match):
        resample(bars, dst)


def test_weeks_do_not_nest_in_epoch_14d() -> None:
    weekly = resample(load_sample("BTC-USD-1d"), "1w")
    with pytest.raises(InputError, match="do not start"):
        resample(weekly, "14d")  # 14d bins start on Thursdays (epoch grid), weeks on Mondays


def _pandas_reference(bars: Bars, rule: str, origin: str = "epoch") -> pd.DataFrame:
    frame = bars.to_frame().set_index("timestamp")
    agg = frame.resample(rule, label="left", closed="left", origin=origin).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    counts = frame["open"].resample(rule, label="left", closed="left", origin=origin).count()
    return agg[counts > 0]


@pytest.mark.parametrize("name", ["ETH-BTC-5m", "ADA-BTC-5m"])  # ADA has gaps
def test_real_5m_to_1h_matches_pandas(name: str) -> None:
    bars = load_sample(name)
    out = resample(bars, "1h")
    ref = _pandas_reference(bars, "1h")
    assert out.timestamp.tolist() == (ref.index.as_unit("ms").asi8).tolist()
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(out, col), ref[col].to_numpy())
    np.testing.assert_allclose(out.volume, ref["volume"].to_numpy(), rtol=1e-12)
    assert out.volume.sum() == pytest.approx(bars.volume.sum(), rel=1e-12)


def test_real_daily_to_weekly_opens_on_monday() -> None:
    bars = load_sample("BTC-USD-1d")
    weekly = resample(bars, "1w")
    days = pd.to_datetime(weekly.timestamp, unit="ms", utc=True)
    assert set(days.day_of_week) == {0}  # Monday
    ref = _pandas_reference(bars, "168h", origin=pd.Timestamp("1970-01-05", tz="UTC"))
    np.testing.assert_array_equal(weekly.timestamp, ref.index.as_unit("ms").asi8)
    np.testing.assert_array_equal(weekly.close, ref["close"].to_numpy())
    np.testing.assert_array_equal(weekly.high, ref["high"].to_numpy())
    validate_bars(weekly)
