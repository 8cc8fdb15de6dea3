import numpy as np
import pytest

from strategies.ema_cross import ema_cross
from strategies.errors import InsufficientDataError, ParamError
from strategies.indicators import ema
from tests._bars import bars_from_close

# spans 3 (alpha 1/2) and 7 (alpha 1/4): EMAs of a constant 8 stay exactly 8, so d == 0 there
CLOSE = [8.0] * 10 + [9, 10, 11, 12, 13, 14] + [13, 12, 11, 10, 9, 8, 7, 6] + [6.0] * 3


def test_regime_follows_the_sign_of_the_difference():
    close = np.array(CLOSE)
    d = ema(close, 3) - ema(close, 7)
    assert (d[6:10] == 0).all() and d[10] > 0
    first_down = int(np.flatnonzero(d < 0)[0])
    assert 17 <= first_down <= 20  # a few bars after the peak at bar 15
    got = ema_cross(bars_from_close(CLOSE), fast=3, slow=7)
    expected = np.zeros(len(CLOSE))
    expected[10:first_down] = 1.0  # long from the first bar above
    expected[first_down:] = -1.0  # short from the first bar below, to the end
    assert (d[first_down:] < 0).all()
    np.testing.assert_array_equal(got, expected)
    long_only = ema_cross(bars_from_close(CLOSE), fast=3, slow=7, short=0)
    np.testing.assert_array_equal(long_only, np.maximum(expected, 0.0))


def test_zero_difference_keeps_the_previous_target():
    close = [8.0] * 7 + [9.0] + [8.0] * 30 + [7.0] + [7.0] * 40
    got = ema_cross(bars_from_close(close), fast=3, slow=7)
    d = ema(np.array(close), 3) - ema(np.array(close), 7)
    assert got[7] == 1.0 and (got[7 : int(np.flatnonzero(d < 0)[0])] == 1.0).all()


def test_params_and_bars():
    with pytest.raises(ParamError, match="fast < slow"):
        ema_cross(bars_from_close(CLOSE), fast=7, slow=7)
    with pytest.raises(ParamError, match=r"^short=2 is out of range"):
        ema_cross(bars_from_close(CLOSE), short=2)
    with pytest.raises(InsufficientDataError, match="at least 7 bars"):
        ema_cross(bars_from_close(CLOSE[:6]), fast=3, slow=7)
