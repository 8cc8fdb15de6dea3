import numpy as np
import pytest

from strategies.errors import InsufficientDataError, ParamError
from strategies.indicators import macd
from strategies.macd_trend import macd_trend
from tests._bars import bars_from_close

CLOSE = [8.0] * 12 + [9, 10, 11, 12, 13, 14] + [13, 12, 11, 10, 9, 8, 7]


def test_follows_the_histogram_sign():
    hist = macd(np.array(CLOSE), 3, 7, 3).histogram
    assert (hist[8:12] == 0).all()  # exact: EMAs of a constant
    turn = int(np.flatnonzero(hist < 0)[0])
    assert 18 <= turn <= 20
    expected = np.zeros(len(CLOSE))
    expected[12:turn] = 1.0
    expected[turn:] = -1.0
    assert (hist[12:turn] > 0).all() and (hist[turn:] < 0).all()
    np.testing.assert_array_equal(macd_trend(bars_from_close(CLOSE), fast=3, slow=7, signal=3), expected)
    np.testing.assert_array_equal(
        macd_trend(bars_from_close(CLOSE), fast=3, slow=7, signal=3, short=0), np.maximum(expected, 0))


def test_params_and_bars():
    with pytest.raises(ParamError, match="fast < slow"):
        macd_trend(bars_from_close(CLOSE), fast=8, slow=7)
    with pytest.raises(InsufficientDataError, match="at least 9 bars"):  # slow + signal - 1
        macd_trend(bars_from_close(CLOSE[:8]), fast=3, slow=7, signal=3)
    assert macd_trend(bars_from_close(CLOSE[:9]), fast=3, slow=7, signal=3).shape == (9,)
