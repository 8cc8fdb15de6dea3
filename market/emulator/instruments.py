"""Exchange filters for a market the emulator lists, derived from the bars it replays.

Real venues publish tick sizes and lot sizes per market; for replayed history
we derive them from the price scale so that orders of ordinary size are valid:

* ``tick_size`` = 10^(floor(log10(median close)) - 5): five significant digits,
  at least 1e-8 (Binance's finest);
* ``step_size`` = ``min_qty`` = 10^(floor(log10(1 / median close)) - 3), clipped to
  [1e-8, 1]: a lot is worth about 1e-3..1e-2 quote units;
* ``min_notional`` = 10 lots at the median price; ``max_price`` = 100 x the highest high.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from market.bars import Bars
from market.emulator.book import Instrument

__all__ = ["instrument_for"]


def _pow10(exp: int, lo: int = -8, hi: int = 0) -> Decimal:
    return Decimal(1).scaleb(max(lo, min(hi, exp)))


def instrument_for(bars: Bars) -> Instrument:
    """An :class:`Instrument` for ``bars.symbol`` with filters fitted to its prices (see the module doc)."""
    median = float(np.median(bars.close))
    tick = _pow10(math.floor(math.log10(median)) - 5, hi=8)
    step = _pow10(math.floor(math.log10(1.0 / median)) - 3)
    min_notional = (Decimal(repr(median)) * step * 10).quantize(Decimal("1e-8"))
    max_price = Decimal(int(float(np.max(bars.high)) * 100) + 1)
    return Instrument(bars.symbol, tick_size=tick, step_size=step, min_qty=step, min_price=tick,
                      max_price=max_price, min_notional=max(min_notional, Decimal("1e-8")))
