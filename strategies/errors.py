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
    "UserStrategyError",
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

    Use :func:`strategies.align.align_series` to keep the common timestamps.
    """


class IndicatorError(InputError):
    """An indicator got a bad window length or a series it cannot use."""


class UserStrategyError(InputError):
    """A user strategy file cannot be loaded: a syntax error, an exception while it runs, a name that
    clashes with a built-in or another file's strategy, a bad declaration, or no strategy registered.

    Attributes:
        path: the file at fault.
        line: the line at fault (1-based; 0 when no line applies, e.g. a bad file name).
        reason: why, in one line.
    """

    def __init__(self, path: object, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = int(line)
        self.reason = reason
        where = f"{self.path}:{self.line}" if self.line else self.path
        super().__init__(f"strategy file {where}: {reason}")


class ParamSpecError(ValueError):
    """A parameter declaration is malformed (developer error, not user input)."""


class DuplicateStrategyError(ValueError):
    """A strategy name is registered twice (developer error, not user input)."""
