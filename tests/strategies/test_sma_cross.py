import numpy as np
import pytest

from market.samples import sample_path

from strategies.errors import BarsFieldError, InsufficientDataError, ParamError
from strategies.indicators import sma
from strategies.sma_cross import sma_cross
from tests._bars import bars_from_close, load_parquet_bars

ETH_BTC = str(sample_path("ETH-BTC-5m"))  # bundled real data: never skipped

# fast=2, slow=4; d = SMA2 - SMA4 (exact in binary: sums of small ints / 2 or 4)
CRAFTED = [1, 2, 3, 4, 5, 5, 5, 5, 5, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 6, 6, 6, 6, 5, 4, 4, 4, 4, 5, 4, 4, 3]
D = [None, None, None, 1, 1, .75, .25, 0, 0, -.25, -.25, .25, .5, .5, .25, 0, .25, .5, .25, 0,
     -.25, -.5, -.25, 0, -.25, -.75, -.75, -.25, 0, .25, .25, -.25, -.5]  # fmt: skip
EXPECTED = np.zeros(len(CRAFTED))
EXPECTED[11:20] = 1.0  # bar 11: d>0 after d<0 -> enter; bar 20: d<0 after d==0 -> exit
EXPECTED[29:31] = 1.0  # bar 29: d>0 after d==0 -> enter; bar 31: d<0 after d>0 -> exit


def test_crafted_series_has_the_differences_the_expectations_assume():
    close = np.array(CRAFTED, dtype=float)
    d = sma(close, 2) - sma(close, 4)
    assert np.isnan(d[:3]).all()
    np.testing.assert_array_equal(d[3:], np.array(D[3:], dtype=float))


def test_cross_semantics_on_crafted_series():
    got = sma_cross(bars_from_close(CRAFTED), fast=2, slow=4)
    # bars 3-8: fast already above/equal slow when both first exist -> not a cross, stay flat
    # bar 9: d<0 after d==0 while flat -> still flat
    # bars 15-16: d==0 then d>0 while long -> no change
    # bars 23-24: d rises to 0 and falls back -> no entry
    np.testing.assert_array_equal(got, EXPECTED)
    assert got.dtype == np.float64


def test_too_few_bars_names_the_need():
    bars = bars_from_close(CRAFTED[:4])
    with pytest.raises(InsufficientDataError, match=r"at least 5 bars.*slow \+ 1.*got 4"):
        sma_cross(bars, fast=2, slow=4)
    assert sma_cross(bars_from_close(CRAFTED[:5]), fast=2, slow=4).shape == (5,)


def test_bad_params_are_rejected_by_the_function_itself():
    bars = bars_from_close(CRAFTED)
    with pytest.raises(ParamError, match="fast < slow"):
        sma_cross(bars, fast=4, slow=4)
    with pytest.raises(ParamError, match=r"^fast=1 "):
        sma_cross(bars, fast=1, slow=4)


def test_bars_without_close_is_a_named_error():
    class NoClose:
        open = np.ones(50)

    with pytest.raises(BarsFieldError, match=r"bars\.close"):
        sma_cross(NoClose(), fast=2, slow=4)


def test_no_lookahead_on_real_data():
    bars = load_parquet_bars(ETH_BTC)
    fast, slow = 5, 20
    full = sma_cross(bars, fast=fast, slow=slow)
    changes = np.flatnonzero(np.diff(full)) + 1
    assert changes.size > 20  # the check below must see many state changes
    points = set(range(slow, full.shape[0], 97)) | set(changes.tolist()) | {c - 1 for c in changes}
    for t in sorted(points):
        np.testing.assert_array_equal(sma_cross(bars.take(slice(0, t + 1)), fast=fast, slow=slow), full[: t + 1], err_msg=f"t={t}")

