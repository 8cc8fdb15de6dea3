"""Validation of OHLCV bars, trades, close-price panels and funding series.

Every hard rule raises :class:`~market.errors.DataValidationError` carrying
the rule name and the zero-based row positions at fault (row 0 is the first
data row). Rules, in the order they are checked:

OHLCV (:func:`validate_bars`):

==========================  ==================================================
``missing_columns``         ``timestamp open high low close volume`` present
``non_numeric``             price/volume cells are numbers
``timestamp_invalid``       timestamps present and parseable
``timestamp_unit``          integer timestamps are epoch *milliseconds*
``timestamp_resolution``    timestamps are whole milliseconds
``finite``                  no NaN / inf in prices or volume
``timestamps_sorted``       timestamps non-decreasing
``timestamps_unique``       no repeated timestamp
``prices_positive``         open, high, low, close > 0
``high_ge_open_close``      high >= max(open, close)
``low_le_open_close``       low <= min(open, close)
``volume_non_negative``     volume >= 0
``spacing``                 every delta a positive whole multiple of the
                            timeframe
``grid_alignment``          each timestamp on the timeframe grid (see
                            :mod:`market.timeframe`: epoch multiples; weeks
                            from Monday 1970-01-05, as Binance and ccxt)
==========================  ==================================================

Gaps (deltas of k > 1 bars) are not errors: they are reported in
:class:`ValidationReport` and never filled.

Trades (:func:`validate_trades`): ``missing_columns``, ``non_numeric``,
timestamp rules, ``finite``, ``timestamps_sorted`` (equal times allowed),
``trade_price_positive``, ``trade_amount_positive``, ``trade_side``
(``buy``/``sell``).

All checks are vectorised numpy: a few tens of milliseconds per million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from market._frame import MAX_MS, MIN_MS, fail, normalise_columns, numeric_column, require_columns, timestamps_to_ms
from market.bars import OHLCV_COLUMNS, TRADE_COLUMNS, Bars, frame_to_arrays
from raytrader.errors import InputError
from market.timeframe import parse_timeframe

__all__ = [
    "Gap", "ValidationReport", "EventsReport",
    "validate_bars", "validate_trades", "validate_close_panel", "validate_funding",
    "FUNDING_COLUMNS", "MIN_MS", "MAX_MS",
]

#: columns of a funding-rate series (rate is a fraction per funding interval)
FUNDING_COLUMNS = ("timestamp", "funding_rate")

_MAX_GAPS_KEPT = 10_000


@dataclass(frozen=True)
class Gap:
    """Missing bars between two consecutive rows.

    Attributes:
        after_ms: open time of the last bar before the gap (ms).
        before_ms: open time of the first bar after the gap (ms).
        missing_bars: bars absent between them, ``(before - after) / tf - 1`` (>= 1).
    """

    after_ms: int
    before_ms: int
    missing_bars: int


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of a passed validation of a regular (timeframe) series.

    Attributes:
        n_rows: rows checked.
        start_ms, end_ms: first and last timestamp (ms), None when empty.
        gaps: every gap, in time order (at most the first 10,000 are kept;
            ``n_gaps`` and ``n_missing`` always count all of them).
        n_missing: total missing bars over all gaps.
        n_gaps: number of gaps.
        timeframe: the timeframe checked against.
        source: the file or description validated.
        timeframe_source: where the timeframe came from when a file was read
            (``"argument"``, ``"file"`` metadata or ``"inferred"`` from the
            timestamps); ``""`` otherwise.
    """

    n_rows: int
    start_ms: int | None
    end_ms: int | None
    gaps: tuple[Gap, ...]
    n_missing: int
    n_gaps: int = 0
    timeframe: str = ""
    source: str = ""
    timeframe_source: str = ""

    @property
    def expected_rows(self) -> int:
        """Rows a gap-free series over the same span would have."""
        return self.n_rows + self.n_missing

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (gaps as lists of ``[after_ms, before_ms, missing_bars]``)."""
        return {
            "n_rows": self.n_rows, "start_ms": self.start_ms, "end_ms": self.end_ms,
            "timeframe": self.timeframe, "source": self.source, "timeframe_source": self.timeframe_source,
            "n_gaps": self.n_gaps, "n_missing": self.n_missing,
            "gaps": [[g.after_ms, g.before_ms, g.missing_bars] for g in self.gaps],
        }


@dataclass(frozen=True)
class EventsReport:
    """Outcome of a passed validation of an irregular event series (trades, funding).

    Attributes:
        n_rows: rows checked.
        start_ms, end_ms: first and last timestamp (ms), None when empty.
        source: the file or description validated.
    """

    n_rows: int
    start_ms: int | None
    end_ms: int | None
    source: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"n_rows": self.n_rows, "start_ms": self.start_ms, "end_ms": self.end_ms, "source": self.source}


# --------------------------------------------------------------------------- rules
def _check_finite(columns: dict[str, np.ndarray], source: str) -> None:
    bad = np.zeros(len(next(iter(columns.values()))), dtype=bool)
    names = []
    for name, values in columns.items():
        col_bad = ~np.isfinite(values)
        if col_bad.any():
            names.append(name)
            bad |= col_bad
    if bad.any():
        fail("finite", bad, f"NaN, inf or empty value in column(s) {', '.join(names)}", source)


def _check_sorted(ts: np.ndarray, source: str, unique: bool) -> None:
    if len(ts) < 2:
        return
    d = np.diff(ts)
    back = d < 0
    if back.any():
        i = int(np.flatnonzero(back)[0]) + 1
        fail("timestamps_sorted", np.concatenate(([False], back)),
             f"timestamps go back in time (row {i}: {ts[i]} < previous {ts[i - 1]})", source)
    if unique:
        dup = d == 0
        if dup.any():
            i = int(np.flatnonzero(dup)[0]) + 1
            fail("timestamps_unique", np.concatenate(([False], dup)), f"timestamp {ts[i]} repeats the previous row", source)


def _check_grid(ts: np.ndarray, timeframe: str, source: str) -> np.ndarray:
    """Spacing, then grid alignment; returns each delta in bars (>= 1).

    Spacing runs first so that one misplaced bar is reported as the two
    deltas around it; a series shifted as a whole passes spacing and is
    caught by alignment.
    """
    tf = parse_timeframe(timeframe)
    d = np.diff(ts)
    bad = (d % tf.ms != 0) | (d <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fail("spacing", np.concatenate(([False], bad)),
             f"delta {int(d[i])} ms between rows {i} and {i + 1} is not a whole multiple of {tf.text} ({tf.ms} ms)", source)
    off = (ts - tf.origin_ms) % tf.ms
    if off.any():
        i = int(np.flatnonzero(off)[0])
        grid = "Monday 00:00 UTC week grid (from 1970-01-05)" if tf.text.endswith("w") else "epoch grid"
        fail("grid_alignment", off != 0, f"timestamp {ts[i]} is {int(off[i])} ms off the {tf.text} {grid}", source)
    return d // tf.ms


def _gaps(ts: np.ndarray, steps: np.ndarray) -> tuple[tuple[Gap, ...], int, int]:
    where = np.flatnonzero(steps > 1)
    n_missing = int((steps[where] - 1).sum()) if len(where) else 0
    kept = where[:_MAX_GAPS_KEPT]
    gaps = tuple(Gap(int(ts[i]), int(ts[i + 1]), int(steps[i] - 1)) for i in kept)
    return gaps, n_missing, int(len(where))


def _check_ohlc(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, source: str) -> None:
    nonpos = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        fail("prices_positive", nonpos, f"prices must be > 0 (row {i}: o={o[i]} h={h[i]} l={lo[i]} c={c[i]})", source)
    hi_bad = h < np.maximum(o, c)
    if hi_bad.any():
        i = int(np.flatnonzero(hi_bad)[0])
        fail("high_ge_open_close", hi_bad, f"high below open or close (row {i}: h={h[i]} o={o[i]} c={c[i]})", source)
    lo_bad = lo > np.minimum(o, c)
    if lo_bad.any():
        i = int(np.flatnonzero(lo_bad)[0])
        fail("low_le_open_close", lo_bad, f"low above open or close (row {i}: l={lo[i]} o={o[i]} c={c[i]})", source)
    neg = v < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        fail("volume_non_negative", neg, f"volume must be >= 0 (row {i}: {v[i]})", source)


def _regular_report(ts: np.ndarray, timeframe: str, source: str) -> ValidationReport:
    _check_sorted(ts, source, unique=True)
    steps = _check_grid(ts, timeframe, source)
    gaps, n_missing, n_gaps = _gaps(ts, steps)
    n = len(ts)
    return ValidationReport(
        n_rows=n, start_ms=int(ts[0]) if n else None, end_ms=int(ts[-1]) if n else None,
        gaps=gaps, n_missing=n_missing, n_gaps=n_gaps, timeframe=parse_timeframe(timeframe).text, source=source,
    )


# --------------------------------------------------------------------------- API
def validate_bars(bars_or_frame: Bars | pd.DataFrame, timeframe: str | None = None, source: str = "") -> ValidationReport:
    """Check OHLCV bars against every rule above; return the report (with gaps) or raise.

    ``timeframe`` defaults to ``bars.timeframe`` for :class:`Bars` and is
    required for a DataFrame (:class:`InputError` otherwise).
    """
    if isinstance(bars_or_frame, Bars):
        arrays = {c: getattr(bars_or_frame, c) for c in OHLCV_COLUMNS}
        timeframe = timeframe or bars_or_frame.timeframe
    elif isinstance(bars_or_frame, pd.DataFrame):
        if not timeframe:
            where = f"{source}: " if source else ""
            raise InputError(f"{where}a timeframe is needed to validate bars (pass --timeframe, e.g. 1m)")
        arrays = frame_to_arrays(bars_or_frame, source)
    else:
        raise InputError(f"validate_bars expects Bars or a DataFrame, got {type(bars_or_frame).__name__}")
    parse_timeframe(timeframe)
    ts = arrays["timestamp"]
    _check_finite({c: arrays[c] for c in OHLCV_COLUMNS[1:]}, source)
    _check_sorted(ts, source, unique=True)
    _check_ohlc(arrays["open"], arrays["high"], arrays["low"], arrays["close"], arrays["volume"], source)
    return _regular_report(ts, timeframe, source)


def validate_trades(frame: pd.DataFrame, source: str = "") -> EventsReport:
    """Check a trades table (:data:`~market.bars.TRADE_COLUMNS`); return its report or raise.

    Several trades may share a millisecond, so timestamps must be sorted but
    need not be unique. Sub-millisecond parts are floored.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"validate_trades expects a DataFrame, got {type(frame).__name__}")
    frame = normalise_columns(frame)
    require_columns(frame, TRADE_COLUMNS, source)
    ts = timestamps_to_ms(frame["timestamp"], source, allow_sub_ms=True)
    price = numeric_column(frame, "price", source)
    amount = numeric_column(frame, "amount", source)
    _check_finite({"price": price, "amount": amount}, source)
    _check_sorted(ts, source, unique=False)
    bad = price <= 0
    if bad.any():
        fail("trade_price_positive", bad, f"trade price must be > 0 (got {price[bad][0]})", source)
    bad = amount <= 0
    if bad.any():
        fail("trade_amount_positive", bad, f"trade amount must be > 0 (got {amount[bad][0]})", source)
    side = frame["side"].astype("str").str.strip().str.lower().to_numpy(dtype=object)
    bad = ~np.isin(side, np.array(["buy", "sell"], dtype=object)) | frame["side"].isna().to_numpy()
    if bad.any():
        fail("trade_side", bad, f"side must be 'buy' or 'sell' (got {frame['side'].iloc[int(np.flatnonzero(bad)[0])]!r})", source)
    n = len(ts)
    return EventsReport(n_rows=n, start_ms=int(ts[0]) if n else None, end_ms=int(ts[-1]) if n else None, source=source)


