"""The batched sweep kernel gives exactly what the engine gives config by config, on real bundled data."""

from __future__ import annotations

import numpy as np
import pytest

import strategies  # noqa: F401  (registers sma_cross)
from backtest.engine import run_backtest
from backtest.metrics import summary
from backtest.crossover_sweep import sweep_crossover
from backtest.errors import EmptySweepError, GridSpecError
from backtest.grid import expand_grid, parse_grid, sample_configs
from backtest.pairwise_sum import np_sum
from backtest.sweep import METRICS, SweepResult, evaluate_configs, reference_evaluate
from raytrader.errors import InputError
from market.samples import load_sample
from strategies.errors import InsufficientDataError, ParamError, UnknownStrategyError
from strategies.registry import get_strategy
from strategies.sma_cross import sma_cross
from tests._bars import bars_from_close

SMA = get_strategy("sma_cross")


@pytest.fixture(scope="module")
def eth():
    return load_sample("ETH-BTC-5m")  # real Binance ETH/BTC 5m, 5760 bars


@pytest.fixture(scope="module")
def alt():
    return load_sample("ALT-BTC-1m")  # real Binance alt/BTC 1m, with gaps


# ------------------------------------------------------------------------------------------- grids

def test_the_issue_grid_expands_to_780_configs_with_fast_below_slow() -> None:
    names, params = expand_grid(SMA, parse_grid(["fast=5:200:5", "slow=5:200:5"]))
    assert names == ("fast", "slow") and params.dtype == np.int64
    assert params.shape == (780, 2) == (40 * 39 // 2, 2)
    assert np.all(params[:, 0] < params[:, 1])
    assert set(params[:, 0]) == set(range(5, 200, 5)) and set(params[:, 1]) == set(range(10, 201, 5))
    assert params[0].tolist() == [5, 10] and params[-1].tolist() == [195, 200]  # row-major order
    assert len({tuple(r) for r in params.tolist()}) == 780


def test_grid_forms_lists_singles_and_defaults() -> None:
    assert parse_grid(["fast=3,5, 8", "slow=20"]) == {"fast": ["3", "5", "8"], "slow": ["20"]}
    assert parse_grid(["fast=4:10:3"]) == {"fast": ["4", "7", "10"]}
    assert parse_grid(["fast=4:9"]) == {"fast": ["4", "5", "6", "7", "8", "9"]}
    names, params = expand_grid(SMA, parse_grid(["fast=3,5,3"]))  # slow keeps its default 30; duplicates dropped
    assert params.tolist() == [[3, 30], [5, 30]]


@pytest.mark.parametrize("spec, field", [
    (["fast"], "fast"), (["fast=1:x"], "fast"), (["fast=5:2"], "fast"), (["fast=1:5:0"], "fast"),
    (["fast=1,,2"], "fast"), (["fast=5", "fast=6"], "fast"), (["fast=1:2:3:4"], "fast"),
])
def test_bad_grid_syntax_is_a_named_input_error(spec: list[str], field: str) -> None:
    with pytest.raises(GridSpecError) as err:
        parse_grid(spec)
    assert isinstance(err.value, InputError) and field in str(err.value)


def test_bad_grid_values_name_the_parameter() -> None:
    with pytest.raises(GridSpecError, match="bogus"):
        expand_grid(SMA, parse_grid(["bogus=1:3"]))
    with pytest.raises(GridSpecError, match="fast"):
        expand_grid(SMA, parse_grid(["fast=1:3"]))  # fast >= 2
    with pytest.raises(GridSpecError, match="slow"):
        expand_grid(SMA, parse_grid(["slow=2.5"]))  # not an int
    with pytest.raises(EmptySweepError, match="fast < slow") as err:
        expand_grid(SMA, parse_grid(["fast=50:60", "slow=20:40"]))
    assert isinstance(err.value, InputError)


def test_random_sample_is_seeded_distinct_and_inside_the_space() -> None:
    axes = parse_grid(["fast=5:200:5", "slow=5:200:5"])
    _, full = expand_grid(SMA, axes)
    _, a = sample_configs(SMA, axes, 50, seed=3)
    _, b = sample_configs(SMA, axes, 50, seed=3)
    _, c = sample_configs(SMA, axes, 50, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    rows = {tuple(r) for r in full.tolist()}
    assert len({tuple(r) for r in a.tolist()}) == 50 and {tuple(r) for r in a.tolist()} <= rows
    assert np.array_equal(sample_configs(SMA, axes, 10_000)[1], full)  # asks for more than exist: all of them
    with pytest.raises(GridSpecError, match="samples"):
        sample_configs(SMA, axes, 0)


# ------------------------------------------------------------------------------------ exactness

def _one_by_one(bars, params, fees_bps, fill):
    """The reference, spelled out: strategy function + engine + metrics, per configuration."""
    rows = []
    for fast, slow in params.tolist():
        res = run_backtest(bars, sma_cross(bars, fast=fast, slow=slow), fees_bps=fees_bps, fill=fill, cash=10_000.0)
        rows.append(summary(res, bars.timeframe_ms))
    return rows


@pytest.mark.parametrize("sample, fill, fees", [("eth", "open", 10.0), ("eth", "close", 0.0), ("alt", "open", 25.0)])
def test_kernel_equals_engine_config_by_config_bit_for_bit(sample: str, fill: str, fees: float,
                                                           request: pytest.FixtureRequest) -> None:
    bars = request.getfixturevalue(sample)
    _, params = expand_grid(SMA, parse_grid(["fast=5:200:15", "slow=5:200:15"]))  # 91 configs, windows 5..200
    got = evaluate_configs(bars, SMA, ("fast", "slow"), params, timeframe_ms=bars.timeframe_ms, fees_bps=fees,
                           fill=fill)
    want = _one_by_one(bars, params, fees, fill)
    assert len(got) == len(want) == 91
    for m in METRICS:
        expected = np.asarray([w[m] for w in want])
        assert np.array_equal(getattr(got, m), expected), m  # identical, not merely close
    assert got.n_trades.max() > 50 and np.ptp(got.total_return) > 0.1  # the grid really varies


def test_the_780_grid_equals_the_reference_path(eth) -> None:
    names, params = expand_grid(SMA, parse_grid(["fast=5:200:5", "slow=5:200:5"]))
    got = evaluate_configs(eth, SMA, names, params, timeframe_ms=eth.timeframe_ms, fees_bps=10.0)
    want = reference_evaluate(eth, SMA, names, params, timeframe_ms=eth.timeframe_ms, fees_bps=10.0)
    for m in METRICS:
        assert np.array_equal(getattr(got, m), getattr(want, m)), m
    best = got.best("sharpe")
    assert got.sharpe[best] == got.sharpe.max() and got.row(best)["fast"] < got.row(best)["slow"]


def test_numpy_pairwise_summation_is_reproduced_exactly() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 127, 128, 129, 1000, 8192, 8193, 100_003, 525_600):
        a = rng.standard_normal(n) * 1e-3 + 1e-6
        assert np_sum(a) == np.sum(a), n


def test_a_flat_grid_and_a_short_series() -> None:
    flat = bars_from_close(np.full(40, 2.0))
    res = sweep_crossover(SMA, flat, np.array([2, 3]), np.array([5, 10]), timeframe_ms=300_000, fees_bps=10)
    assert res.total_return.tolist() == [0.0, 0.0] and res.n_trades.tolist() == [0, 0]
    assert res.sharpe.tolist() == [0.0, 0.0] and res.max_drawdown.tolist() == [0.0, 0.0]
    with pytest.raises(InsufficientDataError, match="slow=40"):
        evaluate_configs(flat, SMA, ("fast", "slow"), np.array([[2, 10], [2, 40]]), timeframe_ms=300_000)


def test_bad_kernel_inputs_are_named_errors(eth) -> None:
    with pytest.raises(ParamError, match="fast < slow"):
        sweep_crossover(SMA, eth, np.array([10]), np.array([10]), timeframe_ms=300_000)
    with pytest.raises(ParamError, match="slow"):
        sweep_crossover(SMA, eth, np.array([10]), np.array([2000]), timeframe_ms=300_000)
    with pytest.raises(GridSpecError):
        sweep_crossover(SMA, eth, np.array([10, 11]), np.array([20]), timeframe_ms=300_000)
    with pytest.raises(InputError, match="fees_bps"):
        sweep_crossover(SMA, eth, np.array([10]), np.array([20]), timeframe_ms=300_000, fees_bps=-1)
    with pytest.raises(InputError, match="fill"):
        sweep_crossover(SMA, eth, np.array([10]), np.array([20]), timeframe_ms=300_000, fill="vwap")
    with pytest.raises(UnknownStrategyError):
        get_strategy("no_such_strategy")


def test_results_concatenate_and_export_columns(eth) -> None:
    _, params = expand_grid(SMA, parse_grid(["fast=5,10", "slow=20,40"]))
    whole = evaluate_configs(eth, SMA, ("fast", "slow"), params, timeframe_ms=eth.timeframe_ms, fees_bps=10)
    parts = [evaluate_configs(eth, SMA, ("fast", "slow"), params[i:i + 1], timeframe_ms=eth.timeframe_ms, fees_bps=10)
             for i in range(len(params))]
    joined = SweepResult.concat(parts)
    for m in METRICS:
        assert np.array_equal(getattr(joined, m), getattr(whole, m))
    cols = whole.columns()
    assert list(cols) == ["fast", "slow", *METRICS, "ruined_at"] and cols["fast"].tolist() == [5, 5, 10, 10]
    assert cols["ruined_at"].tolist() == [-1, -1, -1, -1]  # long-only, fully funded: never ruined


def test_threads_do_not_change_a_single_number(eth) -> None:
    names, params = expand_grid(SMA, parse_grid(["fast=5:200:15", "slow=5:200:15"]))
    one = evaluate_configs(eth, SMA, names, params, timeframe_ms=eth.timeframe_ms, fees_bps=10.0)
    for fill in ("open", "close"):
        ref = one if fill == "open" else evaluate_configs(eth, SMA, names, params, timeframe_ms=eth.timeframe_ms,
                                                          fees_bps=10.0, fill=fill)
        two = evaluate_configs(eth, SMA, names, params, timeframe_ms=eth.timeframe_ms, fees_bps=10.0, fill=fill,
                               threads=2)
        for m in METRICS:
            assert np.array_equal(getattr(two, m), getattr(ref, m)), (fill, m)
    few = evaluate_configs(eth, SMA, names, params[:3], timeframe_ms=eth.timeframe_ms, fees_bps=10.0, threads=8)
    assert np.array_equal(few.sharpe, one.sharpe[:3])  # fewer configs than chunks, threads capped
    with pytest.raises(GridSpecError, match="threads"):
        evaluate_configs(eth, SMA, names, params[:1], timeframe_ms=eth.timeframe_ms, threads=0)
