"""Real market data bundled with the package (``market/samples/``).

Provenance, licences and checksums: ``market/samples/PROVENANCE.md``.

Sample kinds:

* ``ohlcv``: bars, loaded with :func:`load_sample` as validated :class:`Bars`.
* ``trades``: tick data ``timestamp, id, side, price, amount``.
* ``close-panel``: wide daily closes, one column per ticker.
* ``funding``: a perpetual's funding rate per 8 h (fraction per interval).

Every kind loads as a validated DataFrame through :func:`load_sample_frame`.
Several samples have gaps (missing bars in the 5m alt/BTC and 1m series,
weekends and holidays in the stock panel); validation reports them, nothing
fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from market.bars import Bars
from raytrader.errors import InputError
from market.store import table_to_bars
from market.validate import validate_bars, validate_close_panel, validate_funding, validate_trades

__all__ = ["Sample", "SAMPLES_DIR", "list_samples", "sample_path", "load_sample", "load_sample_frame"]

#: folder holding the bundled files
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

SampleKind = Literal["ohlcv", "trades", "close-panel", "funding"]

_ALTS = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")

# name, kind, file under SAMPLES_DIR, symbol, timeframe, venue, description
_CATALOG: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    *(
        (f"{a}-BTC-5m", "ohlcv", f"binance-spot-5m-2018-01/{a}-BTC.parquet", f"{a}/BTC", "5m", "binance",
         f"{a}/BTC 5-minute bars, Binance spot, 2018-01-10..30 (shared dates with the other alt/BTC samples)")
        for a in _ALTS
    ),
    ("ALT-BTC-1m", "ohlcv", "binance-spot-1m-2017-11/ALT-BTC.parquet", "ALT/BTC", "1m", "binance",
     "an unnamed altcoin quoted in BTC, 1-minute bars, Binance spot, 2017-11-04..14"),
    ("XRP-ETH-1m", "ohlcv", "binance-spot-1m-2019-10/XRP-ETH.parquet", "XRP/ETH", "1m", "binance",
     "XRP/ETH 1-minute bars, Binance spot, 2019-10-11..13"),
    ("XRP-ETH-trades", "trades", "binance-spot-1m-2019-10/XRP-ETH.trades.parquet", "XRP/ETH", "", "binance",
     "the individual XRP/ETH trades behind XRP-ETH-1m"),
    ("XRP-USDT-USDT-5m", "ohlcv", "binance-futures-5m-2021-11/XRP-USDT-USDT.parquet", "XRP/USDT:USDT", "5m", "binance",
     "XRP/USDT linear perpetual 5-minute bars, Binance USD-M futures, 2021-11-15..21"),
    ("XRP-USDT-USDT-funding-8h", "funding", "binance-futures-5m-2021-11/XRP-USDT-USDT.funding-8h.parquet", "XRP/USDT:USDT",
     "8h", "binance", "8-hourly funding rate of the XRP/USDT perpetual, 2021-11-18..12-18"),
    ("BTC-USD-1d", "ohlcv", "btc-usd-1d-2011-2025/BTC-USD.parquet", "BTC/USD", "1d", "bitstamp-coinbase",
     "Bitcoin in US dollars, daily bars 2011-08-18..2025-09-24 (Bitstamp until 2015-07-21, Coinbase after)"),
    ("sp500-close-1d", "close-panel", "sp500-20-stocks-1d-1990-2022/close.parquet", "SP500-20", "1d", "us-equities",
     "adjusted daily closes of 20 US large caps, 1990-01-02..2022-12-28 (skfolio, BSD-3-Clause)"),
)


@dataclass(frozen=True)
class Sample:
    """One bundled file.

    Attributes:
        name: short name (``"ETH-BTC-5m"``), the key for :func:`load_sample`.
        kind: ``ohlcv``, ``trades``, ``close-panel`` or ``funding``.
        symbol: unified symbol (``"ETH/BTC"``; ``"SP500-20"`` for the panel).
        timeframe: bar or sampling interval (``""`` for trades).
        venue: where the data came from.
        rows: number of rows.
        start_ms, end_ms: first and last timestamp, UTC ms.
        path: the Parquet file.
        description: one line for people.
    """

    name: str
    kind: SampleKind
    symbol: str
    timeframe: str
    venue: str
    rows: int
    start_ms: int
    end_ms: int
    path: Path
    description: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": self.kind, "symbol": self.symbol, "timeframe": self.timeframe,
            "venue": self.venue, "rows": self.rows, "start_ms": self.start_ms, "end_ms": self.end_ms,
            "path": str(self.path), "description": self.description,
        }


def _ms(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64())


@lru_cache(maxsize=1)
def _samples() -> tuple[Sample, ...]:
    out = []
    for name, kind, rel, symbol, timeframe, venue, description in _CATALOG:
        path = SAMPLES_DIR / rel
        if not path.is_file():
            raise InputError(f"bundled sample {name} is missing: {path} (reinstall raytrader)")
        ts = _ms(pq.read_table(path, columns=["timestamp"]).column("timestamp"))
        out.append(Sample(
            name=name, kind=kind, symbol=symbol, timeframe=timeframe, venue=venue, rows=len(ts),
            start_ms=int(ts[0].as_py()), end_ms=int(ts[-1].as_py()), path=path, description=description,
        ))
    return tuple(out)


def list_samples() -> list[Sample]:
    """Every bundled sample, in catalogue order."""
    return list(_samples())


def _get(name: str) -> Sample:
    for sample in _samples():
        if sample.name == name:
            return sample
    lowered = {s.name.lower(): s for s in _samples()}
    if isinstance(name, str) and name.lower() in lowered:
        return lowered[name.lower()]
    raise InputError(f"unknown sample {name!r}; valid names: {', '.join(s.name for s in _samples())}")


def sample_path(name: str) -> Path:
    """Path of the bundled file for ``name`` (case-insensitive)."""
    return _get(name).path


def load_sample(name: str) -> Bars:
    """The ``ohlcv`` sample ``name`` as validated :class:`Bars` (gaps kept, not filled)."""
    sample = _get(name)
    if sample.kind != "ohlcv":
        ohlcv = ", ".join(s.name for s in _samples() if s.kind == "ohlcv")
        raise InputError(
            f"sample {sample.name} holds {sample.kind} data, not bars; use load_sample_frame() (bar samples: {ohlcv})")
    table = pq.read_table(sample.path)
    bars = table_to_bars(table, symbol=sample.symbol, timeframe=sample.timeframe, venue=sample.venue)
    validate_bars(bars, source=f"sample {sample.name}")
    return bars


def load_sample_frame(name: str) -> pd.DataFrame:
    """Any sample as a DataFrame (``timestamp`` tz-aware UTC), validated for its kind."""
    sample = _get(name)
    if sample.kind == "ohlcv":
        return load_sample(sample.name).to_frame()
    frame = pq.read_table(sample.path).to_pandas()
    source = f"sample {sample.name}"
    if sample.kind == "trades":
        validate_trades(frame, source=source)
    elif sample.kind == "funding":
        validate_funding(frame, source=source)
    else:
        validate_close_panel(frame, sample.timeframe, source=source)
    return frame
