"""Small real ``market.bars.Bars`` for engine and strategy tests, built from a close series."""

from __future__ import annotations

import numpy as np

from market.bars import Bars
from market.io import read_bars

FIVE_MIN_MS = 300_000
#: 2018-01-10T00:00:00Z in ms
T0_MS = 1_515_542_400_000


def bars_from_close(close, open_=None) -> Bars:
    """5-minute bars from ``close`` (and ``open_``, default = close); high/low bracket both; volume 1."""
    close = np.asarray(close, dtype=np.float64)
    open_ = close.copy() if open_ is None else np.asarray(open_, dtype=np.float64)
    n = close.shape[0]
    return Bars(timestamp=T0_MS + FIVE_MIN_MS * np.arange(n, dtype=np.int64), open=open_,
                high=np.maximum(open_, close), low=np.minimum(open_, close), close=close, volume=np.ones(n),
                symbol="TEST/USDT", timeframe="5m", venue="test")


def load_parquet_bars(path: str) -> Bars:
    """Real, validated OHLCV from a Parquet file (e.g. a bundled sample)."""
    return read_bars(path)[0]
