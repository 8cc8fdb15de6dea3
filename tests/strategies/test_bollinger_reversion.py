import numpy as np
import pytest

from strategies.bollinger_reversion import bollinger_reversion
from strategies.errors import InsufficientDataError, ParamError
from tests._bars import bars_from_close

# n=3, k=1 (population std):
# bar 3 [10,10,7]: mean 9, std 1.41 -> 7 < 7.59 -> long
# bar 4 [10,7,7]: mean 8 -> 7 < 8 -> hold; bar 5 [7,7,7]: 7 >= 7 -> exit
# bar 6 [7,7,10]: mean 8, upper 9.41 -> 10 > upper -> short
# bar 7 [7,10,10]: mean 9 -> 10 > 9 -> hold; bar 8 [10,10,10]: 10 <= 10 -> exit
CLOSE = [10, 10, 10, 7, 7, 7, 10, 10, 10]
EXPECTED = [0, 0, 0, 1, 1, 0, -1, -1, 0]


def test_fade_outside_the_bands_exit_at_the_middle():
    np.testing.assert_array_equal(bollinger_reversion(bars_from_close(CLOSE), n=3, k=1.0), EXPECTED)
    np.testing.assert_array_equal(
        bollinger_reversion(bars_from_close(CLOSE), n=3, k=1.0, short=0), [0, 0, 0, 1, 1, 0, 0, 0, 0])


def test_wider_bands_do_not_trigger():
    # k=2: bar 3 lower = 9 - 2.83 = 6.17 < 7, bar 6 upper = 8 + 2.83 > 10
    np.testing.assert_array_equal(bollinger_reversion(bars_from_close(CLOSE), n=3, k=2.0), np.zeros(9))


def test_k_must_be_on_its_grid_and_n_bars_are_needed():
    with pytest.raises(ParamError, match=r"^k=1\.1 is not on the grid"):
        bollinger_reversion(bars_from_close(CLOSE), n=3, k=1.1)
    with pytest.raises(InsufficientDataError, match="at least 3 bars"):
        bollinger_reversion(bars_from_close(CLOSE[:2]), n=3, k=1.0)
