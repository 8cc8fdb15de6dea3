"""The project's base error for bad input.

Every error a user can cause (a bad file, a bad flag, a bad config value)
derives from :class:`InputError`. The command line prints its message on one
line and exits with status 2; the HTTP layer maps it to a 4xx. Anything else
that escapes is a bug and keeps its traceback.

This module sits in the bottom package (``raytrader``) so that every layer can
raise it without importing upward.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input from a user: the message names the field or row at fault."""
