"""Contract checks run over every registered strategy (parametrised by name)."""

import numpy as np
import pytest

import strategies
from raytrader.errors import InputError
from strategies import get_strategy, list_strategies
from strategies.errors import InsufficientDataError, ParamError
from tests.strategies._data import alt_panel, eth_ltc, sample

#: one parameter set per strategy with constraints, breaking one of them
BROKEN = {
    "sma_cross": {"fast": 30, "slow": 10},
    "ema_cross": {"fast": 26, "slow": 26},
    "donchian_breakout": {"entry": 10, "exit": 15},
    "rsi_reversion": {"lower": 60.0},
    "macd_trend": {"fast": 30, "slow": 26},
    "mtf_trend": {"fast": 40, "slow": 26},
    "pairs_trading": {"entry_z": 1.0, "exit_z": 1.5},
}

NAMES = list_strategies()


def data_for(name: str):
    """Real bundled bars shaped for the strategy: one series, a pair, or the ten-asset panel."""
    record = get_strategy(name)
    if not record.multi_asset:
        return sample("ETH-BTC-5m")
    return eth_ltc() if record.max_assets == 2 else alt_panel()


def _take(data, stop):
    if isinstance(data, tuple):
        return tuple(b.take(slice(0, stop)) for b in data)
    return data.take(slice(0, stop))


def test_every_builtin_strategy_is_registered():
    assert set(NAMES) >= {"sma_cross", "ema_cross", "donchian_breakout", "rsi_reversion", "bollinger_reversion",
                          "macd_trend", "mtf_trend", "vw_momentum", "pairs_trading", "xs_momentum"}
    assert strategies.__all__ and "align_series" in strategies.__all__


@pytest.mark.parametrize("name", NAMES)
def test_defaults_on_real_data_give_bounded_targets(name):
    record = get_strategy(name)
    data = data_for(name)
    out = record.run(data)
    rows = len(data[0]) if record.multi_asset else len(data)
    assert out.dtype == np.float64 and out.shape[0] == rows
    assert out.ndim == (2 if record.multi_asset else 1)
    assert np.isfinite(out).all()
    gross = np.abs(out).reshape(rows, -1).sum(axis=1)
    assert gross.max() <= 1.0 + 1e-12
    changes = np.flatnonzero((np.diff(out, axis=0) != 0).reshape(rows - 1, -1).any(axis=1))
    assert changes.size >= 10, "defaults should trade on three weeks of 5m data"
    if any(p.name == "short" for p in record.params):
        assert (out < 0).any()
        assert (record.run(data, {"short": 0}) >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_declared_params_are_documented_and_each_one_is_range_checked(name):
    record = get_strategy(name)
    assert record.doc and record.fn.__doc__
    data = data_for(name)
    for spec in record.params:
        assert spec.doc
        above = spec.high + (spec.grid_step or 1)
        with pytest.raises(ParamError, match=rf"^{spec.name}=") as info:
            record.run(data, {spec.name: above})
        assert info.value.param == spec.name and isinstance(info.value, InputError)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_constraint_violations_name_the_constraint_and_values(name):
    record = get_strategy(name)
    constraint = record.constraints[0]
    with pytest.raises(ParamError) as info:
        record.run(data_for(name), BROKEN[name])
    assert info.value.param == constraint.description
    for param in constraint.names:
        assert f"{param}=" in str(info.value)
    with pytest.raises(ParamError):  # the function itself validates too
        record.fn(data_for(name), **{**record.defaults(), **BROKEN[name]})


def test_every_strategy_with_a_relation_between_params_declares_it():
    assert {n for n in NAMES if get_strategy(n).constraints} == set(BROKEN)


@pytest.mark.parametrize("name", NAMES)
def test_too_few_bars_is_a_named_error_and_min_bars_is_enough(name):
    record = get_strategy(name)
    data = data_for(name)
    need = record.min_bars(record.defaults())
    with pytest.raises(InsufficientDataError) as info:
        record.run(_take(data, need - 1))
    assert info.value.needed == need and info.value.got == need - 1
    with pytest.raises(InsufficientDataError):
        record.fn(_take(data, need - 1), **record.defaults())
    out = record.run(_take(data, need))
    assert out.shape[0] == need and np.isfinite(out).all()
