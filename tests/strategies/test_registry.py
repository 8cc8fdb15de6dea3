import numpy as np
import pytest

import strategies
from market.errors import InputError
from strategies import registry
from strategies.errors import DuplicateStrategyError, InsufficientDataError, ParamError, ParamSpecError
from strategies.params import Constraint, ParamSpec
from strategies.registry import Strategy, get_strategy, list_strategies, register
from strategies.sma_cross import SMA_CROSS, sma_cross
from tests._bars import bars_from_close


def _always_flat(bars, window):
    return np.zeros(len(bars.close))


def _toy(name="toy", default=3, constraints=()):
    return Strategy(
        name=name,
        doc="flat forever",
        fn=_always_flat,
        params=(ParamSpec(name="window", kind="int", low=1, high=10, default=default),),
        constraints=constraints,
        min_bars=lambda p: p["window"],
    )


def test_builtin_sma_cross_is_registered_on_package_import():
    assert strategies.get_strategy("sma_cross") is SMA_CROSS
    assert "sma_cross" in list_strategies()
    assert SMA_CROSS.fn is sma_cross
    assert SMA_CROSS.min_bars({"fast": 5, "slow": 20}) == 21


def test_unknown_strategy_lists_the_known_names():
    with pytest.raises(registry.UnknownStrategyError) as info:
        get_strategy("sma_crossover")
    assert isinstance(info.value, InputError)
    assert "'sma_crossover'" in str(info.value) and "sma_cross" in str(info.value)
    assert "sma_cross" in info.value.known


def test_register_adds_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    toy = register(_toy())
    assert get_strategy("toy") is toy
    assert list_strategies() == sorted(["sma_cross", "toy"])
    assert register(toy) is toy  # re-registering the same record is harmless
    with pytest.raises(DuplicateStrategyError, match="toy"):
        register(_toy())


def test_defaults_must_satisfy_constraints():
    never = Constraint(description="window > 5", predicate=lambda p: p["window"] > 5, names=("window",))
    with pytest.raises(ParamSpecError, match="defaults"):
        _toy(constraints=(never,))


def test_run_validates_params_and_bar_count():
    bars = bars_from_close(np.linspace(1.0, 2.0, 40))
    out = SMA_CROSS.run(bars, {"fast": "3", "slow": "8"})
    np.testing.assert_array_equal(out, sma_cross(bars, 3, 8))
    with pytest.raises(ParamError, match="fast < slow"):
        SMA_CROSS.run(bars, {"fast": 8, "slow": 3})
    assert SMA_CROSS.run(bars).shape == (40,)  # defaults need slow + 1 = 31 bars
    with pytest.raises(InsufficientDataError) as info:
        SMA_CROSS.run(bars, {"slow": 40})
    assert info.value.needed == 41 and info.value.got == 40
