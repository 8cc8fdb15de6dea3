"""The on-disk bar store: one Parquet file per (venue, symbol, timeframe).

Layout under ``root`` (Hive partitioning, readable as one dataset by
``pyarrow.dataset`` and Ray Data from :attr:`ParquetStore.partition_root`)::

    <root>/ohlcv/venue=<venue>/symbol=<symbol>/timeframe=<tf>/bars.parquet

``venue`` and ``symbol`` are URL-quoted with ``urllib.parse.quote(s,
safe="")`` (``BTC/USDT`` -> ``BTC%2FUSDT``); pyarrow's hive partitioning
decodes them back (its default ``segment_encoding="uri"``). Each file holds
the columns ``timestamp`` (``timestamp[ms, UTC]``) ``open high low close
volume`` (float64), zstd-compressed, and names venue, symbol and timeframe in
its schema metadata too, so a copied file stays self-describing.

Invariants: every file in the store passed :func:`market.validate.validate_bars`
when written; writes are atomic (a temp file beside the target, then
``os.replace``); a merge holds an exclusive lock on the entry so concurrent
merges into one entry do not lose rows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal
from urllib.parse import quote, unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from market.bars import OHLCV_COLUMNS, Bars
from raytrader.errors import InputError
from market.timeframe import parse_timeframe
from market.validate import validate_bars

try:  # POSIX only; elsewhere merges are atomic but not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["ParquetStore", "StoreEntry", "OHLCV_SCHEMA", "bars_to_table", "table_to_bars"]

#: Arrow schema of a store file (metadata added per file)
OHLCV_SCHEMA = pa.schema(
    [pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False)]
    + [pa.field(c, pa.float64(), nullable=False) for c in OHLCV_COLUMNS[1:]]
)

_FILE = "bars.parquet"


@dataclass(frozen=True)
class StoreEntry:
    """One stored series.

    Attributes:
        venue, symbol, timeframe: the key (decoded).
        rows: number of bars.
        start_ms, end_ms: first and last bar open time (ms), None when empty.
        path: the Parquet file.
    """

    venue: str
    symbol: str
    timeframe: str
    rows: int
    start_ms: int | None
    end_ms: int | None
    path: Path

    def to_dict(self) -> dict[str, object]:
        return {
            "venue": self.venue, "symbol": self.symbol, "timeframe": self.timeframe, "rows": self.rows,
            "start_ms": self.start_ms, "end_ms": self.end_ms, "path": str(self.path),
        }


def bars_to_table(bars: Bars) -> pa.Table:
    """Arrow table of ``bars`` in :data:`OHLCV_SCHEMA` with venue/symbol/timeframe metadata."""
    arrays = [pa.array(bars.timestamp, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
    arrays += [pa.array(getattr(bars, c), type=pa.float64()) for c in OHLCV_COLUMNS[1:]]
    meta = {"venue": bars.venue, "symbol": bars.symbol, "timeframe": bars.timeframe}
    return pa.Table.from_arrays(arrays, schema=OHLCV_SCHEMA.with_metadata(meta))


def table_to_bars(table: pa.Table, symbol: str, timeframe: str, venue: str) -> Bars:
    """:class:`Bars` from a table in :data:`OHLCV_SCHEMA` (no validation)."""
    ts = table.column("timestamp").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    cols = {c: table.column(c).to_numpy() for c in OHLCV_COLUMNS[1:]}
    return Bars(timestamp=ts, **cols, symbol=symbol, timeframe=timeframe, venue=venue)


def _key(venue: str, symbol: str, timeframe: str) -> tuple[str, str, str]:
    for name, value in (("venue", venue), ("symbol", symbol)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"a store entry needs a non-empty {name} (got {value!r})")
    return venue, symbol, parse_timeframe(timeframe).text


class ParquetStore:
    """Bars on disk under ``root``; see the module docstring for the layout."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.root)!r})"

    @property
    def partition_root(self) -> Path:
        """Directory to open as a hive-partitioned dataset (venue, symbol, timeframe)."""
        return self.root / "ohlcv"

    def path_for(self, venue: str, symbol: str, timeframe: str) -> Path:
        """Where the entry's file lives (whether or not it exists)."""
        venue, symbol, timeframe = _key(venue, symbol, timeframe)
        return (
            self.partition_root / f"venue={quote(venue, safe='')}" / f"symbol={quote(symbol, safe='')}"
            / f"timeframe={timeframe}" / _FILE
        )

    def has(self, venue: str, symbol: str, timeframe: str) -> bool:
        """True when the entry exists."""
        return self.path_for(venue, symbol, timeframe).is_file()

    # ------------------------------------------------------------------ write
    def write(self, bars: Bars, mode: Literal["merge", "replace"] = "merge") -> Path:
        """Store ``bars`` under its venue/symbol/timeframe; return the file path.

        ``merge``: union with the stored rows by timestamp, the new rows win
        where both have a bar. ``replace``: the stored rows are dropped. The
        result is validated before anything is written.
        """
        if mode not in ("merge", "replace"):
            raise InputError(f"write mode must be 'merge' or 'replace', got {mode!r}")
        if not isinstance(bars, Bars):
            raise InputError(f"ParquetStore.write expects Bars, got {type(bars).__name__}")
        path = self.path_for(bars.venue, bars.symbol, bars.timeframe)
        source = f"store write {bars.venue} {bars.symbol} {bars.timeframe}"
        validate_bars(bars, source=source)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(path):
            if mode == "merge" and path.is_file():
                bars = _merge(self._read_file(path, bars.venue, bars.symbol, bars.timeframe), bars)
                validate_bars(bars, source=source)
            self._write_atomic(bars_to_table(bars), path)
        return path

    @staticmethod
    def _write_atomic(table: pa.Table, path: Path) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bars.", suffix=".tmp")  # dot: hidden from datasets
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @staticmethod
    @contextlib.contextmanager
    def _lock(path: Path) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(path.parent / ".lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------- read
    def read(self, venue: str, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None) -> Bars:
        """Stored bars with ``start_ms <= timestamp < end_ms`` (None: unbounded), validated.

        Raises :class:`InputError` naming the entry when it does not exist.
        """
        path = self.path_for(venue, symbol, timeframe)
        if not path.is_file():
            known = ", ".join(f"{e.venue} {e.symbol} {e.timeframe}" for e in self.entries()) or "none"
            raise InputError(
                f"no stored bars for venue {venue!r} symbol {symbol!r} timeframe {timeframe!r} in {self.root} (stored: {known})")
        bars = self._read_file(path, venue, symbol, parse_timeframe(timeframe).text)
        if start_ms is not None or end_ms is not None:
            bars = bars.slice(start_ms, end_ms)
        return bars

    @staticmethod
    def _read_file(path: Path, venue: str, symbol: str, timeframe: str) -> Bars:
        try:
            table = pq.read_table(path, columns=list(OHLCV_COLUMNS))
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{path}: cannot read store file: {exc}") from exc
        bars = table_to_bars(table, symbol=symbol, timeframe=timeframe, venue=venue)
        validate_bars(bars, source=str(path))
        return bars

    def find(self, symbol: str, timeframe: str | None = None, venue: str | None = None) -> StoreEntry:
        """The one stored series of ``symbol`` (narrowed by ``timeframe`` and ``venue`` when given).

        This is how users address the store (``--symbol BTC/USDT --timeframe 1h``),
        never by path. Raises :class:`InputError` naming the flags when nothing
        or more than one series matches, listing what the store holds.
        """
        tf = parse_timeframe(timeframe).text if timeframe else None
        entries = self.entries()
        chosen = [e for e in entries if e.symbol == symbol and (tf is None or e.timeframe == tf)
                  and (not venue or e.venue == venue)]
        if len(chosen) == 1:
            return chosen[0]
        have = ", ".join(f"{e.symbol} {e.timeframe} ({e.venue})" for e in entries) or "nothing"
        want = " ".join(f"{k} {v}" for k, v in (("--symbol", symbol), ("--timeframe", tf), ("--venue", venue)) if v)
        how = ("matches nothing" if not chosen else
               f"matches {len(chosen)} series ({', '.join(f'{e.timeframe} ({e.venue})' for e in chosen)}); "
               "add --timeframe or --venue")
        raise InputError(f"{want}: {how} in the data store {self.root} (it holds: {have}); add data with "
                         "`raytrader data import FILE --symbol S` or `raytrader data download`")

    def entries(self) -> list[StoreEntry]:
        """Every stored series, sorted by venue, symbol, timeframe length."""
        out = []
        if not self.partition_root.is_dir():
            return out
        for path in self.partition_root.glob(f"venue=*/symbol=*/timeframe=*/{_FILE}"):
            venue = unquote(path.parts[-4].split("=", 1)[1])
            symbol = unquote(path.parts[-3].split("=", 1)[1])
            timeframe = path.parts[-2].split("=", 1)[1]
            try:
                ts = pq.read_table(path, columns=["timestamp"]).column("timestamp")
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"{path}: cannot read store file: {exc}") from exc
            ints = ts.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy() if len(ts) else np.zeros(0, np.int64)
            out.append(StoreEntry(
                venue=venue, symbol=symbol, timeframe=timeframe, rows=len(ints),
                start_ms=int(ints[0]) if len(ints) else None, end_ms=int(ints[-1]) if len(ints) else None, path=path,
            ))
        return sorted(out, key=lambda e: (e.venue, e.symbol, _tf_sort_key(e.timeframe)))


def _tf_sort_key(timeframe: str) -> int:
    try:
        return parse_timeframe(timeframe).ms
    except InputError:
        return -1


def _merge(old: Bars, new: Bars) -> Bars:
    """Union by timestamp; on equal timestamps the row from ``new`` wins."""
    ts = np.concatenate((old.timestamp, new.timestamp))
    order = np.argsort(ts, kind="stable")  # stable: for equal times old comes before new
    ts_sorted = ts[order]
    keep_last = np.concatenate((ts_sorted[1:] != ts_sorted[:-1], [True])) if len(ts_sorted) else np.zeros(0, bool)
    idx = order[keep_last]
    cols = {c: np.concatenate((getattr(old, c), getattr(new, c)))[idx] for c in OHLCV_COLUMNS}
    return Bars(**cols, symbol=new.symbol, timeframe=new.timeframe, venue=new.venue)
