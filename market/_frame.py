"""Column coercion shared by :mod:`market.bars` and :mod:`market.validate` (internal).

Turns pandas columns into numpy arrays of the schema's types, raising
:class:`~market.errors.DataValidationError` with the rule and the zero-based
row positions at fault. Row 0 is the first data row (the line after a CSV
header).

Layouts read as they come (what pandas, Yahoo Finance and exchanges write):

* column names in any case; the time column may be called ``timestamp``,
  ``datetime``, ``date``, ``time``, ``open_time`` or ``open time`` (the
  first present, in that order), or be the frame's index under one of
  those names (``df.to_csv()`` of a ``DatetimeIndex`` named ``Date``), or
  the unnamed first column of ``df.to_csv()`` of an unnamed index
  (``Unnamed: 0`` as pandas reads it back);
* ``adj close`` stands in for ``close`` only when there is no ``close``
  (otherwise it is ignored: the OHLC prices are the traded ones);
* integer or float timestamps in epoch seconds, milliseconds, microseconds
  or nanoseconds, the unit told by their size (1973..2100 in each unit);
  ISO-8601 strings and plain dates; datetimes with a time-zone offset are
  converted to UTC, except that a series whose every time is local
  midnight (Yahoo's daily ``2018-01-02 00:00:00-05:00``) is taken as dates:
  each bar is labelled 00:00 UTC of its own day, as daily bars are here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from market.errors import DataValidationError

__all__ = [
    "MIN_MS", "MAX_MS", "TIMESTAMP_ALIASES", "fail", "time_column", "normalise_columns", "require_columns", "timestamps_to_ms",
    "numeric_column",
]

#: integer timestamps must be epoch milliseconds in [1973-03-03, 2100-01-01):
#: smaller values are almost always seconds, larger ones micro/nanoseconds.
MIN_MS = 100_000_000_000
MAX_MS = 4_102_444_800_000

_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

#: names the time column may have (lower case), in order of preference
TIMESTAMP_ALIASES = ("timestamp", "datetime", "date", "time", "open_time", "open time", "unnamed: 0")

#: epoch units of numeric timestamps, told apart by size: each accepts [MIN_MS, MAX_MS) in its own unit
_EPOCH_UNITS = ("s", "ms", "us", "ns")


def fail(rule: str, mask: np.ndarray, detail: str, source: str) -> None:
    """Raise :class:`DataValidationError` for the rows where ``mask`` is true.

    The error keeps the first 20 positions and the full count.
    """
    raise DataValidationError(rule, np.flatnonzero(np.asarray(mask, dtype=bool)), detail, source)


def time_column(frame: pd.DataFrame) -> object | None:
    """The label of ``frame``'s time column (first of :data:`TIMESTAMP_ALIASES` present, any case; an
    ``Unnamed: 0`` column only when it does not hold plain integers, i.e. is not a written RangeIndex)."""
    names = [str(c).strip().lower() for c in frame.columns]
    for alias in TIMESTAMP_ALIASES:
        if alias in names:
            label = frame.columns[names.index(alias)]
            if alias == "unnamed: 0" and pd.api.types.is_integer_dtype(frame[label].dtype):
                return None
            return label
    return None


def normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case and strip column names; find the time column (see the module docstring) and call it
    ``timestamp``; let ``adj close`` stand in for a missing ``close``."""
    if time_column(frame) is None:
        index_names = [str(n or "").strip().lower() for n in frame.index.names]
        if any(n in TIMESTAMP_ALIASES for n in index_names):
            frame = frame.reset_index()
    names = [str(c).strip().lower() for c in frame.columns]
    label = time_column(frame)
    renamed = {c: ("timestamp" if c == label else n) for c, n in zip(frame.columns, names)}
    if "close" not in names and "adj close" in names:
        renamed = {c: ("close" if n == "adj close" else n) for c, n in renamed.items()}
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


def _unit_bounds(unit: str) -> tuple[float, float]:
    """[low, high) of epoch values in ``unit`` that are 1973-03-03 .. 2100-01-01."""
    scale = _NS_PER[unit] / _NS_PER["ms"]  # ms per unit
    return MIN_MS / scale, MAX_MS / scale


def _epoch_unit(values: np.ndarray) -> str | None:
    """The epoch unit of most values (by the median), None when it is none of them."""
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.shape[0] == 0:
        return None
    mid = float(np.median(finite))
    return next((u for u in _EPOCH_UNITS if _unit_bounds(u)[0] <= mid < _unit_bounds(u)[1]), None)


def _check_epoch_range(values: np.ndarray, unit: str | None, source: str) -> str:
    low, high = _unit_bounds(unit or "ms")
    out = (values < low) | (values >= high)
    if unit is None or out.any():
        first = values[np.flatnonzero(out)[0]] if out.any() else values[0]
        fail(
            "timestamp_unit", out if out.any() else np.ones(len(values), bool),
            f"numeric timestamps must be epoch seconds, milliseconds, microseconds or nanoseconds (UTC) between "
            f"1973 and 2100; most are {unit or 'none of these'}, and {first:.0f} is not", source,
        )
    return unit  # type: ignore[return-value]


