"""When a stop-loss or take-profit order triggers: the one rule the emulator and the backtest engine share.

Binance Spot (``STOP_LOSS_LIMIT`` / ``TAKE_PROFIT_LIMIT``, REST API docs
"New order" and "Order list - OCO"): a stop order waits off the book until
the **last trade price** reaches its ``stopPrice``, then works as a limit
order at its ``price``:

=====================  ===========================  ========================
order                  triggers when last price is  so the stop sits
=====================  ===========================  ========================
STOP_LOSS SELL         ``<= stopPrice``             below the market
STOP_LOSS BUY          ``>= stopPrice``             above the market
TAKE_PROFIT SELL       ``>= stopPrice``             above the market
TAKE_PROFIT BUY        ``<= stopPrice``             below the market
=====================  ===========================  ========================

A stop that the last price has already reached when it is placed is
refused (Binance ``-2010`` "Stop price would trigger immediately.").
The rule is stated once as a *direction*: :data:`DOWN` (the price must fall
to the level) or :data:`UP` (rise to it), and :func:`crossed` compares one
trade price with the level.

**Bars.** An engine that sees only a bar's open, high and low (the backtest
engine) assumes the bar trades at its open first and then somewhere in
``[low, high]`` in an unknown order. :func:`bar_trigger_price` is what it
concludes: the open when the open is already at or through the level (a
gap: the first trade of the bar triggers, at the open), else the level
itself when the low (:data:`DOWN`) / high (:data:`UP`) reaches it, else no
trigger (NaN). The emulator replays a bar as prints along open -> high ->
low -> close (or open -> low -> high -> close), so it triggers a stop on the
same bar; the triggering print is the open exactly when the bar gapped.

Plain Python on numbers (``float`` or ``Decimal``): :mod:`backtest.engine`
compiles :func:`bar_trigger_price` with numba; nothing here imports numba.
Numba's on-disk cache of the engine's bar loop is keyed by ``engine.py``
alone, so after changing :func:`bar_trigger_price` delete the numba cache
files (``backtest/__pycache__/*.nbi``/``*.nbc``) or the engine keeps the
old rule compiled in.
"""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = ["DOWN", "UP", "STOP_LOSS", "TAKE_PROFIT", "trigger_direction", "crossed", "bar_trigger_price"]

#: the price must fall to the level (a SELL stop-loss, a BUY take-profit)
DOWN = -1
#: the price must rise to the level (a BUY stop-loss, a SELL take-profit)
UP = 1
STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"


def trigger_direction(side: str, kind: str) -> int:
    """:data:`DOWN` or :data:`UP` for a ``side`` (``BUY``/``SELL``, any case) ``kind`` (stop_loss/take_profit) order.

    Raises ValueError for anything else (callers validate their own input first).
    """
    s = side.upper()
    if s not in ("BUY", "SELL") or kind not in (STOP_LOSS, TAKE_PROFIT):
        raise ValueError(f"no trigger rule for side {side!r} kind {kind!r}")
    falls = (s == "SELL") == (kind == STOP_LOSS)
    return DOWN if falls else UP


def crossed(direction: int, level: float | Decimal, price: float | Decimal) -> bool:
    """True when a trade at ``price`` triggers a stop at ``level`` moving in ``direction`` (touching counts)."""
    return price <= level if direction == DOWN else price >= level


def bar_trigger_price(direction: int, level: float, open_: float, high: float, low: float) -> float:
    """The price a bar-based engine triggers at: ``open_`` on a gap, ``level`` when the range reaches it, else NaN.

    Prices in quote units; ``low <= open_ <= high`` is assumed, not checked
    (this runs inside the backtest kernel, once per bar and stop).
    """
    if direction == DOWN:
        if open_ <= level:
            return open_
        if low <= level:
            return level
        return math.nan
    if open_ >= level:
        return open_
    if high >= level:
        return level
    return math.nan
