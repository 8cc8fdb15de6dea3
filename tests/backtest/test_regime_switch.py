"""The regime-switching strategy (backtest.regime_switch): targets come from the chosen candidate, nothing looks
ahead (the lookahead checker), and the out-of-sample table equals the engine run by hand."""

from __future__ import annotations

import numpy as np
import pytest

import strategies  # noqa: F401 - registers the built-in strategies
from backtest.engine import run_backtest
from backtest.lookahead import check_lookahead
from backtest.metrics import summary
from backtest.regime_switch import (RegimeSwitchError, candidates_from, evaluate_out_of_sample, regime_switch,
                                    regime_switch_strategy)
from market.samples import load_sample
from strategies.registry import get_strategy

SETTINGS = {"n_states": 2, "train": 400, "refit_every": 300, "method": "gmm"}


@pytest.fixture(scope="module")
def bars():
    return load_sample("BTC-USD-1d").take(slice(1500, 2600))


@pytest.fixture(scope="module")
def cands():
    return candidates_from([(get_strategy("sma_cross"), {"fast": 10, "slow": 50}),
                            (get_strategy("donchian_breakout"), {"short": 0})])


@pytest.fixture(scope="module")
def switched(bars, cands):
    return regime_switch(bars, cands, **SETTINGS)


def test_targets_are_the_chosen_candidates(bars, cands, switched) -> None:
    sw = switched
    n = len(bars)
    assert sw.start == 420 and np.all(sw.target[:420] == 0) and np.all(sw.labels[:420] == -1)
    sig = np.vstack([c.targets(bars, n) for c in cands])
    t = np.arange(sw.start, n)
    assert np.array_equal(sw.target[t], sig[sw.chosen[t], t])
    assert set(np.unique(sw.labels[t])) <= {0, 1} and [b for b, _ in sw.refits] == [420, 720, 1020]
    assert sw.candidates[-1] == "flat" and len(sw.refits[0][1]) == 2


def test_no_lookahead(bars, cands) -> None:
    record = regime_switch_strategy(cands, **SETTINGS)
    # truncation points inside the first and the second refit block, and the last bar before the third refit
    report = check_lookahead(record, bars, {}, points=[600, 850, 1019])
    assert report.ok, report.reason


def test_out_of_sample_table_equals_the_engine(bars, cands, switched) -> None:
    rep = evaluate_out_of_sample(bars, cands, fees_bps=10, **SETTINGS)
    rows = {r["name"]: r for r in rep["rows"]}
    assert list(rows) == ["regime_switch", *(c.name for c in cands)] and rep["bars"] == len(bars) - 420
    oos = bars.take(slice(420, None))
    sma = get_strategy("sma_cross").run(bars, {"fast": 10, "slow": 50})[420:]
    ref = summary(run_backtest(oos, sma, fees_bps=10), oos.timeframe_ms, periods_per_year=rep["periods_per_year"])
    assert rows["sma_cross(fast=10,slow=50)"]["total_return"] == ref["total_return"]
    assert rows["flat"]["total_return"] == 0.0
    sw = switched.target[420:]
    ref = summary(run_backtest(oos, sw, fees_bps=10), oos.timeframe_ms, periods_per_year=rep["periods_per_year"])
    assert rows["regime_switch"]["sharpe"] == ref["sharpe"]


@pytest.mark.parametrize(("kwargs", "name"), [({"n_states": 1}, "states"), ({"train": 10}, "train"),
                                              ({"refit_every": 0}, "refit_every"), ({"train": 5000}, "train")])
def test_bad_settings_are_named(bars, cands, kwargs, name) -> None:
    with pytest.raises(RegimeSwitchError, match=name):
        regime_switch(bars, cands, **{**SETTINGS, **kwargs})
