import numpy as np
import pytest

from market.bars import Bars
from strategies.errors import InsufficientDataError, ParamError
from strategies.vw_momentum import vw_mean_return_bps, vw_momentum
from tests._bars import FIVE_MIN_MS, T0_MS


def _bars(log_returns_bps, volume):
    close = np.exp(np.concatenate(([0.0], np.cumsum(log_returns_bps) / 1e4)))
    n = close.shape[0]
    return Bars(timestamp=T0_MS + FIVE_MIN_MS * np.arange(n), open=close, high=close, low=close, close=close,
                volume=np.asarray(volume, float), timeframe="5m")


def test_volume_weighting_decides_the_side():
    # returns +10 bps (volume 1) then -5 bps (volume 3): weighted mean -1.25 bps, plain mean +2.5 bps
    bars = _bars([10.0, -5.0], [1.0, 1.0, 3.0])
    m = vw_mean_return_bps(bars, 2)
    assert np.isnan(m[:2]).all() and m[2] == pytest.approx(-1.25, abs=1e-9)
    np.testing.assert_array_equal(vw_momentum(bars, n=2, threshold_bps=1.0), [0, 0, -1])
    np.testing.assert_array_equal(vw_momentum(bars, n=2, threshold_bps=1.0, short=0), [0, 0, 0])
    np.testing.assert_array_equal(vw_momentum(bars, n=2, threshold_bps=1.5), [0, 0, 0])
    flipped = _bars([10.0, -5.0], [1.0, 3.0, 1.0])  # now +10 bps weighs 3: (30 - 5) / 4 = 6.25
    np.testing.assert_array_equal(vw_momentum(flipped, n=2, threshold_bps=1.0), [0, 0, 1])


def test_no_volume_means_no_position():
    bars = _bars([10.0, 10.0, 10.0, 10.0], [1.0, 0.0, 0.0, 2.0, 2.0])
    np.testing.assert_array_equal(vw_momentum(bars, n=2, threshold_bps=0.0), [0, 0, 0, 1, 1])


def test_params_and_bars():
    bars = _bars([1.0, 2.0], [1, 1, 1])
    with pytest.raises(ParamError, match=r"^threshold_bps=-1\.0 is out of range"):
        vw_momentum(bars, n=2, threshold_bps=-1.0)
    with pytest.raises(InsufficientDataError, match="at least 4 bars"):
        vw_momentum(bars, n=3)