def _ints_to_ms(ints: np.ndarray, source: str, allow_sub_ms: bool = False) -> np.ndarray:
    ints = ints.astype(np.int64, copy=False)
    unit = _check_epoch_range(ints, _epoch_unit(ints), source)
    if unit == "s":
        return ints * 1000
    if unit == "ms":
        return ints.copy()
    per_ms = _NS_PER["ms"] // _NS_PER[unit]
    rem = ints % per_ms
    if not allow_sub_ms and rem.any():
        fail("timestamp_resolution", rem != 0, f"epoch {unit} timestamps must be whole milliseconds", source)
    return ints // per_ms


def timestamps_to_ms(values: pd.Series, source: str = "", allow_sub_ms: bool = False) -> np.ndarray:
    """UTC int64 ms from datetime64 (tz-aware, or naive meaning UTC), epoch numbers (s/ms/us/ns, told by
    size) or ISO-8601 strings and dates; a series of local midnights is taken as dates (module docstring).

    Rules: ``timestamp_invalid`` (missing or unparseable), ``timestamp_unit``
    (numbers outside 1973..2100 in the unit most of them are in),
    ``timestamp_resolution`` (sub-ms part, unless ``allow_sub_ms``, in which
    case it is floored).
    """
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetimes_to_ms(_dates_if_local_midnights(values), source, allow_sub_ms)
    if pd.api.types.is_bool_dtype(dtype):
        fail("timestamp_invalid", np.ones(len(values), bool), "timestamps are booleans", source)
    if pd.api.types.is_integer_dtype(dtype):
        if values.isna().any():  # nullable Int64
            fail("timestamp_invalid", values.isna().to_numpy(), "timestamp is missing", source)
        return _ints_to_ms(values.to_numpy(dtype=np.int64), source, allow_sub_ms)
    if pd.api.types.is_float_dtype(dtype):
        return _floats_to_ms(values.to_numpy(dtype=np.float64, na_value=np.nan), source, allow_sub_ms)
    # strings / objects: numbers written as text (when the first one is), else ISO-8601
    text = values.astype("string").str.strip()
    if len(values) and _is_number(text.iloc[0]):
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            return _floats_to_ms(numeric.to_numpy(dtype=np.float64, na_value=np.nan), source, allow_sub_ms)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = values.iloc[int(np.flatnonzero(bad)[0])]
        fail("timestamp_invalid", bad, f"timestamp {first!r} is not an ISO-8601 date/time or an epoch number", source)
    if not _all_midnight(parsed) and _all_local_midnight(text):
        parsed = pd.to_datetime(text.str.slice(0, 10), errors="coerce", format="%Y-%m-%d").dt.tz_localize("UTC")
    return _datetimes_to_ms(parsed, source, allow_sub_ms)


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _all_local_midnight(text: pd.Series) -> bool:
    """True when every ISO string is ``YYYY-MM-DD 00:00:00`` (or ``T``) followed by a UTC offset."""
    head = text.str.slice(10, 19)
    if not head.isin((" 00:00:00", "T00:00:00")).all():
        return False
    rest = text.str.slice(19).str.lstrip(".0").str.strip()  # a zero fraction (".000") before the offset
    return bool(rest.str.fullmatch(r"Z|[+-]\d{2}:?\d{2}").all())


def _all_midnight(ser: pd.Series) -> bool:
    """True when ``ser`` (datetimes, no NaT) has at least one value and every one is 00:00:00.000."""
    if len(ser) == 0 or ser.isna().any():
        return False
    return bool((ser.dt.normalize() == ser).all())


def _dates_if_local_midnights(values: pd.Series) -> pd.Series:
    """A tz-aware series whose every local time is midnight, as naive dates (UTC midnight); else as is."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        return values
    wall = values.dt.tz_localize(None)
    if _all_midnight(wall) and not _all_midnight(values.dt.tz_convert("UTC")):
        return wall
    return values


def _floats_to_ms(floats: np.ndarray, source: str, allow_sub_ms: bool = False) -> np.ndarray:
    bad = ~np.isfinite(floats)
    if bad.any():
        fail("timestamp_invalid", bad, "timestamp is missing or not finite", source)
    unit = _check_epoch_range(floats, _epoch_unit(floats), source)
    ms = floats * (_NS_PER[unit] / _NS_PER["ms"])
    whole = np.floor(ms + 1e-3) if allow_sub_ms else np.rint(ms)
    frac = np.abs(ms - whole) > 1e-3  # float seconds carry ~1e-4 ms of rounding noise
    if not allow_sub_ms and frac.any():
        fail("timestamp_resolution", frac, f"epoch {unit} timestamps must be whole milliseconds", source)
    return whole.astype(np.int64)


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
