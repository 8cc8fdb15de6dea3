"""OHLCV bars: the project's in-memory market-data type.

Invariants held by every :class:`Bars` (checked on construction):

* ``timestamp`` is int64 UTC milliseconds since the epoch, the *open* time of
  each bar; ``open high low close volume`` are float64; all six arrays are
  1-D, of one length, and read-only.
* ``timeframe`` is a unified timeframe string (``"5m"``).

The market rules (sorted, unique, on the grid, high >= open/close, ...) are
*not* checked here: :func:`market.validate.validate_bars` does that, and every
loader in this package runs it. ``symbol`` and ``venue`` may be empty when
unknown (a CSV without metadata).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from market._frame import normalise_columns, numeric_column, require_columns, timestamps_to_ms
from raytrader.errors import InputError
from market.timeframe import parse_timeframe

__all__ = ["Bars", "OHLCV_COLUMNS", "TRADE_COLUMNS", "PRICE_COLUMNS"]

#: column order of every OHLCV table (files, frames, the store)
OHLCV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
#: column order of a trades (tick) table; ``side`` is ``"buy"`` or ``"sell"``
TRADE_COLUMNS = ("timestamp", "id", "side", "price", "amount")
#: the four price columns of OHLCV
PRICE_COLUMNS = ("open", "high", "low", "close")


def _frozen_array(values: object, dtype: type, name: str) -> np.ndarray:
    arr = np.array(values, dtype=dtype, copy=True)
    if arr.ndim != 1:
        raise InputError(f"Bars.{name} must be 1-D, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV bars of one symbol, timeframe and venue.

    Attributes:
        timestamp: bar open times, int64 UTC ms since the epoch.
        open, high, low, close: prices in quote currency, float64.
        volume: traded amount in base currency, float64.
        symbol: unified symbol (``"BTC/USDT"``); may be empty when unknown.
        timeframe: unified timeframe (``"1h"``).
        venue: where the bars come from (a ccxt exchange id, ``"binance"``).

    Compare with :meth:`equals` (arrays and metadata), not ``==``.
    """

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str = ""
    timeframe: str = "1m"
    venue: str = ""
    _tf_ms: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", _frozen_array(self.timestamp, np.int64, "timestamp"))
        for name in OHLCV_COLUMNS[1:]:
            object.__setattr__(self, name, _frozen_array(getattr(self, name), np.float64, name))
        n = len(self.timestamp)
        lengths = {name: len(getattr(self, name)) for name in OHLCV_COLUMNS}
        if any(v != n for v in lengths.values()):
            raise InputError(f"Bars arrays differ in length: {lengths}")
        for name in ("symbol", "timeframe", "venue"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"Bars.{name} must be a string, got {getattr(self, name)!r}")
        tf = parse_timeframe(self.timeframe)
        object.__setattr__(self, "timeframe", tf.text)
        object.__setattr__(self, "_tf_ms", tf.ms)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def __repr__(self) -> str:
        span = ""
        if len(self):
            first = pd.Timestamp(int(self.timestamp[0]), unit="ms", tz="UTC")
            last = pd.Timestamp(int(self.timestamp[-1]), unit="ms", tz="UTC")
            span = f", {first.isoformat()} .. {last.isoformat()}"
        return f"Bars({self.venue or '?'} {self.symbol or '?'} {self.timeframe}, {len(self)} rows{span})"

    @property
    def timeframe_ms(self) -> int:
        """Bar length in milliseconds."""
        return self._tf_ms

    @property
    def start_ms(self) -> int | None:
        """Open time of the first bar (ms), or None when empty."""
        return int(self.timestamp[0]) if len(self) else None

    @property
    def end_ms(self) -> int | None:
        """Open time of the last bar (ms), or None when empty."""
        return int(self.timestamp[-1]) if len(self) else None

    def equals(self, other: object) -> bool:
        """True when ``other`` is Bars with identical arrays and metadata (NaN equal to NaN)."""
        if not isinstance(other, Bars):
            return False
        if (self.symbol, self.timeframe, self.venue) != (other.symbol, other.timeframe, other.venue):
            return False
        return bool(np.array_equal(self.timestamp, other.timestamp)) and all(
            np.array_equal(getattr(self, c), getattr(other, c), equal_nan=True) for c in OHLCV_COLUMNS[1:]
        )

    def with_meta(self, *, symbol: str | None = None, timeframe: str | None = None, venue: str | None = None) -> "Bars":
        """A copy with some of ``symbol``, ``timeframe``, ``venue`` replaced."""
        changes = {k: v for k, v in (("symbol", symbol), ("timeframe", timeframe), ("venue", venue)) if v is not None}
        return replace(self, **changes)

    # ----------------------------------------------------------------- slicing
    def slice(self, start_ms: int | None = None, end_ms: int | None = None) -> "Bars":
        """Bars with ``start_ms <= timestamp < end_ms`` (half-open; None means unbounded).

        Needs sorted timestamps (true for validated bars).
        """
        lo = 0 if start_ms is None else int(np.searchsorted(self.timestamp, int(start_ms), side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.timestamp, int(end_ms), side="left"))
        hi = max(lo, hi)
        return self.take(slice(lo, hi))

    def take(self, index: slice | np.ndarray) -> "Bars":
        """Bars at positions ``index`` (a slice, integer positions or a boolean mask)."""
        return Bars(
            **{c: getattr(self, c)[index] for c in OHLCV_COLUMNS},
            symbol=self.symbol, timeframe=self.timeframe, venue=self.venue,
        )

    # ------------------------------------------------------------------ pandas
    def to_frame(self) -> pd.DataFrame:
        """DataFrame with columns :data:`OHLCV_COLUMNS`; ``timestamp`` is ``datetime64[ms, UTC]``."""
        data = {"timestamp": pd.to_datetime(self.timestamp, unit="ms", utc=True).as_unit("ms")}
        data.update({c: np.array(getattr(self, c)) for c in OHLCV_COLUMNS[1:]})
        return pd.DataFrame(data, columns=list(OHLCV_COLUMNS))

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, symbol: str = "", timeframe: str = "1m", venue: str = "", source: str = "",
    ) -> "Bars":
        """Bars from a DataFrame with columns :data:`OHLCV_COLUMNS` (any order, any case).

        ``timestamp`` may be datetime64 (tz-aware, or naive meaning UTC), int
        epoch milliseconds, or ISO-8601 strings; it may also be the index.
        Raises :class:`~market.errors.DataValidationError` for missing
        columns, non-numeric values or unreadable timestamps. The market rules
        are left to :func:`market.validate.validate_bars`.
        """
        arrays = frame_to_arrays(frame, source)
        return cls(**arrays, symbol=symbol, timeframe=timeframe, venue=venue)


def frame_to_arrays(frame: pd.DataFrame, source: str = "") -> dict[str, np.ndarray]:
    """The six OHLCV columns of ``frame`` as int64/float64 arrays (internal helper)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    frame = normalise_columns(frame)
    require_columns(frame, OHLCV_COLUMNS, source)
    out: dict[str, np.ndarray] = {"timestamp": timestamps_to_ms(frame["timestamp"], source)}
    for name in OHLCV_COLUMNS[1:]:
        out[name] = numeric_column(frame, name, source)
    return out
