import numpy as np
import pytest

from market.bars import Bars
from strategies.errors import AssetCountError, InsufficientDataError, ParamError
from strategies.xs_momentum import xs_momentum
from tests._bars import FIVE_MIN_MS, T0_MS
from tests.strategies._data import alt_panel

# four assets, 7 bars from T0 (on the 10m grid); lookback 2, rebalance=2 (10m periods) -> bars 2, 4, 6
CLOSES = np.array([
    [10, 11, 12, 11, 10, 10, 10],  # a0: best at bar 2, worst at bar 4
    [10, 9, 8, 9, 10, 11, 12],     # a1: worst at bar 2, best at bar 4
    [10, 10, 10, 10, 10, 10, 10],  # a2: flat
    [10, 10.5, 11, 11, 11, 11, 11],  # a3: middling, then ties a0 and a2 at bar 6
], dtype=float).T


def _panel(closes):
    ts = T0_MS + FIVE_MIN_MS * np.arange(closes.shape[0])
    return tuple(Bars(timestamp=ts, open=c, high=c, low=c, close=c, volume=np.ones(c.shape[0]), timeframe="5m")
                 for c in closes.T)


def test_long_winners_short_losers_held_between_rebalances():
    got = xs_momentum(_panel(CLOSES), lookback=2, top=1, rebalance=2)
    expected = np.zeros((7, 4))
    expected[2:4] = [0.5, -0.5, 0, 0]  # bar 2: a0 +20%, a1 -20%
    expected[4:6] = [-0.5, 0.5, 0, 0]  # bar 4: a1 +25%, a0 -16.7%
    expected[6] = [0, 0.5, 0, -0.5]   # bar 6: a1 +20%; a0, a2, a3 all 0%: ties keep input order, a3 ranks last
    np.testing.assert_array_equal(got, expected)


def test_long_only_and_two_per_side():
    got = xs_momentum(_panel(CLOSES), lookback=2, top=2, rebalance=2, short=0)
    np.testing.assert_array_equal(got[2], [0.5, 0, 0, 0.5])  # a0 +20%, a3 +10%
    assert (got[:2] == 0).all() and (got >= 0).all()
    np.testing.assert_allclose(got[2:].sum(axis=1), 1.0)
    both = xs_momentum(_panel(CLOSES), lookback=2, top=2, rebalance=1)
    np.testing.assert_array_equal(both[3], [0.25, -0.25, -0.25, 0.25])  # bar 3: a0 0%, a1 0%, a2 0%, a3 +4.8%
    np.testing.assert_allclose(np.abs(both[2:]).sum(axis=1), 1.0)
    np.testing.assert_allclose(both[2:].sum(axis=1), 0.0, atol=1e-15)


def test_real_panel_is_dollar_neutral_with_unit_gross():
    panel = alt_panel()
    got = xs_momentum(panel)
    assert got.shape == (len(panel[0]), 10)
    start = int(np.flatnonzero(got.any(axis=1))[0])
    assert 288 <= start < 288 + 12  # the first period start after the warm-up
    live = got[start:]
    np.testing.assert_allclose(np.abs(live).sum(axis=1), 1.0)
    np.testing.assert_allclose(live.sum(axis=1), 0.0, atol=1e-12)
    changes = np.flatnonzero((np.diff(got, axis=0) != 0).any(axis=1)) + 1
    hour = np.asarray(panel[0].timestamp) // 3_600_000
    assert changes.size > 20 and (hour[changes] != hour[changes - 1]).all()  # only at the first bar of an hour


def test_the_schedule_depends_on_timestamps_not_on_where_the_data_starts():
    panel = alt_panel()
    full = xs_momentum(panel)
    late = xs_momentum(tuple(b.take(slice(1_005, None)) for b in panel))
    # once both have had a rebalance after the late start's warm-up, they hold the same weights
    first = 1_005 + 288 + 12
    np.testing.assert_array_equal(late[first - 1_005 :], full[first:])


def test_a_gap_moves_the_rebalance_to_the_first_bar_of_the_period():
    panel = _panel(CLOSES)
    gapped = tuple(b.take(np.array([0, 1, 2, 3, 5, 6])) for b in panel)  # bar 4 (a period start) missing
    got = xs_momentum(gapped, lookback=2, top=1, rebalance=2)
    # row 4 is bar 5, the first bar of that period: rebalance with ret = close[5] / close[2] (two rows back)
    np.testing.assert_array_equal(got[4], [-0.5, 0.5, 0, 0])


def test_inputs_are_checked():
    panel = _panel(CLOSES)
    with pytest.raises(ParamError, match=r"^top=3: needs 2 \* top <= assets, got 4") as info:
        xs_momentum(panel, lookback=2, top=3)
    assert info.value.param == "top"
    with pytest.raises(ParamError, match=r"^top=4: needs top < assets"):
        xs_momentum(panel, lookback=2, top=4, short=0)
    with pytest.raises(AssetCountError, match="at least 2"):
        xs_momentum(panel[:1], lookback=2, top=1)
    with pytest.raises(InsufficientDataError, match="at least 8 bars"):
        xs_momentum(panel, lookback=7, top=1)
