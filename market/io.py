"""Reading bar files (CSV, Parquet, Feather): every load is validated.

Formats are chosen by extension:

* ``.csv`` (also ``.csv.gz``, ``.csv.zst``...): header row with the OHLCV
  columns; timestamps as epoch ms or ISO-8601 (naive means UTC).
* ``.parquet`` / ``.pq`` and ``.feather`` / ``.arrow`` / ``.ipc``: the same
  columns; ``venue``, ``symbol`` and ``timeframe`` are taken from the schema
  metadata when not passed (the files in ``market/samples`` carry them).

Arguments win over metadata. Without a timeframe from either,
:class:`~market.errors.InputError` asks for ``--timeframe``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from market.bars import Bars
from raytrader.errors import InputError
from market.validate import ValidationReport, validate_bars

__all__ = ["read_bars", "read_table", "file_metadata", "BAR_FILE_SUFFIXES"]

_CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz", ".csv.zip")
_PARQUET = (".parquet", ".pq")
_FEATHER = (".feather", ".arrow", ".ipc")
#: extensions :func:`read_bars` understands
BAR_FILE_SUFFIXES = _CSV + _PARQUET + _FEATHER


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


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Raw contents of a CSV/Parquet/Feather file and its schema metadata (unvalidated).

    The metadata is ``{}`` for CSV; the ``pandas`` key is dropped.
    """
    path = _check_path(path)
    kind = _kind(path)
    if kind == "csv":
        try:
            return pd.read_csv(path), {}
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{path}: cannot read as CSV: {exc}") from exc
    table = _arrow_table(path, kind)
    meta = _decode_metadata(table.schema.metadata)
    return table.to_pandas(), meta


def _decode_metadata(raw: dict[bytes, bytes] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (raw or {}).items():
        key = k.decode("utf-8", "replace")
        if key != "pandas":
            out[key] = v.decode("utf-8", "replace")
    return out


def file_metadata(path: str | Path) -> dict[str, str]:
    """Schema metadata of a Parquet/Feather file (``venue``, ``symbol``, ``timeframe``...); ``{}`` for CSV."""
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
    return {}


def read_bars(
    path: str | Path, symbol: str | None = None, timeframe: str | None = None, venue: str | None = None,
) -> tuple[Bars, ValidationReport]:
    """Load and validate OHLCV bars from ``path``; return them with the validation report.

    Raises :class:`~market.errors.InputError` for a missing/unreadable file,
    an unknown extension or no timeframe, and
    :class:`~market.errors.DataValidationError` for a broken rule (see
    :mod:`market.validate`). ``symbol`` and ``venue`` fall back to the file's
    metadata, then to ``""``.
    """
    frame, meta = read_table(path)
    timeframe = timeframe or meta.get("timeframe")
    if not timeframe:
        raise InputError(f"{path}: the file does not say its timeframe; pass --timeframe (e.g. --timeframe 1m)")
    source = str(path)
    bars = Bars.from_frame(
        frame, symbol=symbol or meta.get("symbol", ""), timeframe=timeframe, venue=venue or meta.get("venue", ""), source=source,
    )
    report = validate_bars(bars, source=source)
    return bars, report
