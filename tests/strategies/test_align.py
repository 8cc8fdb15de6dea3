import numpy as np
import pytest

from raytrader.errors import InputError
from strategies.align import align_series, check_aligned
from strategies.errors import AssetCountError, MisalignedBarsError
from tests._bars import bars_from_close
from tests.strategies._data import ALTS, sample


def test_align_keeps_exactly_the_common_timestamps_of_real_series_with_gaps():
    raw = [sample(f"{a}-BTC-5m") for a in ALTS]
    lengths = {len(b) for b in raw}
    assert len(lengths) > 1  # the samples do have different gaps
    aligned = align_series(raw)
    common = set(raw[0].timestamp.tolist()).intersection(*(b.timestamp.tolist() for b in raw[1:]))
    assert len(aligned) == len(raw) and len(aligned[0]) == len(common) < min(lengths)
    for before, after in zip(raw, aligned, strict=True):
        np.testing.assert_array_equal(after.timestamp, sorted(common))
        keep = np.isin(before.timestamp, after.timestamp)
        np.testing.assert_array_equal(after.close, before.close[keep])
        assert after.symbol == before.symbol
    assert check_aligned(aligned, 2) == len(common)


def test_misaligned_or_unsorted_series_are_named():
    a = bars_from_close(np.arange(1.0, 11.0))
    b = a.take(np.r_[0:4, 5:10])
    with pytest.raises(MisalignedBarsError, match=r"^bars\[1\]: 9 rows"):
        check_aligned([a, b])
    shifted = a.take(slice(1, 10))
    with pytest.raises(MisalignedBarsError, match=r"^bars\[1\]: timestamp"):
        check_aligned([a.take(slice(0, 9)), shifted])
    with pytest.raises(MisalignedBarsError, match=r"^bars\[0\]: timestamps not strictly increasing at row 5") as info:
        align_series([a.take(np.r_[0:5, 4:10]), a])
    assert isinstance(info.value, InputError)
    assert [len(x) for x in align_series([a, b])] == [9, 9]


@pytest.mark.parametrize(("bars", "match"), [("ab", "sequence"), ([], "none"), ([1, 2], r"bars\[0\]")])
def test_not_a_sequence_of_bars(bars, match):
    with pytest.raises(AssetCountError, match=match):
        align_series(bars)


def test_asset_count_limits():
    a = bars_from_close(np.ones(5))
    with pytest.raises(AssetCountError, match="exactly 2 series, got 3"):
        check_aligned([a, a, a], 2, 2)
    with pytest.raises(AssetCountError, match="at least 2 series, got 1"):
        check_aligned([a], 2)
    with pytest.raises(AssetCountError, match="sequence"):
        check_aligned(a)
