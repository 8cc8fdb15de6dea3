import pytest

from raytrader.errors import InputError
from strategies.errors import ParamError, ParamSpecError
from strategies.params import Constraint, ParamSpec, validate_params
from strategies.sma_cross import SMA_CROSS


def test_missing_params_take_defaults_in_declaration_order():
    assert validate_params(SMA_CROSS, {}) == {"fast": 10, "slow": 30}
    assert list(validate_params(SMA_CROSS, {"slow": 40})) == ["fast", "slow"]
    assert validate_params(SMA_CROSS, None) == {"fast": 10, "slow": 30}


def test_strings_and_integral_floats_are_coerced_to_int():
    got = validate_params(SMA_CROSS, {"fast": " 12 ", "slow": "40.0"})
    assert got == {"fast": 12, "slow": 40}
    assert type(got["fast"]) is int and type(got["slow"]) is int
    assert validate_params(SMA_CROSS, {"fast": 5.0})["fast"] == 5


def test_unknown_param_is_named_and_known_ones_listed():
    with pytest.raises(ParamError) as info:
        validate_params(SMA_CROSS, {"fsat": 5})
    assert isinstance(info.value, InputError)
    assert info.value.param == "fsat"
    assert "fsat" in str(info.value) and "fast, slow" in str(info.value)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"fast": 1}, "fast"), ({"fast": 501, "slow": 900}, "fast"), ({"slow": 1001}, "slow"), ({"slow": "0"}, "slow")],
)
def test_out_of_range_names_the_parameter(params, name):
    with pytest.raises(ParamError, match=rf"^{name}=.* out of range") as info:
        validate_params(SMA_CROSS, params)
    assert info.value.param == name


@pytest.mark.parametrize("raw", ["1.5", 7.25, "ten", True, None, [3]])
def test_malformed_int_values_are_rejected(raw):
    with pytest.raises(ParamError, match=r"^fast") as info:
        validate_params(SMA_CROSS, {"fast": raw})
    assert info.value.param == "fast"


@pytest.mark.parametrize(("fast", "slow"), [(30, 30), (50, 20)])
def test_fast_not_below_slow_breaks_the_constraint(fast, slow):
    with pytest.raises(ParamError) as info:
        validate_params(SMA_CROSS, {"fast": fast, "slow": slow})
    message = str(info.value)
    assert "fast < slow" in message and f"fast={fast}" in message and f"slow={slow}" in message
    assert info.value.param == "fast < slow"


class _FloatSpace:
    name = "float_space"
    params = (ParamSpec(name="k", kind="float", low=0.5, high=3.0, step=0.25, default=2.0, doc="width, sigmas"),)
    constraints: tuple[Constraint, ...] = ()


def test_float_params_parse_and_respect_the_grid():
    assert validate_params(_FloatSpace, {"k": "1.75"}) == {"k": 1.75}
    assert type(validate_params(_FloatSpace, {"k": 3})["k"]) is float
    with pytest.raises(ParamError, match=r"k=1\.3 is not on the grid"):
        validate_params(_FloatSpace, {"k": 1.3})
    with pytest.raises(ParamError, match=r"^k: must be finite"):
        validate_params(_FloatSpace, {"k": "nan"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "x", "kind": "int", "low": 5, "high": 1, "default": 3},
        {"name": "x", "kind": "int", "low": 1, "high": 5, "default": 9},
        {"name": "x", "kind": "int", "low": 1, "high": 5, "default": 2.5},
        {"name": "x", "kind": "decimal", "low": 1, "high": 5, "default": 2},
        {"name": "x", "kind": "int", "low": 1, "high": 9, "step": 2, "default": 4},
        {"name": "not valid", "kind": "int", "low": 1, "high": 5, "default": 2},
    ],
)
def test_malformed_specs_are_developer_errors(kwargs):
    with pytest.raises(ParamSpecError):
        ParamSpec(**kwargs)
