"""The project's named input errors.

Every error a user can cause (a bad file, a bad flag, a bad config value)
derives from :class:`InputError`. The command line prints its message on one
line and exits with status 2; the HTTP layer maps it to a 4xx. Anything else
that escapes is a bug and keeps its traceback.

This module sits at the bottom layer (``market``) so that every package can
raise these without importing upward.
"""

from __future__ import annotations

__all__ = ["InputError", "DataValidationError"]


class InputError(ValueError):
    """Bad input from a user: the message names the field or row at fault."""


class DataValidationError(InputError):
    """A market-data file broke a validation rule.

    Attributes:
        rule: short name of the broken rule, e.g. ``"high_ge_open_close"``.
        rows: zero-based row positions that break it (at most the first 20).
        source: where the data came from (a path or a description).
    """

    def __init__(self, rule: str, rows: list[int] | tuple[int, ...], detail: str, source: str = "") -> None:
        self.rule = rule
        self.rows = tuple(int(r) for r in rows[:20])
        self.n_rows = len(rows)
        self.source = source
        where = f"{source}: " if source else ""
        shown = ", ".join(str(r) for r in self.rows[:5])
        more = f" (+{self.n_rows - 5} more)" if self.n_rows > 5 else ""
        rows_txt = f" at row(s) {shown}{more}" if self.rows else ""
        super().__init__(f"{where}rule '{rule}' broken{rows_txt}: {detail}")
