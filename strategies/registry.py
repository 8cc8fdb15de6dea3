"""The strategy registry: one :class:`Strategy` record per named strategy.

A single-asset strategy is a pure function ``fn(bars, **params) -> np.ndarray``
returning the target position per bar as a fraction of equity (1.0 all-in
long, 0.0 flat, -1.0 all-equity short where a strategy supports it). A
multi-asset strategy (``max_assets != 1``) takes a sequence of bar series on
identical timestamps (see :func:`strategies.align.align_bars`) and returns a
``(bars, assets)`` array of fractions of equity whose absolute values sum to
at most 1 per row. The value at bar ``t`` may use only data up to and
including bar ``t``'s close. Its record
declares the parameter space, the constraints and how many bars it needs, so
that the CLI, Tune, the live runner and Serve all validate the same way.

Built-in strategies register themselves when ``strategies`` is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from strategies._bars import bar_field
from strategies.align import check_aligned
from strategies.errors import (
    DuplicateStrategyError,
    InsufficientDataError,
    ParamError,
    ParamSpecError,
    UnknownStrategyError,
)
from strategies.params import Constraint, ParamSpec, ParamValue, validate_params

__all__ = ["Strategy", "register", "get_strategy", "list_strategies", "UnknownStrategyError"]


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """A named strategy and its declared parameter space.

    Attributes:
        name: registry key, e.g. ``"sma_cross"``.
        doc: one-paragraph description for listings.
        fn: ``fn(bars, **params) -> np.ndarray`` of float64 target positions
            (fractions of equity), one per bar.
        params: declared parameters, in the order they are shown.
        constraints: relations every valid combination satisfies.
        min_bars: ``min_bars(params) -> int``, the fewest bars ``fn`` accepts
            for a validated parameter dict.
        min_assets, max_assets: how many series ``fn`` takes. ``(1, 1)``
            (the default) means a single-asset strategy called with one bars
            object; anything else means a multi-asset one called with a
            sequence of bars (``max_assets=None``: no upper bound).
    """

    name: str
    doc: str
    fn: Callable[..., np.ndarray]
    params: tuple[ParamSpec, ...]
    constraints: tuple[Constraint, ...] = ()
    min_bars: Callable[[Mapping[str, ParamValue]], int]
    min_assets: int = 1
    max_assets: int | None = 1

    def __post_init__(self) -> None:
        if self.min_assets < 1 or (self.max_assets is not None and self.max_assets < self.min_assets):
            raise ParamSpecError(f"strategy {self.name!r}: bad asset range {self.min_assets}..{self.max_assets}")
        names = [spec.name for spec in self.params]
        if len(set(names)) != len(names):
            raise ParamSpecError(f"strategy {self.name!r}: duplicate parameter names in {names}")
        for constraint in self.constraints:
            unknown = [n for n in constraint.names if n not in names]
            if unknown:
                raise ParamSpecError(f"strategy {self.name!r}: constraint {constraint.description!r} names unknown {unknown}")
        try:
            validate_params(self, {})
        except ParamError as exc:
            raise ParamSpecError(f"strategy {self.name!r}: the defaults are not valid: {exc}") from None

    def defaults(self) -> dict[str, ParamValue]:
        """Every parameter at its default."""
        return {spec.name: spec.default for spec in self.params}

    @property
    def multi_asset(self) -> bool:
        """True when ``fn`` takes a sequence of bars and returns ``(bars, assets)`` targets."""
        return not (self.min_assets == 1 and self.max_assets == 1)

    def run(self, bars: object, params: Mapping[str, object] | None = None) -> np.ndarray:
        """Validate ``params`` (missing ones take defaults), check the bars, call ``fn``.

        ``bars`` is one bars object, or for a multi-asset strategy a sequence
        of them on identical timestamps.

        Raises:
            ParamError: see :func:`strategies.params.validate_params`.
            InsufficientDataError: fewer bars than ``min_bars(params)``.
            AssetCountError, MisalignedBarsError: (multi-asset) wrong number
                of series, or series not aligned.
        """
        values = validate_params(self, params)
        needed = int(self.min_bars(values))
        if self.multi_asset:
            got = check_aligned(bars, self.min_assets, self.max_assets)
        else:
            got = bar_field(bars, "close").shape[0]
        if got < needed:
            raise InsufficientDataError(self.name, needed, got)
        return self.fn(bars, **values)


_REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` under its name and return it (so a module can keep the record).

    Raises:
        DuplicateStrategyError: another strategy already holds the name.
    """
    existing = _REGISTRY.get(strategy.name)
    if existing is not None and existing is not strategy:
        raise DuplicateStrategyError(f"strategy {strategy.name!r} is already registered")
    _REGISTRY[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``.

    Raises:
        UnknownStrategyError: no such name; the message lists the known ones.
    """
    strategy = _REGISTRY.get(name) if isinstance(name, str) else None
    if strategy is None:
        raise UnknownStrategyError(str(name), list_strategies())
    return strategy


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)
