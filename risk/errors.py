"""Named input errors of the ``risk`` package (all are :class:`raytrader.errors.InputError`)."""

from __future__ import annotations

from raytrader.errors import InputError

__all__ = ["RiskInputError"]


class RiskInputError(InputError):
    """A bad argument to a risk calculation; the message names the argument (and row) at fault."""
