"""Read one price array from anything shaped like ``market.bars.Bars`` (shared by strategies and the backtest engines).

Strategies accept any object with 1-D float64 array attributes
``timestamp open high low close volume``; this module does not import
``market.bars`` so that it works with lookalikes (tests, adapters).
"""

from __future__ import annotations

import numpy as np

from strategies.errors import BarsFieldError

__all__ = ["bar_field"]


def bar_field(bars: object, name: str) -> np.ndarray:
    """Return ``bars.<name>`` as a 1-D float64 array (no copy when already float64).

    Raises:
        BarsFieldError: the attribute is missing or not one-dimensional.
    """
    if not hasattr(bars, name):
        raise BarsFieldError(f"bars.{name}: missing; expected an object with 1-D array attribute {name!r}")
    arr = np.asarray(getattr(bars, name), dtype=np.float64)
    if arr.ndim != 1:
        raise BarsFieldError(f"bars.{name}: expected a 1-D array, got shape {arr.shape}")
    return arr
