"""Reading bar files (CSV, Parquet, Feather): every load is validated.

Formats are chosen by extension:

* ``.csv`` (also ``.csv.gz``, ``.csv.bz2``, ``.csv.xz``, ``.csv.zip``,
  ``.csv.zst``): a header row, then one bar per line. Layouts are read as
  pandas, Yahoo Finance and exchanges write them (see :mod:`market._frame`):
  a ``Date``/``Datetime``/``time``/``timestamp`` column in any case, epoch
  seconds/ms/us/ns, ISO-8601 strings or dates, an ``Adj Close`` column, and
  yfinance's three-row header (``Price,Close,...`` / ``Ticker,AAPL,...`` /
  ``Date,,...``, whose ticker becomes the symbol), and files with no header
  row: Binance's kline dumps (12 columns, :data:`BINANCE_KLINE_COLUMNS`) or
  six columns in OHLCV order. ``columns`` maps any
  other names (``{"timestamp": "Date", "close": "Adj Close"}``, the CLI's
  ``--columns timestamp=Date,close=Adj Close``).
* ``.parquet`` / ``.pq`` and ``.feather`` / ``.arrow`` / ``.ipc``: the same
  columns; ``venue``, ``symbol`` and ``timeframe`` are taken from the schema
  metadata when not passed (the files in ``market/samples`` carry them).

Arguments win over metadata. Without a timeframe from either it is inferred
from the timestamps (:func:`market.timeframe.infer_timeframe`, strict mode:
the most common spacing, so weekends, holidays and gaps do not change it);
:attr:`ValidationReport.timeframe_source` says which. A file with a header
but no rows, an unreadable or corrupt file (a bad zip, xz, gzip or zstd
stream) raise :class:`~market.errors.InputError` naming the file.
"""

from __future__ import annotations

import lzma
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Mapping

import pandas as pd
import pyarrow as pa

from market._frame import TIMESTAMP_ALIASES, time_column, timestamps_to_ms
from market.bars import OHLCV_COLUMNS, TRADE_COLUMNS, Bars, frame_to_arrays
from market.errors import DataValidationError
from market.timeframe import fitting_timeframe, infer_timeframe
from market.validate import ValidationReport, validate_bars
from raytrader.errors import InputError

__all__ = ["read_bars", "bars_from_table", "read_table", "file_metadata", "parse_columns", "require_rows", "BAR_FILE_SUFFIXES",
           "COLUMN_TARGETS", "BINANCE_KLINE_COLUMNS"]

_CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz", ".csv.zip")
_PARQUET = (".parquet", ".pq")
_FEATHER = (".feather", ".arrow", ".ipc")
#: extensions :func:`read_bars` understands
BAR_FILE_SUFFIXES = _CSV + _PARQUET + _FEATHER
#: the names ``columns`` may map to
COLUMN_TARGETS = tuple(dict.fromkeys((*OHLCV_COLUMNS, *TRADE_COLUMNS, "funding_rate")))


def _csv_errors() -> tuple[type[BaseException], ...]:
    """What a corrupt or truncated CSV stream raises through pandas (each codec its own)."""
    errors: list[type[BaseException]] = [OSError, ValueError, EOFError, ImportError, zipfile.BadZipFile,
                                         lzma.LZMAError, pd.errors.ParserError]
    try:
        import zstandard  # noqa: PLC0415 - optional codec, only to name its error type

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover - a dependency; pandas then raises ImportError, caught above
        pass
    return tuple(errors)


def _kind(path: Path) -> str:
    name = path.name.lower()
    for kind, suffixes in (("csv", _CSV), ("parquet", _PARQUET), ("feather", _FEATHER)):
        if name.endswith(suffixes):
            return kind
    found = "".join(path.suffixes) or "(no extension)"
    raise InputError(f"{path}: unknown file type {found}; use one of {', '.join(BAR_FILE_SUFFIXES)}")


def _arrow_table(path: Path, kind: str) -> pa.Table:
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415 - deferred: keeps this module cheap to import

            return pq.read_table(path)
        import pyarrow.feather as feather  # noqa: PLC0415 - deferred: keeps this module cheap to import

        return feather.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read as {kind}: {exc}") from exc


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    return path


