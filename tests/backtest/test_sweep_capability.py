"""The batched kernel is chosen by the strategy record's capability, never by the strategy's name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import strategies  # noqa: F401  (registers the built-in strategies)
from backtest.errors import GridSpecError
from backtest.grid import expand_grid, parse_grid
from backtest.sweep import METRICS, evaluate_configs
from market.samples import load_sample
from strategies.capabilities import MovingAverageCross
from strategies.errors import ParamSpecError
from strategies.indicators import sma
from strategies.registry import get_strategy

SMA = get_strategy("sma_cross")


@pytest.fixture(scope="module")
def eth():
    return load_sample("ETH-BTC-5m").take(slice(0, 2000))


def test_the_record_carries_the_capability() -> None:
    assert SMA.batched == MovingAverageCross(average=sma, fast="fast", slow="slow")
    assert get_strategy("ema_cross").batched is None  # a regime with shorts: not this state machine


def test_the_capability_not_the_name_picks_the_kernel(eth) -> None:
    names, params = expand_grid(SMA, parse_grid(["fast=5:25:5", "slow=30:90:20"]))
    renamed = replace(SMA, name="my_cross")  # another name, the same capability: the kernel
    plain = replace(SMA, batched=None)  # the same name, no capability: one backtest per configuration
    kernel = evaluate_configs(eth, renamed, names, params, timeframe_ms=eth.timeframe_ms, fees_bps=10.0)
    reference = evaluate_configs(eth, plain, names, params, timeframe_ms=eth.timeframe_ms, fees_bps=10.0)
    assert kernel.strategy == "my_cross" and reference.strategy == "sma_cross"
    for m in METRICS:
        assert np.array_equal(getattr(kernel, m), getattr(reference, m)), m
    # only the kernel has numba threads to refuse; the reference path never reads ``threads``
    with pytest.raises(GridSpecError, match="threads"):
        evaluate_configs(eth, renamed, names, params[:1], timeframe_ms=eth.timeframe_ms, threads=0)
    assert len(evaluate_configs(eth, plain, names, params[:1], timeframe_ms=eth.timeframe_ms, threads=0)) == 1


def test_a_capability_must_name_declared_parameters() -> None:
    with pytest.raises(ParamSpecError, match="batched"):
        replace(SMA, name="broken_cross", batched=MovingAverageCross(average=sma, fast="short", slow="slow"))
