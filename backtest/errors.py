"""Named errors of the ``backtest`` package; all derive from :class:`market.errors.InputError`."""

from __future__ import annotations

from market.errors import InputError

__all__ = [
    "BacktestInputError",
    "BarsShapeError",
    "PriceError",
    "TargetLengthError",
    "TargetNaNError",
    "TargetValueError",
    "FeeError",
    "UnknownFillError",
    "CashError",
    "TradeFieldError",
    "EquityError",
    "TimeframeError",
]


class BacktestInputError(InputError):
    """Base of every bad-input error raised by the backtest package."""


class BarsShapeError(BacktestInputError):
    """``bars`` lacks a required array, an array is not 1-D, the arrays differ in length, or there are no bars."""


class PriceError(BacktestInputError):
    """A price the engine may fill or mark at is NaN, infinite or <= 0 (the message names field and row)."""


class TargetLengthError(BacktestInputError):
    """``target`` is not 1-D with exactly one value per bar."""


class TargetNaNError(BacktestInputError):
    """``target`` holds a NaN or infinite value (the message names the first row)."""


class TargetValueError(BacktestInputError):
    """``target`` holds a value the engine does not support yet (this slice: 0.0 or 1.0)."""


class FeeError(BacktestInputError):
    """``fees_bps`` is negative or not finite."""


class UnknownFillError(BacktestInputError):
    """``fill`` is not one of the supported fill modes."""


class CashError(BacktestInputError):
    """Starting ``cash`` is not a finite number > 0."""


class TradeFieldError(BacktestInputError):
    """A :class:`~backtest.trades.Trade` field is inconsistent (e.g. an exit time without an exit price)."""


class EquityError(BacktestInputError):
    """An equity curve is empty, not 1-D, or holds a non-finite or non-positive value."""


class TimeframeError(BacktestInputError):
    """A bar length in milliseconds is not a positive integer."""