def parse_columns(text: str, flag: str = "--columns") -> dict[str, str]:
    """``"timestamp=Date,close=Adj Close"`` -> ``{"timestamp": "Date", "close": "Adj Close"}``.

    Targets are :data:`COLUMN_TARGETS` (any case); sources are the file's
    column names as written (matched ignoring case and surrounding spaces).
    Raises :class:`InputError` naming ``flag`` for a malformed or repeated pair.
    """
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        target, sep, source = part.partition("=")
        target, source = target.strip().lower(), source.strip()
        if not sep or not target or not source:
            raise InputError(f"{flag} {part.strip()[:60]!r}: expected NAME=COLUMN, e.g. {flag} timestamp=Date,close=Adj Close")
        if target not in COLUMN_TARGETS:
            raise InputError(f"{flag} {target[:40]!r}: not a column name here; use one of {', '.join(COLUMN_TARGETS)}")
        if target in out:
            raise InputError(f"{flag}: {target} is given twice")
        out[target] = source
    if not out:
        raise InputError(f"{flag} {text!r}: expected NAME=COLUMN pairs, e.g. {flag} timestamp=Date,close=Adj Close")
    return out


def _apply_columns(frame: pd.DataFrame, columns: Mapping[str, str], path: Path) -> pd.DataFrame:
    """Rename the mapped source columns to their targets; a column already holding a target's name is dropped."""
    key = {str(c).strip().lower(): c for c in frame.columns}
    renames: dict[object, str] = {}
    for target, source in columns.items():
        found = key.get(source.strip().lower())
        if found is None:
            have = ", ".join(str(c) for c in frame.columns) or "none"
            raise InputError(f"--columns {target}={source}: {path} has no column {source!r}; its columns: {have}")
        renames[found] = target
    sources = set(renames)
    drop = [c for c in frame.columns if c not in sources and str(c).strip().lower() in columns]
    return frame.drop(columns=drop).rename(columns=renames)


def _yfinance_header(path: Path) -> tuple[int, str, str] | None:
    """yfinance >= 0.2.51 writes ``Price,Close,...`` / ``Ticker,AAPL,...`` / ``Date,,...``: the time
    column's name, the ticker and how many header rows to skip; None for any other layout."""
    try:
        head = pd.read_csv(path, header=None, nrows=3, dtype=str, keep_default_na=False)
    except _csv_errors():
        return None  # the full read reports it
    if head.shape[0] < 3 or head.shape[1] < 2:
        return None
    first = [str(v).strip().lower() for v in head.iloc[:, 0]]
    rest_empty = all(not str(v).strip() for v in head.iloc[2, 1:])
    if first[0] == "price" and first[1] == "ticker" and first[2] in ("date", "datetime") and rest_empty:
        tickers = {str(v).strip() for v in head.iloc[1, 1:] if str(v).strip()}
        return 2, str(head.iloc[2, 0]).strip(), (tickers.pop() if len(tickers) == 1 else "")
    return None


#: column names of a header-less Binance klines CSV (data.binance.vision): 12 columns, open time in ms or us
BINANCE_KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
                         "trades", "taker_buy_volume", "taker_buy_quote_volume", "ignore")


def _headerless_names(path: Path) -> tuple[str, ...] | None:
    """Names for a CSV without a header row: Binance's 12 kline columns, or 6 in OHLCV order; None when
    the first row is a header (any cell that is not a number)."""
    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    except _csv_errors():
        return None  # the full read reports it
    if first.shape[0] == 0 or pd.to_numeric(first.iloc[0], errors="coerce").isna().any():
        return None
    return {12: BINANCE_KLINE_COLUMNS, 6: OHLCV_COLUMNS}.get(first.shape[1])


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    try:
        yahoo = _yfinance_header(path)
        if yahoo is None:
            names = _headerless_names(path)
            return (pd.read_csv(path) if names is None else pd.read_csv(path, header=None, names=list(names))), {}
        skip, time_name, ticker = yahoo
        frame = pd.read_csv(path, header=0, skiprows=range(1, 1 + skip))
        frame = frame.rename(columns={frame.columns[0]: time_name})
        return frame, ({"symbol": ticker} if ticker else {})
    except _csv_errors() as exc:
        raise InputError(f"{path}: cannot read as CSV: {type(exc).__name__}: {exc}") from exc


