"""The strategy registry: one :class:`Strategy` record per named strategy.

A single-asset strategy is a pure function ``fn(bars, **params) -> np.ndarray``
returning the target position per bar as a fraction of equity (1.0 all-in
long, 0.0 flat, -1.0 all-equity short where a strategy supports it). A
multi-asset strategy (``max_assets != 1``) takes a sequence of bar series on
identical timestamps (see :func:`strategies.align.align_series`) and returns a
``(bars, assets)`` array of fractions of equity whose absolute values sum to
at most 1 per row. The value at bar ``t`` may use only data up to and
including bar ``t``'s close. Its record
declares the parameter space, the constraints and how many bars it needs, so
that the CLI, Tune, the live runner and Serve all validate the same way.

Built-in strategies register themselves when ``strategies`` is imported.
The user's own strategies (files in the ``[strategies] path`` folder, see
:mod:`strategies.user`) register the same way when their file is loaded:
:func:`get_strategy` loads them on the first name it does not know, and
:func:`list_strategies` before listing, so every caller (backtest, sweep,
walk-forward, Monte Carlo, Serve, Ray workers, the live runner) sees them
without importing the loader itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from strategies.bar_field import bar_field
from strategies.align import check_aligned
from strategies.capabilities import MovingAverageCross
from strategies.errors import (
    DuplicateStrategyError,
    InsufficientDataError,
    ParamError,
    ParamSpecError,
    UnknownStrategyError,
)
from strategies.params import Constraint, ParamSpec, ParamValue, validate_params

__all__ = ["Strategy", "register", "get_strategy", "list_strategies", "UnknownStrategyError", "BUILT_IN"]

#: :attr:`Strategy.origin` of the strategies that ship with raytrader
BUILT_IN = "built-in"
#: the package user strategy files are imported under (``raytrader_user_strategies.<file stem>``)
USER_PACKAGE = "raytrader_user_strategies"


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
        origin: where it was defined: :data:`BUILT_IN`, or ``"FILE:LINE"`` of
            the ``register`` call for a user strategy (set by :func:`register`
            while :mod:`strategies.user` loads the file).
        batched: a capability (:mod:`strategies.capabilities`) that lets a
            sweep evaluate many configurations in one batched kernel with the
            same numbers; ``None`` (the default): one backtest per configuration.
    """

    name: str
    doc: str
    fn: Callable[..., np.ndarray]
    params: tuple[ParamSpec, ...]
    constraints: tuple[Constraint, ...] = ()
    min_bars: Callable[[Mapping[str, ParamValue]], int]
    min_assets: int = 1
    max_assets: int | None = 1
    origin: str = BUILT_IN
    batched: MovingAverageCross | None = None

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
        if self.batched is not None:
            unknown = [n for n in (self.batched.fast, self.batched.slow) if n not in names]
            if unknown or self.multi_asset:
                raise ParamSpecError(f"strategy {self.name!r}: batched capability {type(self.batched).__name__} needs a "
                                     f"single-asset strategy declaring {self.batched.fast!r} and {self.batched.slow!r}")
        try:
            validate_params(self, {})
        except ParamError as exc:
            raise ParamSpecError(f"strategy {self.name!r}: the defaults are not valid: {exc}") from None

    def defaults(self) -> dict[str, ParamValue]:
        """Every parameter at its default."""
        return {spec.name: spec.default for spec in self.params}

    @property
    def builtin(self) -> bool:
        """True for the strategies that ship with raytrader, False for a user's own."""
        return self.origin == BUILT_IN

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
#: the user file being loaded by :mod:`strategies.user` (None: a built-in module is registering)
_DEFINING: Path | None = None


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` under its name and return the registered record (so a module can keep it).

    While :mod:`strategies.user` loads a file, the record is returned with
    ``origin = "FILE:LINE"`` of this call.

    Raises:
        DuplicateStrategyError: another strategy already holds the name (the
            message says where that one comes from).
    """
    defining = _defining_file(strategy)
    if defining is not None and strategy.origin == BUILT_IN:
        strategy = replace(strategy, origin=f"{defining}:{_caller_line(defining)}")
    existing = _REGISTRY.get(strategy.name)
    if existing is not None and existing is not strategy:
        where = "a built-in strategy" if existing.builtin else f"defined at {existing.origin}"
        raise DuplicateStrategyError(f"strategy {strategy.name!r} is already registered ({where})")
    _REGISTRY[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; an unknown name first loads the user's strategy files.

    Raises:
        UnknownStrategyError: no such name; the message lists the known ones.
        UserStrategyError: a user strategy file is broken (file and line named).
    """
    strategy = _REGISTRY.get(name) if isinstance(name, str) else None
    if strategy is None:
        _load_user_strategies()
        strategy = _REGISTRY.get(name) if isinstance(name, str) else None
    if strategy is None:
        raise UnknownStrategyError(str(name), sorted(_REGISTRY))
    return strategy


def list_strategies() -> list[str]:
    """Registered strategy names (built-in and the user's own), sorted.

    Raises:
        UserStrategyError: a user strategy file is broken (file and line named).
    """
    _load_user_strategies()
    return sorted(_REGISTRY)


def _load_user_strategies() -> None:
    from strategies.user import load_user_strategies  # noqa: PLC0415 - strategies.user imports this module

    load_user_strategies()


@contextmanager
def _defining_from(path: Path) -> Iterator[None]:
    """While loading the user file ``path``: records registered get ``origin = "path:line"``."""
    global _DEFINING
    previous, _DEFINING = _DEFINING, path
    try:
        yield
    finally:
        _DEFINING = previous


def _forget(names: set[str]) -> None:
    """Drop ``names`` (what a user file registered before it failed to load)."""
    for name in names:
        _REGISTRY.pop(name, None)


def _registered() -> dict[str, Strategy]:
    """The registry as it is, without loading user files."""
    return dict(_REGISTRY)


def _defining_file(strategy: Strategy) -> Path | None:
    """The user file registering ``strategy``: the one being loaded, or the user module of its ``fn``.

    The second case is a user module imported by name rather than by the
    loader (a Ray worker unpickling a user function by reference).
    """
    if _DEFINING is not None:
        return _DEFINING
    module = sys.modules.get(getattr(strategy.fn, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    if module is not None and module.__name__.startswith(USER_PACKAGE + ".") and file:
        return Path(file)
    return None


def _caller_line(path: Path) -> int:
    """Line of the innermost frame running ``path`` (the ``register`` call in a user file), 0 if none."""
    frame = sys._getframe(1)
    target = str(path)
    while frame is not None:
        if frame.f_code.co_filename == target:
            return frame.f_lineno
        frame = frame.f_back
    return 0
