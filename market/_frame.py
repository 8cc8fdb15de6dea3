"""Column coercion shared by :mod:`market.bars` and :mod:`market.validate` (internal).

Turns pandas columns into numpy arrays of the schema's types, raising
:class:`~market.errors.DataValidationError` with the rule and the zero-based
row positions at fault. Row 0 is the first data row (the line after a CSV
header).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from market.errors import DataValidationError

__all__ = [
    "MIN_MS", "MAX_MS", "fail", "normalise_columns", "require_columns", "timestamps_to_ms", "numeric_column",
]

#: integer timestamps must be epoch milliseconds in [1973-03-03, 2100-01-01):
#: smaller values are almost always seconds, larger ones micro/nanoseconds.
MIN_MS = 100_000_000_000
MAX_MS = 4_102_444_800_000

_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def fail(rule: str, mask: np.ndarray, detail: str, source: str) -> None:
    """Raise :class:`DataValidationError` for the rows where ``mask`` is true.

    The error keeps the first 20 positions and the full count.
    """
    raise DataValidationError(rule, np.flatnonzero(np.asarray(mask, dtype=bool)), detail, source)


def normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case, strip column names; move a ``timestamp`` index into a column."""
    has_column = "timestamp" in [str(c).strip().lower() for c in frame.columns]
    if not has_column and str(frame.index.name or "").strip().lower() == "timestamp":
        frame = frame.reset_index()
    renamed = {c: str(c).strip().lower() for c in frame.columns}
    if any(str(k) != v for k, v in renamed.items()):
        frame = frame.rename(columns=renamed)
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise rule ``missing_columns`` unless every name in ``columns`` is present."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = ", ".join(str(c) for c in frame.columns) or "none"
        raise DataValidationError(
            "missing_columns", [],
            f"missing column(s) {', '.join(missing)}; found: {present}; required: {', '.join(columns)}", source,
        )
    dupes = [c for c in columns if list(frame.columns).count(c) > 1]
    if dupes:
        raise DataValidationError("missing_columns", [], f"column(s) {', '.join(dupes)} appear more than once", source)


def _datetimes_to_ms(values: pd.Series, source: str, allow_sub_ms: bool) -> np.ndarray:
    ser = values
    if isinstance(ser.dtype, pd.DatetimeTZDtype):
        ser = ser.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = ser.to_numpy()
    unit = np.datetime_data(arr.dtype)[0]
    if unit not in _NS_PER:
        arr = arr.astype("datetime64[ns]")
        unit = "ns"
    nat = np.isnat(arr)
    if nat.any():
        fail("timestamp_invalid", nat, "timestamp is missing (NaT)", source)
    ints = arr.view("int64")
    if unit == "s":
        return ints * 1000
    if unit == "ms":
        return ints.astype(np.int64, copy=True)
    per_ms = _NS_PER["ms"] // _NS_PER[unit]
    rem = ints % per_ms
    if not allow_sub_ms and rem.any():
        fail("timestamp_resolution", rem != 0, "timestamps must be whole milliseconds", source)
    return ints // per_ms


def _ints_to_ms(ints: np.ndarray, source: str) -> np.ndarray:
    ints = ints.astype(np.int64, copy=False)
    out = (ints < MIN_MS) | (ints >= MAX_MS)
    if out.any():
        first = int(ints[np.flatnonzero(out)[0]])
        fail(
            "timestamp_unit", out,
            f"integer timestamps must be UTC milliseconds since the epoch between 1973 and 2100 (got {first}; "
            "seconds, microseconds or nanoseconds are not accepted)", source,
        )
    return ints.copy()


def timestamps_to_ms(values: pd.Series, source: str = "", allow_sub_ms: bool = False) -> np.ndarray:
    """UTC int64 ms from datetime64 (tz-aware, or naive meaning UTC), int ms or ISO-8601 strings.

    Rules: ``timestamp_invalid`` (missing or unparseable), ``timestamp_unit``
    (integers outside epoch-ms range), ``timestamp_resolution`` (sub-ms part,
    unless ``allow_sub_ms``, in which case it is floored).
    """
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetimes_to_ms(values, source, allow_sub_ms)
    if pd.api.types.is_bool_dtype(dtype):
        fail("timestamp_invalid", np.ones(len(values), bool), "timestamps are booleans", source)
    if pd.api.types.is_integer_dtype(dtype):
        if values.isna().any():  # nullable Int64
            fail("timestamp_invalid", values.isna().to_numpy(), "timestamp is missing", source)
        return _ints_to_ms(values.to_numpy(dtype=np.int64), source)
    if pd.api.types.is_float_dtype(dtype):
        return _floats_to_ms(values.to_numpy(dtype=np.float64, na_value=np.nan), source)
    # strings / objects: numbers written as text, else ISO-8601
    numeric = pd.to_numeric(values, errors="coerce")
    if len(values) and numeric.notna().all():
        return _floats_to_ms(numeric.to_numpy(dtype=np.float64, na_value=np.nan), source)
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = values.iloc[int(np.flatnonzero(bad)[0])]
        fail("timestamp_invalid", bad, f"timestamp {first!r} is not ISO-8601 UTC or epoch milliseconds", source)
    return _datetimes_to_ms(parsed, source, allow_sub_ms)


def _floats_to_ms(floats: np.ndarray, source: str) -> np.ndarray:
    bad = ~np.isfinite(floats)
    if bad.any():
        fail("timestamp_invalid", bad, "timestamp is missing or not finite", source)
    frac = floats != np.floor(floats)
    if frac.any():
        fail("timestamp_resolution", frac, "integer-millisecond timestamps have a fractional part", source)
    out = (floats < MIN_MS) | (floats >= MAX_MS)
    if out.any():
        fail(
            "timestamp_unit", out,
            f"integer timestamps must be UTC milliseconds since the epoch between 1973 and 2100 (got {floats[out][0]:.0f})",
            source,
        )
    return floats.astype(np.int64)


def numeric_column(frame: pd.DataFrame, name: str, source: str = "") -> np.ndarray:
    """Column ``name`` as float64; rule ``non_numeric`` for text that is not a number.

    Empty cells become NaN (caught later by the ``finite`` rule).
    """
    col = frame[name]
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        fail("non_numeric", np.ones(len(col), bool), f"column {name!r} holds booleans, not numbers", source)
    if pd.api.types.is_numeric_dtype(dtype):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        fail("non_numeric", np.ones(len(col), bool), f"column {name!r} holds dates, not numbers", source)
    numeric = pd.to_numeric(col, errors="coerce")
    bad = (numeric.isna() & col.notna()).to_numpy()
    if bad.any():
        first = col.iloc[int(np.flatnonzero(bad)[0])]
        fail("non_numeric", bad, f"column {name!r} holds {first!r}, which is not a number", source)
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan)
