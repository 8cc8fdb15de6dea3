"""Named errors of the ``backtest`` package; all derive from :class:`raytrader.errors.InputError`."""

from __future__ import annotations

from raytrader.errors import InputError

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
    "SlippageError",
    "StopError",
    "BarsFieldMissingError",
    "WeightsError",
    "AlignmentError",
    "TradesError",
    "GridSpecError",
    "EmptySweepError",
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
    """``target`` holds a weight outside ``[-MAX_ABS_TARGET, MAX_ABS_TARGET]`` (see :mod:`backtest.engine`)."""


class FeeError(BacktestInputError):
    """``fees_bps`` is negative, not finite, or at/above the 1000 bps cap."""


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


class SlippageError(BacktestInputError):
    """A slippage setting (``slippage_bps``, ``slippage_k_bps``) is negative, not finite or >= 100 %."""


class StopError(BacktestInputError):
    """A stop setting (``stop_loss``, ``take_profit``, ``trailing_stop``) is not a finite fraction in its range."""


class BarsFieldMissingError(BarsShapeError):
    """An option needs a bar field the ``bars`` object lacks (stops need ``high``/``low``, participation slippage ``volume``)."""


class WeightsError(BacktestInputError):
    """A portfolio weight matrix has the wrong shape, a non-finite value or a weight out of range."""


class AlignmentError(BacktestInputError):
    """Portfolio inputs cannot be aligned: no assets, no common timestamps, or a price panel with gaps."""


class TradesError(BacktestInputError):
    """A trade-statistics input is not a sequence of :class:`~backtest.trades.Trade`."""


class GridSpecError(BacktestInputError):
    """A sweep grid axis is malformed (``-g`` text), names an unknown parameter, or holds an invalid value.

    Attributes:
        param: the parameter (or the raw text) at fault.
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class EmptySweepError(BacktestInputError):
    """The grid's constraints (e.g. ``fast < slow``) leave no configuration to evaluate."""
