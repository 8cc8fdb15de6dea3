"""How a stop-limit :class:`~actors.messages.OrderIntent` is spelled in ccxt ``create_order`` params, per dialect.

Pure (no Ray, no I/O). The intent says *what* (``stop_price`` and ``trigger``:
``stop_loss`` / ``take_profit``, the rule of :mod:`market.triggers`); each
dialect says it its own way, as data in :data:`STOP_SPELLING`:

* ``binance``: ccxt's ``stopLossPrice`` / ``takeProfitPrice`` params, which
  ccxt turns into ``type=STOP_LOSS_LIMIT`` / ``TAKE_PROFIT_LIMIT`` with
  ``stopPrice`` (ccxt 4.5 ``binance.create_order_request``);
* ``coinbase``: ``stop`` = ``loss`` (the price falls to ``stop_price``) or
  ``entry`` (it rises to it) and ``stop_price`` (ccxt ``coinbaseexchange``
  passes ``stop`` through and sends ``stop_price``). Which of the two
  follows from the side and the trigger (:func:`market.triggers.trigger_direction`).
"""

from __future__ import annotations

from typing import Any, Callable

from actors.messages import OrderIntent
from market.triggers import DOWN, trigger_direction
from raytrader.errors import InputError

__all__ = ["StopOrderUnsupported", "STOP_SPELLING", "stop_params"]


class StopOrderUnsupported(InputError):
    """The venue's dialect has no stop orders here (names the dialect)."""


def _binance(intent: OrderIntent) -> dict[str, Any]:
    key = "stopLossPrice" if intent.trigger == "stop_loss" else "takeProfitPrice"
    return {key: intent.stop_price}


def _coinbase(intent: OrderIntent) -> dict[str, Any]:
    falls = trigger_direction(intent.side, str(intent.trigger)) == DOWN
    return {"stop": "loss" if falls else "entry", "stop_price": intent.stop_price}


#: dialect name (:class:`actors.exchange_config.Dialect.name`) -> the ccxt params of a stop-limit intent
STOP_SPELLING: dict[str, Callable[[OrderIntent], dict[str, Any]]] = {"binance": _binance, "coinbase": _coinbase}


def stop_params(dialect: str, intent: OrderIntent) -> dict[str, Any]:
    """The extra ccxt params for ``intent`` on ``dialect``: empty for a plain order.

    Raises StopOrderUnsupported for a stop intent on a dialect without an entry in :data:`STOP_SPELLING`.
    """
    if intent.stop_price is None:
        return {}
    spell = STOP_SPELLING.get(dialect)
    if spell is None:
        raise StopOrderUnsupported(f"stop orders are not supported on the {dialect!r} dialect "
                                   f"(known: {', '.join(sorted(STOP_SPELLING))})")
    return spell(intent)
