"""Named input errors of the quantum package.

Each subclasses :class:`market.errors.InputError` (so the command line exits
2 with the message on one line) and carries ``field``: the option or input
at fault (``budget``, ``assets``, ``window``, ``covariance``...).
"""

from __future__ import annotations

from raytrader.errors import InputError

__all__ = [
    "PortfolioInputError", "BudgetError", "UnknownAssetError", "WindowError",
    "CovarianceError", "ProblemOptionError", "SolverOptionError",
]


class PortfolioInputError(InputError):
    """A portfolio-selection input is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")

    def __reduce__(self):
        return (type(self), (self.field, self.detail))


class BudgetError(PortfolioInputError):
    """The budget cannot be met (e.g. more assets asked for than offered)."""


class UnknownAssetError(PortfolioInputError):
    """An asset name is not a column of the price panel (or is repeated)."""


class WindowError(PortfolioInputError):
    """The estimation window is malformed or holds too few trading days."""


class CovarianceError(PortfolioInputError):
    """The sample covariance is not positive definite (collinear or constant series)."""


class ProblemOptionError(PortfolioInputError):
    """A problem option (risk aversion, lots, holdings, costs, sector caps) is invalid."""


class SolverOptionError(PortfolioInputError):
    """A solver option is invalid or the solver cannot handle this problem."""
