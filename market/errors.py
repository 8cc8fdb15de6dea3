"""Market-data input errors (the base, :class:`InputError`, lives in ``raytrader.errors``)."""

from __future__ import annotations

from raytrader.errors import InputError

__all__ = ["InputError", "DataValidationError"]


class DataValidationError(InputError):
    """A market-data file broke a validation rule.

    Attributes:
        rule: short name of the broken rule, e.g. ``"high_ge_open_close"``.
        rows: zero-based row positions that break it (at most the first 20).
        source: where the data came from (a path or a description).
        detail: what is wrong, without the rule, rows and source.
    """

    def __init__(self, rule: str, rows: list[int] | tuple[int, ...], detail: str, source: str = "") -> None:
        self.rule = rule
        self.detail = detail
        self.rows = tuple(int(r) for r in rows[:20])
        self.n_rows = len(rows)
        self.source = source
        where = f"{source}: " if source else ""
        shown = ", ".join(str(r) for r in self.rows[:5])
        more = f" (+{self.n_rows - 5} more)" if self.n_rows > 5 else ""
        rows_txt = f" at row(s) {shown}{more}" if self.rows else ""
        super().__init__(f"{where}rule '{rule}' broken{rows_txt}: {detail}")
