import numpy as np
import pytest

from strategies.errors import InsufficientDataError, ParamError
from strategies.indicators import rsi
from strategies.rsi_reversion import rsi_reversion
from tests._bars import bars_from_close

# changes -1 -1 -1 +1 +1 +1 +1 -1 -1 ; Wilder RSI(2) from bar 2 (exact in binary):
CLOSE = [10, 9, 8, 7, 8, 9, 10, 11, 10, 9]
RSI2 = [np.nan, np.nan, 0, 0, 50, 75, 87.5, 93.75, 46.875, 23.4375]
# 0 < 30 -> long; 50 >= mid -> exit; 75 > 70 -> short; 46.875 <= 50 -> exit; 23.4 < 30 -> long
EXPECTED = [0, 0, 1, 1, 0, -1, -1, -1, 0, 1]


def test_crafted_series_has_the_rsi_the_expectations_assume():
    np.testing.assert_array_equal(rsi(np.array(CLOSE, float), 2), RSI2)


def test_oversold_long_overbought_short_exit_at_mid():
    got = rsi_reversion(bars_from_close(CLOSE), n=2, lower=30, mid=50, upper=70)
    np.testing.assert_array_equal(got, EXPECTED)
    long_only = rsi_reversion(bars_from_close(CLOSE), n=2, lower=30, mid=50, upper=70, short=0)
    np.testing.assert_array_equal(long_only, [0, 0, 1, 1, 0, 0, 0, 0, 0, 1])


def test_a_higher_mid_holds_the_long_longer():
    got = rsi_reversion(bars_from_close(CLOSE), n=2, lower=30, mid=80, upper=90)
    # 50 and 75 are below mid=80: still long; 87.5 >= 80: exit (not > 90: no short);
    # 93.75 > 90: short; 46.875 <= 80: exit
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 1, 1, 0, -1, 0, 1])


@pytest.mark.parametrize("params", [{"lower": 50}, {"mid": 75}, {"upper": 40, "lower": 20, "mid": 45.5}])
def test_levels_must_be_ordered(params):
    with pytest.raises(ParamError, match="lower < mid < upper") as info:
        rsi_reversion(bars_from_close(CLOSE), n=2, **params)
    assert info.value.param == "lower < mid < upper"


def test_too_few_bars():
    with pytest.raises(InsufficientDataError, match="at least 3 bars"):
        rsi_reversion(bars_from_close(CLOSE[:2]), n=2)
