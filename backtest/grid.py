"""The sweep grid mini-language and the parameter space it spans.

:func:`parse_grid` reads ``name=start:stop:step`` (stop inclusive),
``name=v1,v2,...`` or ``name=value``; :func:`expand_grid` takes the
Cartesian product, fills undeclared parameters with defaults and keeps only
the combinations the strategy's constraints allow (``fast=5:200:5`` with
``slow=5:200:5`` gives the 780 pairs with ``fast < slow``).
:func:`sample_configs` draws a seeded uniform random subset of that space;
:func:`grid_axes` gives the typed values per parameter (Optuna's search space).

``strategy`` is a :class:`strategies.registry.Strategy` record; values are
checked by its :class:`strategies.params.ParamSpec`. Pure: no ``import ray``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from backtest.errors import BacktestInputError, EmptySweepError, GridSpecError

__all__ = ["MAX_GRID_COMBINATIONS", "parse_grid", "grid_axes", "expand_grid", "sample_configs"]

#: the largest grid :func:`expand_grid` enumerates (a guard against typos like 1:1e9)
MAX_GRID_COMBINATIONS = 5_000_000


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """Parse ``-g`` texts into ``name -> raw values`` (strings; typed later by :func:`expand_grid`).

    Accepted forms: ``fast=5:200:5`` (start:stop:step, stop inclusive when on
    the grid), ``fast=5:200`` (step 1), ``fast=5,10,20``, ``fast=10``.

    Raises:
        GridSpecError: malformed text, a repeated name, a step <= 0, stop < start.
    """
    axes: dict[str, list[str]] = {}
    for text in specs:
        name, sep, body = str(text).partition("=")
        name, body = name.strip(), body.strip()
        if not sep or not name or not body:
            raise GridSpecError(str(text), f"grid {text!r}: expected name=start:stop:step, name=v1,v2,... or name=value")
        if name in axes:
            raise GridSpecError(name, f"grid {name}: given twice")
        if ":" in body:
            axes[name] = _range_values(name, body)
        else:
            values = [v.strip() for v in body.split(",")]
            if any(not v for v in values):
                raise GridSpecError(name, f"grid {name}={body}: empty value in the list")
            axes[name] = values
    return axes


def _range_values(name: str, body: str) -> list[str]:
    parts = [p.strip() for p in body.split(":")]
    if len(parts) not in (2, 3) or any(not p for p in parts):
        raise GridSpecError(name, f"grid {name}={body}: expected start:stop or start:stop:step")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise GridSpecError(name, f"grid {name}={body}: start, stop and step must be numbers") from None
    start, stop = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1.0
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise GridSpecError(name, f"grid {name}={body}: values must be finite")
    if step <= 0:
        raise GridSpecError(name, f"grid {name}={body}: step must be > 0")
    if stop < start:
        raise GridSpecError(name, f"grid {name}={body}: stop {parts[1]} is below start {parts[0]}")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_GRID_COMBINATIONS:
        raise GridSpecError(name, f"grid {name}={body}: {count} values is more than {MAX_GRID_COMBINATIONS}")
    all_int = all(_is_int_text(p) for p in parts)
    if all_int:
        return [str(int(start) + k * int(step)) for k in range(count)]
    return [repr(start + k * step) for k in range(count)]


def _is_int_text(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isdigit()


def grid_axes(strategy: object, axes: Mapping[str, Sequence[object]]) -> tuple[tuple[str, ...], list[list[object]]]:
    """Typed values per declared parameter, in declaration order (``[default]`` for a parameter without an axis).

    Every value is coerced and checked by its :class:`strategies.params.ParamSpec`;
    repeated values are dropped (first kept). Constraints are not applied here
    (see :func:`expand_grid`).

    Raises:
        GridSpecError: an unknown parameter, a value out of range / off the grid, an empty axis.
    """
    specs = {spec.name: spec for spec in strategy.params}  # type: ignore[attr-defined]
    for name in axes:
        if name not in specs:
            known = ", ".join(specs) or "(none)"
            raise GridSpecError(name, f"grid {name}: unknown parameter for strategy "
                                      f"{strategy.name!r}; known: {known}")  # type: ignore[attr-defined]
    names = tuple(specs)
    values: list[list[object]] = []
    for name in names:
        if name not in axes:
            values.append([specs[name].default])
            continue
        typed = []
        for raw in axes[name]:
            try:
                typed.append(specs[name].coerce(raw))
            except BacktestInputError:
                raise
            except ValueError as exc:  # ParamError: out of range, off-grid, malformed
                raise GridSpecError(name, f"grid {name}: {exc}") from None
        if not typed:
            raise GridSpecError(name, f"grid {name}: no values")
        values.append(list(dict.fromkeys(typed)))  # de-duplicate, keep order
    return names, values


def _allowed(strategy: object, names: tuple[str, ...], combo: Sequence[object]) -> bool:
    values = dict(zip(names, combo))
    return all(c.predicate(values) for c in strategy.constraints)  # type: ignore[attr-defined]


def _as_params_array(strategy: object, names: tuple[str, ...], rows: list[tuple[object, ...]]) -> np.ndarray:
    kinds = [spec.kind for spec in strategy.params]  # type: ignore[attr-defined]
    dtype = np.int64 if all(k == "int" for k in kinds) else np.float64
    return np.asarray(rows, dtype=dtype).reshape(len(rows), len(names))


def expand_grid(strategy: object, axes: Mapping[str, Sequence[object]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Every combination of the grid that the strategy's constraints allow, in row-major order.

    ``strategy`` is a :class:`strategies.registry.Strategy`; ``axes`` maps
    parameter names to raw values (strings or numbers), e.g. from
    :func:`parse_grid`. Parameters without an axis take their default.

    Returns:
        ``(param_names, params)``, ``params`` of shape ``(n_configs, n_params)``
        (int64 when every parameter is an int).

    Raises:
        GridSpecError: unknown parameter, or a value out of range / off the grid.
        EmptySweepError: the constraints leave nothing.
    """
    names, values = grid_axes(strategy, axes)
    total = math.prod(len(v) for v in values)
    if total > MAX_GRID_COMBINATIONS:
        raise GridSpecError("grid", f"grid: {total} combinations is more than {MAX_GRID_COMBINATIONS}")
    rows = [combo for combo in itertools.product(*values) if _allowed(strategy, names, combo)]
    if not rows:
        shown = "; ".join(c.description for c in strategy.constraints)  # type: ignore[attr-defined]
        raise EmptySweepError(f"grid: the constraint(s) {shown or '(none)'} leave no configuration "
                              f"of the {total} in the grid")
    return names, _as_params_array(strategy, names, rows)


def sample_configs(strategy: object, axes: Mapping[str, Sequence[object]], n: int, *,
                   seed: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """``n`` distinct configurations drawn uniformly (seeded) from the constrained grid.

    When the grid allows ``n`` or fewer configurations, all of them are
    returned (in grid order). Sampled rows keep the grid's row-major order.

    Raises:
        GridSpecError: ``n`` < 1, or see :func:`expand_grid`.
        EmptySweepError: see :func:`expand_grid`.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GridSpecError("samples", f"samples: expected an integer >= 1, got {n!r}")
    names, params = expand_grid(strategy, axes)
    if params.shape[0] <= n:
        return names, params
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(params.shape[0], size=int(n), replace=False))
    return names, params[pick]
