"""A strategy's parameter space: declarations, constraints and validation.

A :class:`ParamSpec` declares one parameter (its kind, closed range
``[low, high]``, grid step, default and meaning); a :class:`Constraint`
relates several (``fast < slow``). :func:`validate_params` turns user input
(strings from a command line or a query string, numbers from JSON or a Tune
trial) into a complete, typed parameter dict or raises :class:`ParamError`
naming the parameter at fault. The same declarations are meant to drive Tune
search spaces later, so they hold data only (no Tune import).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from strategies.errors import ParamError, ParamSpecError

__all__ = ["ParamSpec", "Constraint", "ParamValue", "validate_params", "ParamError"]

#: a validated parameter value
ParamValue = int | float

#: relative tolerance for "on the grid" checks of float parameters
_GRID_RTOL = 1e-9


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One tunable parameter.

    Attributes:
        name: identifier used as the keyword argument of the strategy function.
        kind: ``"int"`` or ``"float"``; validated values have that Python type.
        low, high: closed range, ``low <= high``.
        step: grid spacing; a valid value is ``low + k * step`` for an integer
            ``k >= 0``. ``None`` means 1 for ints and "no grid" for floats.
        default: used when the parameter is not given; inside the range and
            on the grid.
        doc: meaning and unit (e.g. "fast SMA window, bars").
    """

    name: str
    kind: Literal["int", "float"]
    low: int | float
    high: int | float
    step: int | float | None = None
    default: int | float
    doc: str = ""

    def __post_init__(self) -> None:
        where = f"ParamSpec {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ParamSpecError(f"{where}: name must be a Python identifier")
        if self.kind not in ("int", "float"):
            raise ParamSpecError(f"{where}: kind must be 'int' or 'float', got {self.kind!r}")
        fields = {"low": self.low, "high": self.high, "default": self.default}
        if self.step is not None:
            fields["step"] = self.step
        for field, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ParamSpecError(f"{where}: {field} must be a finite number, got {value!r}")
            if self.kind == "int" and not isinstance(value, numbers.Integral):
                raise ParamSpecError(f"{where}: {field} must be an int for kind 'int', got {value!r}")
        if self.step is not None and self.step <= 0:
            raise ParamSpecError(f"{where}: step must be > 0, got {self.step!r}")
        if not self.low <= self.high:
            raise ParamSpecError(f"{where}: low {self.low} > high {self.high}")
        if not self.low <= self.default <= self.high or not self.on_grid(self.default):
            raise ParamSpecError(f"{where}: default {self.default} is not a valid value")

    @property
    def grid_step(self) -> int | float | None:
        """The effective grid step: ``step``, or 1 for ints without one, or None."""
        if self.step is not None:
            return self.step
        return 1 if self.kind == "int" else None

    def on_grid(self, value: int | float) -> bool:
        """True when ``value`` is ``low + k * step`` for an integer ``k`` (always, without a grid)."""
        step = self.grid_step
        if step is None:
            return True
        if self.kind == "int":
            return (int(value) - int(self.low)) % int(step) == 0
        k = (value - self.low) / step
        return abs(k - round(k)) <= _GRID_RTOL * max(1.0, abs(k))

    def coerce(self, raw: object) -> ParamValue:
        """Convert one raw value (str, int, float, numpy scalar) and check range and grid.

        Raises:
            ParamError: naming this parameter, for a malformed, non-finite,
                out-of-range or off-grid value.
        """
        value = _coerce_kind(self.name, self.kind, raw)
        if not self.low <= value <= self.high:
            raise ParamError(self.name, f"{self.name}={_show(value)} is out of range [{self.low}, {self.high}]")
        if not self.on_grid(value):
            raise ParamError(
                self.name, f"{self.name}={value} is not on the grid {self.low} + k * {self.grid_step}"
            )
        return value


@dataclass(frozen=True, kw_only=True)
class Constraint:
    """A relation between parameters that every valid combination satisfies.

    Attributes:
        description: human form, shown in errors, e.g. ``"fast < slow"``.
        predicate: takes the complete validated parameter dict, returns True
            when the combination is allowed. Module-level functions pickle
            by reference (Ray); prefer them to lambdas.
        names: the parameters involved, shown with their values in errors.
            Empty means "show all".
    """

    description: str
    predicate: Callable[[Mapping[str, ParamValue]], bool]
    names: tuple[str, ...] = ()

    def check(self, values: Mapping[str, ParamValue]) -> None:
        """Raise :class:`ParamError` when ``values`` breaks this constraint."""
        if self.predicate(values):
            return
        shown_names = self.names or tuple(values)
        shown = ", ".join(f"{k}={values[k]}" for k in shown_names if k in values)
        raise ParamError(self.description, f"constraint '{self.description}' violated: {shown}")


class _HasParamSpace(Protocol):
    """What :func:`validate_params` reads from a strategy."""

    name: str
    params: tuple[ParamSpec, ...]
    constraints: tuple[Constraint, ...]


def validate_params(strategy: _HasParamSpace, params: Mapping[str, object] | None) -> dict[str, ParamValue]:
    """Return the complete, typed parameter dict for ``strategy``.

    ``params`` maps names to raw values (strings are parsed: ``"10"`` for an
    int, ``"0.5"`` for a float). Missing parameters take their defaults.
    The result holds every declared parameter, in declaration order, as
    Python ``int`` or ``float``.

    Raises:
        ParamError: an unknown name (the message lists the known ones), a
            malformed or out-of-range value (the message names the
            parameter), or a violated constraint (the message gives its
            description and the values involved).
    """
    given = {} if params is None else params
    if not isinstance(given, Mapping):
        raise ParamError("params", f"params: expected a mapping of name to value, got {type(given).__name__}")
    specs = {spec.name: spec for spec in strategy.params}
    for name in given:
        if name not in specs:
            known = ", ".join(specs) or "(none)"
            raise ParamError(str(name), f"{name}: unknown parameter for strategy {strategy.name!r}; known: {known}")
    values: dict[str, ParamValue] = {}
    for name, spec in specs.items():
        values[name] = spec.coerce(given[name]) if name in given else spec.default
    for constraint in strategy.constraints:
        constraint.check(values)
    return values


def _coerce_kind(name: str, kind: str, raw: object) -> ParamValue:
    """Parse ``raw`` as ``kind``; integral floats ("10.0", 10.0) are accepted as ints."""
    if isinstance(raw, bool):
        raise ParamError(name, f"{name}: expected {'an integer' if kind == 'int' else 'a number'}, got a boolean")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            number: numbers.Real = int(text) if kind == "int" and _looks_int(text) else float(text)
        except ValueError:
            raise ParamError(name, f"{name}: cannot parse {_show(raw)!r} as "
                                   f"{'an integer' if kind == 'int' else 'a number'}") from None
    elif isinstance(raw, numbers.Real):
        number = raw
    else:
        raise ParamError(name, f"{name}: expected a number or a string, got {type(raw).__name__}")
    if isinstance(number, numbers.Integral):
        return int(number) if kind == "int" else float(number)
    as_float = float(number)
    if not math.isfinite(as_float):
        raise ParamError(name, f"{name}: must be finite, got {raw!r}")
    if kind == "float":
        return as_float
    if not as_float.is_integer():
        raise ParamError(name, f"{name}: expected an integer, got {raw!r}")
    return int(as_float)


def _show(value: object) -> object:
    """``value`` as an error message shows it: a huge number in ``%g`` form, a long string cut short."""
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:40]}... ({len(value)} characters)"
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and abs(value) >= 1e15:
        return f"{float(value):.6g}"
    return value


def _looks_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isdigit()