def validate_close_panel(
    frame: pd.DataFrame, timeframe: str, source: str = "", columns: Sequence[str] | None = None,
) -> ValidationReport:
    """Check a wide close-price panel (``timestamp`` + one price column per asset).

    Rules: timestamp rules, ``non_numeric``, ``finite``, ``timestamps_sorted``,
    ``timestamps_unique``, ``prices_positive``, ``grid_alignment``,
    ``spacing``. Non-trading days (weekends, holidays) are reported as gaps.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"validate_close_panel expects a DataFrame, got {type(frame).__name__}")
    frame = normalise_columns(frame)
    require_columns(frame, ("timestamp",), source)
    names = [str(c).lower() for c in columns] if columns is not None else [c for c in frame.columns if c != "timestamp"]
    if not names:
        fail("missing_columns", np.zeros(0, bool), "a close panel needs at least one price column besides timestamp", source)
    require_columns(frame, ("timestamp", *names), source)
    ts = timestamps_to_ms(frame["timestamp"], source)
    prices = {n: numeric_column(frame, n, source) for n in names}
    _check_finite(prices, source)
    nonpos = np.zeros(len(ts), dtype=bool)
    for values in prices.values():
        nonpos |= values <= 0
    if nonpos.any():
        fail("prices_positive", nonpos, "close prices must be > 0", source)
    return _regular_report(ts, timeframe, source)


def validate_funding(frame: pd.DataFrame, source: str = "") -> EventsReport:
    """Check a funding-rate series (:data:`FUNDING_COLUMNS`; rate may be negative).

    Rules: timestamp rules, ``non_numeric``, ``finite``, ``timestamps_sorted``,
    ``timestamps_unique``. Funding times jitter by a few ms around the
    funding hour on Binance, so no grid is enforced.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"validate_funding expects a DataFrame, got {type(frame).__name__}")
    frame = normalise_columns(frame)
    require_columns(frame, FUNDING_COLUMNS, source)
    ts = timestamps_to_ms(frame["timestamp"], source)
    rate = numeric_column(frame, "funding_rate", source)
    _check_finite({"funding_rate": rate}, source)
    _check_sorted(ts, source, unique=True)
    n = len(ts)
    return EventsReport(n_rows=n, start_ms=int(ts[0]) if n else None, end_ms=int(ts[-1]) if n else None, source=source)
