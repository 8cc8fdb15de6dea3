import numpy as np
import pytest

import strategies
from raytrader.errors import InputError
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
    before = list_strategies()
    toy = register(_toy())
    assert get_strategy("toy") is toy
    assert list_strategies() == sorted([*before, "toy"])
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


def test_multi_asset_records_check_the_series_before_calling():
    from strategies.errors import AssetCountError, MisalignedBarsError

    pairs = get_strategy("pairs_trading")
    assert pairs.multi_asset and not SMA_CROSS.multi_asset
    bars = bars_from_close(np.linspace(1.0, 2.0, 600))
    with pytest.raises(AssetCountError, match="sequence"):
        pairs.run(bars)
    with pytest.raises(AssetCountError, match="exactly 2 series, got 1"):
        pairs.run([bars])
    with pytest.raises(MisalignedBarsError, match=r"bars\[1\]"):
        pairs.run([bars, bars.take(slice(1, None))])
    with pytest.raises(InsufficientDataError) as info:
        pairs.run([bars, bars], {"window": 601})
    assert info.value.needed == 601 and info.value.got == 600
    assert pairs.run([bars, bars], {"window": 600}).shape == (600, 2)


def test_asset_range_must_make_sense():
    with pytest.raises(ParamSpecError, match="asset range"):
        Strategy(name="bad", doc="", fn=_always_flat, params=(), min_bars=lambda p: 1, min_assets=3, max_assets=2)
