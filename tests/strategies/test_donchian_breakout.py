import numpy as np
import pytest

from strategies.donchian_breakout import donchian_breakout
from strategies.errors import InsufficientDataError, ParamError
from tests._bars import bars_from_close

# high = low = close; entry=3 (channel of the 3 previous bars), exit=2
CLOSE = [5, 5, 5, 5, 6, 7, 6, 5, 4, 3, 4, 5, 6]
# bar 4: 6 > max(5,5,5) -> long; bar 6: 6 < min(6,7)? no -> hold;
# bar 7: 5 < min(7,6) -> exit, and 5 < min(6,7,6) -> short (same bar);
# bar 10: 4 > max(4,3)? no -> hold; bar 11: 5 > max(3,4) -> exit short, 5 > max(4,3,4) -> long
EXPECTED = [0, 0, 0, 0, 1, 1, 1, -1, -1, -1, -1, 1, 1]


def test_breakouts_enter_and_the_exit_channel_closes():
    got = donchian_breakout(bars_from_close(CLOSE), entry=3, exit=2)
    np.testing.assert_array_equal(got, EXPECTED)


def test_long_only_goes_flat_instead_of_short():
    got = donchian_breakout(bars_from_close(CLOSE), entry=3, exit=2, short=0)
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1])


def test_a_close_equal_to_the_channel_is_not_a_breakout():
    got = donchian_breakout(bars_from_close([5, 6, 5, 6, 6, 6]), entry=3, exit=1)
    np.testing.assert_array_equal(got, np.zeros(6))


def test_params_and_bar_count():
    with pytest.raises(ParamError, match="exit < entry") as info:
        donchian_breakout(bars_from_close(CLOSE), entry=3, exit=3)
    assert "exit=3" in str(info.value) and "entry=3" in str(info.value)
    with pytest.raises(InsufficientDataError, match="at least 4 bars"):
        donchian_breakout(bars_from_close(CLOSE[:3]), entry=3, exit=2)
