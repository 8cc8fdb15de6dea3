"""Named errors of the ``strategies`` package.

Every error a user can cause (a bad parameter, an unknown strategy name, too
few bars) derives from :class:`market.errors.InputError`, so the command line
prints it on one line and the HTTP layer maps it to a 4xx. Errors that only a
developer can cause (a malformed :class:`~strategies.params.ParamSpec`, a
duplicate registration) derive from plain :class:`ValueError`.
"""

from __future__ import annotations

from raytrader.errors import InputError

__all__ = [
    "ParamError",
    "UnknownStrategyError",
    "InsufficientDataError",
    "BarsFieldError",
    "AssetCountError",
    "MisalignedBarsError",
    "IndicatorError",
    "ParamSpecError",
    "DuplicateStrategyError",
]


class ParamError(InputError):
    """A strategy parameter is unknown, malformed, out of range or breaks a constraint.

    Attributes:
        param: the parameter at fault, or for a broken constraint its
            description (e.g. ``"fast < slow"``).
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class UnknownStrategyError(InputError):
    """No strategy is registered under the requested name; the message lists the known names."""

    def __init__(self, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.name = name
        self.known = tuple(known)
        shown = ", ".join(self.known) if self.known else "(none registered)"
        super().__init__(f"strategy: unknown strategy {name!r}; known strategies: {shown}")


class InsufficientDataError(InputError):
    """Fewer bars than a strategy needs.

    Attributes:
        needed: bars required for the given parameters.
        got: bars supplied.
    """

    def __init__(self, strategy: str, needed: int, got: int, why: str = "") -> None:
        self.strategy = strategy
        self.needed = int(needed)
        self.got = int(got)
        reason = f" ({why})" if why else ""
        super().__init__(f"bars: {strategy} needs at least {self.needed} bars{reason}; got {self.got}")


class BarsFieldError(InputError):
    """The bars object lacks a required array attribute, or it has the wrong shape."""


class AssetCountError(InputError):
    """A multi-asset strategy got too few or too many series (or not a sequence of bars)."""


class MisalignedBarsError(InputError):
    """Series given to a multi-asset strategy do not share their timestamps, or are not sorted.

    Use :func:`strategies.align.align_bars` to keep the common timestamps.
    """


class IndicatorError(InputError):
    """An indicator got a bad window length or a series it cannot use."""


class ParamSpecError(ValueError):
    """A parameter declaration is malformed (developer error, not user input)."""


class DuplicateStrategyError(ValueError):
    """A strategy name is registered twice (developer error, not user input)."""