def read_table(path: str | Path, columns: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Contents of a CSV/Parquet/Feather file and its metadata (unvalidated), ``columns`` mapped, the
    time column named ``timestamp`` (``Date``, ``Datetime``, ``time``... as :mod:`market._frame` finds it)
    and, when all of it converts, made ``datetime64[ms, UTC]``.

    The metadata is the schema's (the ``pandas`` key dropped) for Parquet and
    Feather; for CSV, ``{"symbol": ticker}`` from a yfinance header, else ``{}``.
    """
    path = _check_path(path)
    kind = _kind(path)
    if kind == "csv":
        frame, meta = _read_csv(path)
    else:
        table = _arrow_table(path, kind)
        frame, meta = table.to_pandas(), _decode_metadata(table.schema.metadata)
    if columns:
        frame = _apply_columns(frame, columns, path)
    return _utc_time_column(_name_time_column(frame)), meta


def _utc_time_column(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``timestamp`` column as ``datetime64[ms, UTC]`` when every value converts (ISO text, offsets,
    local-midnight dates, epoch s/ms/us/ns: :func:`market._frame.timestamps_to_ms`), so every reader of
    the table sees the same instants; left as written otherwise, for validation to name the row."""
    if "timestamp" not in frame.columns or len(frame) == 0:
        return frame
    try:
        ms = timestamps_to_ms(frame["timestamp"])
    except DataValidationError:
        return frame
    frame = frame.copy()
    frame["timestamp"] = pd.to_datetime(ms, unit="ms", utc=True).as_unit("ms")
    return frame


def _name_time_column(frame: pd.DataFrame) -> pd.DataFrame:
    """The time column (:func:`market._frame.time_column`, or an index of such a name) renamed
    ``timestamp``; the other names are left as written (a panel's tickers keep their case)."""
    label = time_column(frame)
    if label is None:
        index_names = [str(n or "").strip().lower() for n in frame.index.names]
        if any(n in TIMESTAMP_ALIASES for n in index_names):
            frame = frame.reset_index()
            label = time_column(frame)
    if label is None or label == "timestamp":
        return frame
    return frame.rename(columns={label: "timestamp"})


def require_rows(frame: pd.DataFrame, source: str) -> None:
    """Rule ``no_rows``: a file must hold at least one data row (a header alone is refused)."""
    if len(frame) == 0:
        raise DataValidationError("no_rows", [], "the file has no data rows (a header only, or nothing)", source)


def _decode_metadata(raw: dict[bytes, bytes] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (raw or {}).items():
        key = k.decode("utf-8", "replace")
        if key != "pandas":
            out[key] = v.decode("utf-8", "replace")
    return out


def file_metadata(path: str | Path) -> dict[str, str]:
    """Schema metadata of a Parquet/Feather file (``venue``, ``symbol``, ``timeframe``...); for CSV,
    the ticker of a yfinance header as ``symbol``, else ``{}``."""
    path = _check_path(path)
    kind = _kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415 - deferred: keeps this module cheap to import

        try:
            return _decode_metadata(pq.read_schema(path).metadata)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{path}: cannot read as parquet: {exc}") from exc
    if kind == "feather":
        return _decode_metadata(_arrow_table(path, kind).schema.metadata)
    yahoo = _yfinance_header(path)
    return {"symbol": yahoo[2]} if yahoo and yahoo[2] else {}


def read_bars(
    path: str | Path, symbol: str | None = None, timeframe: str | None = None, venue: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> tuple[Bars, ValidationReport]:
    """Load and validate OHLCV bars from ``path``; return them with the validation report.

    ``timeframe`` falls back to the file's metadata, then to the one
    inferred from the timestamps (``report.timeframe_source`` is
    ``"argument"``, ``"file"`` or ``"inferred"``). ``symbol`` and ``venue``
    fall back to the file's metadata, then to ``""``.

    Raises :class:`~market.errors.InputError` for a missing/unreadable file,
    an unknown extension or a timeframe that cannot be inferred, and
    :class:`~market.errors.DataValidationError` for a broken rule (see
    :mod:`market.validate`; ``no_rows`` for a header-only file). When an
    inferred timeframe breaks the grid, the error says which timeframe fits.
    """
    frame, meta = read_table(path, columns)
    return bars_from_table(frame, meta, str(path), symbol=symbol, timeframe=timeframe, venue=venue)


def bars_from_table(
    frame: pd.DataFrame, meta: Mapping[str, str], source: str, *, symbol: str | None = None,
    timeframe: str | None = None, venue: str | None = None,
) -> tuple[Bars, ValidationReport]:
    """The second half of :func:`read_bars`, for a table already read by :func:`read_table`."""
    require_rows(frame, source)
    arrays = frame_to_arrays(frame, source)
    origin = "argument" if timeframe else "file" if meta.get("timeframe") else "inferred"
    timeframe = timeframe or meta.get("timeframe")
    if not timeframe:
        try:
            timeframe = infer_timeframe(arrays["timestamp"], strict=True)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
    bars = Bars(**arrays, symbol=symbol or meta.get("symbol", ""), timeframe=timeframe,
                venue=venue or meta.get("venue", ""))
    try:
        report = validate_bars(bars, source=source)
    except DataValidationError as exc:
        fits = fitting_timeframe(bars.timestamp) if origin == "inferred" and exc.rule in ("grid_alignment", "spacing") else None
        if fits is None or fits == bars.timeframe:
            raise
        raise DataValidationError(exc.rule, list(exc.rows),
                                  f"{exc.detail} (timeframe {bars.timeframe} was inferred from the most common "
                                  f"spacing; every bar fits {fits}: pass --timeframe {fits})", source) from None
    return bars, replace(report, timeframe_source=origin)
