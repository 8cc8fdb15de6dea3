"""Named errors of the exchange emulator, each carrying its Binance error code.

The matching engine raises these; the HTTP layer turns ``code`` and the
message into Binance's ``{"code": <code>, "msg": <message>}`` body with HTTP
400 (401 for authentication). Codes follow Binance Spot's documented list:

* ``-1013`` filter failure (PRICE_FILTER, LOT_SIZE, NOTIONAL)
* ``-2010`` new order rejected (insufficient balance, duplicate client id,
  LIMIT_MAKER that would take)
* ``-2011`` cancel rejected: unknown order
* ``-2013`` order does not exist (query)
* ``-1121`` invalid symbol
* ``-1102`` / ``-1100`` / ``-1106`` missing, malformed or unexpected parameter
"""

from __future__ import annotations

from raytrader.errors import InputError

__all__ = [
    "EmulatorError",
    "FilterFailure",
    "InsufficientBalance",
    "VenueOrderRejected",
    "UnknownOrder",
    "CancelRejected",
    "UnknownSymbol",
    "BadParameter",
]


class EmulatorError(InputError):
    """A request the venue refuses; ``code`` is the Binance error code (negative int)."""

    code: int = -1000

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.msg = message


class FilterFailure(EmulatorError):
    """Price, quantity or notional breaks an exchangeInfo filter (``-1013``, "Filter failure: <FILTER>")."""

    code = -1013


class InsufficientBalance(EmulatorError):
    """Free balance does not cover the order (``-2010``)."""

    code = -2010


class VenueOrderRejected(EmulatorError):
    """Any other new-order rejection (``-2010``): duplicate client order id, LIMIT_MAKER that would take.

    The venue's own error; the trading system's message is :class:`actors.messages.OrderRejected`.
    """

    code = -2010


class UnknownOrder(EmulatorError):
    """Order query for an id that does not exist for this account and symbol (``-2013``)."""

    code = -2013


class CancelRejected(EmulatorError):
    """Cancel of an unknown or already closed order (``-2011``, "Unknown order sent.")."""

    code = -2011


class UnknownSymbol(EmulatorError):
    """Symbol not listed on the venue (``-1121``)."""

    code = -1121


class BadParameter(EmulatorError):
    """Missing or malformed request parameter (``-1102`` / ``-1100``)."""

    code = -1102
