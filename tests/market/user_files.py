"""Bar files as users bring them, written by pandas the way pandas and Yahoo Finance write them.

Every price comes from the bundled real data (``market/samples``), never
invented: daily BTC-USD bars (Bitstamp/Coinbase) for the Yahoo layouts,
ETH/BTC 5-minute bars (Binance) for the intraday ones, and AAPL's adjusted
daily closes (skfolio's S&P 500 panel) for an equity calendar with
weekends and holidays. Each writer returns the path and the bars a correct
reader must produce from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from market.bars import Bars
from market.samples import load_sample, load_sample_frame

__all__ = ["btc_daily", "yahoo_csv", "yfinance_csv", "pandas_csv", "offsets_csv", "epoch_csv", "aapl_daily",
           "aapl_yahoo_csv", "binance_vision_csv"]


def btc_daily(start: str = "2019-01-01", end: str = "2022-01-01") -> Bars:
    """BTC-USD daily bars of the bundled sample, ``start <= t < end``."""
    bars = load_sample("BTC-USD-1d")
    return bars.slice(int(pd.Timestamp(start, tz="UTC").value // 1_000_000), int(pd.Timestamp(end, tz="UTC").value // 1_000_000))


def _titled(bars: Bars) -> pd.DataFrame:
    frame = bars.to_frame().set_index("timestamp")
    frame.columns = [c.title() for c in frame.columns]
    return frame


def yahoo_csv(path: Path, bars: Bars) -> Path:
    """Yahoo Finance's download layout ``Date,Open,High,Low,Close,Adj Close,Volume`` (dates, no time)."""
    frame = _titled(bars)
    frame.insert(4, "Adj Close", frame["Close"])  # Yahoo's crypto quotes have no dividends: equal to Close
    frame.index = frame.index.strftime("%Y-%m-%d")
    frame.index.name = "Date"
    frame.to_csv(path)
    return path


def yfinance_csv(path: Path, bars: Bars, ticker: str = "BTC-USD") -> Path:
    """``yf.download(ticker).to_csv(path)`` of yfinance >= 0.2.51: a three-row header
    (``Price,Close,High,Low,Open,Volume`` / ``Ticker,BTC-USD,...`` / ``Date,,,,,``), alphabetical columns."""
    frame = _titled(bars)[["Close", "High", "Low", "Open", "Volume"]]
    frame.index = frame.index.tz_localize(None)
    frame.index.name = "Date"
    frame.columns = pd.MultiIndex.from_tuples([(c, ticker) for c in frame.columns], names=["Price", "Ticker"])
    frame.to_csv(path)
    return path


def pandas_csv(path: Path, bars: Bars) -> Path:
    """``df.to_csv(path)`` of a frame with a ``DatetimeIndex`` named ``Date`` (naive, meaning UTC)."""
    frame = _titled(bars)
    frame.index = frame.index.tz_localize(None)
    frame.index.name = "Date"
    frame.to_csv(path)
    return path


def offsets_csv(path: Path, bars: Bars, tz: str = "Europe/Berlin") -> Path:
    """A ``Datetime`` column of local times with their UTC offsets (``2018-01-10 05:55:00+01:00``), as
    yfinance writes intraday bars and ``df.to_csv`` writes a tz-aware index."""
    frame = _titled(bars)
    frame.index = frame.index.tz_convert(tz)
    frame.index.name = "Datetime"
    frame.to_csv(path)
    return path


def epoch_csv(path: Path, bars: Bars, unit: str = "ms", column: str = "time") -> Path:
    """Exchange-style rows: ``time`` in epoch ``unit`` (``s``, ``ms``, ``us``), then lower-case OHLCV."""
    frame = bars.to_frame().drop(columns="timestamp")
    scale = {"s": 1 / 1000, "ms": 1, "us": 1000}[unit]
    frame.insert(0, column, (bars.timestamp * scale).astype(np.int64))
    frame.to_csv(path, index=False)
    return path


def aapl_daily(start: str = "2018-01-01", end: str = "2023-01-01") -> Bars:
    """AAPL's adjusted daily closes on trading days (weekends and US holidays absent) as bars.

    The source holds closes only, so open = high = low = close and volume 0.
    """
    panel = load_sample_frame("sp500-close-1d")
    ts = pd.to_datetime(panel["timestamp"], utc=True)
    keep = (ts >= pd.Timestamp(start, tz="UTC")) & (ts < pd.Timestamp(end, tz="UTC"))
    close = panel.loc[keep, "AAPL"].to_numpy(dtype=np.float64)
    stamps = ts[keep].dt.tz_convert(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    return Bars(timestamp=stamps, open=close, high=close, low=close, close=close, volume=np.zeros_like(close),
                symbol="AAPL", timeframe="1d")


def aapl_yahoo_csv(path: Path, bars: Bars) -> Path:
    """Daily equity bars as recent yfinance writes them: each date at New York midnight with its offset
    (``2018-01-02 00:00:00-05:00``, ``-04:00`` in summer)."""
    frame = _titled(bars)
    frame.insert(4, "Adj Close", frame["Close"])
    frame.index = frame.index.tz_localize(None).tz_localize("America/New_York")
    frame.index.name = "Date"
    frame.to_csv(path)
    return path


def binance_vision_csv(path: Path, bars: Bars, unit: str = "ms") -> Path:
    """A klines dump as data.binance.vision serves it: no header, 12 columns, open and close times in
    epoch ``unit`` (ms until 2025, us since). Quote volume is volume x close; trade counts are not in
    the source and are written as 0."""
    scale = {"ms": 1, "us": 1000}[unit]
    tf = bars.timeframe_ms
    frame = pd.DataFrame({
        "open_time": bars.timestamp * scale, "open": bars.open, "high": bars.high, "low": bars.low,
        "close": bars.close, "volume": bars.volume, "close_time": (bars.timestamp + tf - 1) * scale,
        "quote_volume": bars.volume * bars.close, "trades": 0, "taker_buy_volume": 0.0,
        "taker_buy_quote_volume": 0.0, "ignore": 0,
    })
    frame.to_csv(path, header=False, index=False)
    return path
