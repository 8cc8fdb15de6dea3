"""Trading costs shared by the single-asset and portfolio engines: fees and slippage.

Units and conventions:

* Fees: ``fees_bps`` basis points of fill notional, charged on each side
  (a buy and a sell both pay). ``f = fees_bps / 1e4`` is the fraction.
* Slippage moves the fill price against the order, never in its favour: a
  buy fills at ``p * (1 + s)``, a sell at ``p * (1 - s)``, where ``p`` is the
  reference price (the bar's open or close, or a stop level) and
  ``s = (slippage_bps + slippage_k_bps * participation) / 1e4``.
* ``participation = min(order_units / bar_volume, 1)``: the order's share of
  the fill bar's traded volume (base units), capped at 1 so an order larger
  than the bar (or any order on a zero-volume bar) pays ``slippage_k_bps``
  in full and no more. The order size used here is the one computed at the
  unslipped reference price.

The numba helpers are called from the engines' bar loops.
"""

from __future__ import annotations

import math
import numbers

from numba import njit

from backtest.errors import FeeError, SlippageError

__all__ = ["MAX_FEES_BPS", "fee_fraction", "slippage_fractions", "slippage_fraction", "slipped_price"]

#: fees at or above 10 % of notional per side are rejected (they also keep ``1 - |w| f`` > 0 in the sizing)
MAX_FEES_BPS = 1000.0


def fee_fraction(fees_bps: object, *, name: str = "fees_bps") -> float:
    """``fees_bps / 1e4`` after checking it is a finite number in ``[0, MAX_FEES_BPS)``."""
    if isinstance(fees_bps, bool) or not isinstance(fees_bps, numbers.Real) or not math.isfinite(fees_bps):
        raise FeeError(f"{name}: expected a finite number of basis points, got {fees_bps!r}")
    if fees_bps < 0 or fees_bps >= MAX_FEES_BPS:
        raise FeeError(f"{name}: must be >= 0 and < {MAX_FEES_BPS:g} bps, got {fees_bps}")
    return float(fees_bps) / 1e4


def slippage_fractions(slippage_bps: object, slippage_k_bps: object) -> tuple[float, float]:
    """(fixed, per-participation) slippage as fractions, after checking both are finite and >= 0 bps."""
    out = []
    for name, value in (("slippage_bps", slippage_bps), ("slippage_k_bps", slippage_k_bps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise SlippageError(f"{name}: expected a finite number of basis points >= 0, got {value!r}")
        if value >= 1e4:
            raise SlippageError(f"{name}: must be < 10000 bps (100 %), got {value}")
        out.append(float(value) / 1e4)
    return out[0], out[1]


@njit(cache=True)
def slippage_fraction(order_units: float, bar_volume: float, fixed: float, per_participation: float) -> float:
    """``fixed + per_participation * min(|order_units| / bar_volume, 1)`` (fractions; see the module docstring)."""
    if per_participation == 0.0:
        return fixed
    size = abs(order_units)
    if bar_volume > 0.0:
        part = size / bar_volume
        if part > 1.0:
            part = 1.0
    else:
        part = 1.0 if size > 0.0 else 0.0
    return fixed + per_participation * part


@njit(cache=True)
def slipped_price(price: float, direction: float, slip: float) -> float:
    """Fill price of an order with ``direction`` > 0 (buy) or < 0 (sell) at reference ``price``."""
    if slip == 0.0:
        return price
    if direction > 0.0:
        return price * (1.0 + slip)
    return price * (1.0 - slip)

