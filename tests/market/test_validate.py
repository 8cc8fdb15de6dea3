"""One bad file per validation rule, read through ``read_bars`` like a user's file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from market.bars import Bars
from market.errors import DataValidationError, InputError
from market.io import read_bars
from market.validate import Gap, validate_bars, validate_close_panel, validate_funding, validate_trades

from .helpers import HEADER, MINUTE, T0, good_rows, write_csv


def _broken(tmp_path: Path, rows: list[list[object]], header: str = HEADER, timeframe: str = "1m") -> DataValidationError:
    path = write_csv(tmp_path / "bars.csv", rows, header)
    with pytest.raises(DataValidationError) as info:
        read_bars(path, symbol="BTC/USDT", timeframe=timeframe, venue="binance")
    assert str(path) in str(info.value)  # the error names the file
    return info.value


def test_good_file_passes(tmp_path: Path) -> None:
    bars, report = read_bars(write_csv(tmp_path / "ok.csv", good_rows()), symbol="BTC/USDT", timeframe="1m")
    assert len(bars) == report.n_rows == 6
    assert report.gaps == () and report.n_missing == 0
    assert (report.start_ms, report.end_ms) == (T0, T0 + 5 * MINUTE)


def test_missing_columns(tmp_path: Path) -> None:
    rows = [r[:5] for r in good_rows()]
    err = _broken(tmp_path, rows, header="timestamp,open,high,low,close")
    assert err.rule == "missing_columns" and err.rows == ()
    assert "volume" in str(err)


def test_non_numeric(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2][1] = "abc"
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("non_numeric", (2,))
    assert "'abc'" in str(err) and "open" in str(err)


def test_timestamp_invalid(tmp_path: Path) -> None:
    rows = good_rows()
    for r in rows:
        r[0] = pd.Timestamp(r[0], unit="ms", tz="UTC").isoformat()
    rows[1][0] = "not-a-date"
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("timestamp_invalid", (1,))


@pytest.mark.parametrize("unit, per_ms", [("s", 0.001), ("ms", 1), ("us", 1000), ("ns", 1_000_000)])
def test_epoch_seconds_micro_and_nanoseconds_read_as_the_same_bars(tmp_path: Path, unit: str, per_ms: float) -> None:
    rows = good_rows()
    for r in rows:
        r[0] = int(r[0] * per_ms)
    bars, _ = read_bars(write_csv(tmp_path / f"{unit}.csv", rows), timeframe="1m")
    assert bars.timestamp.tolist() == [r[0] for r in good_rows()]


def test_epoch_float_seconds_keep_their_milliseconds() -> None:
    from market._frame import timestamps_to_ms

    ms = [r[0] + 250 for r in good_rows()]
    text = pd.Series([f"{t / 1000:.3f}" for t in ms])  # "1704067200.250": float seconds as a CSV holds them
    assert timestamps_to_ms(text).tolist() == ms
    assert timestamps_to_ms(pd.Series([t / 1000 for t in ms])).tolist() == ms


def test_timestamp_unit_names_the_row_in_another_unit(tmp_path: Path) -> None:
    rows = good_rows()
    rows[4][0] = rows[4][0] // 1000  # one row in seconds among milliseconds
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("timestamp_unit", (4,))
    rows = good_rows()
    for r in rows:
        r[0] = 12_345  # no unit puts these in 1973..2100
    assert _broken(tmp_path, rows).rule == "timestamp_unit"


def test_timestamp_resolution(tmp_path: Path) -> None:
    ts = pd.to_datetime([r[0] for r in good_rows()], unit="ms").as_unit("us").to_numpy().copy()
    ts[3] += np.timedelta64(500, "us")
    frame = pd.DataFrame(good_rows(), columns=HEADER.split(","))
    frame["timestamp"] = pd.DatetimeIndex(ts).tz_localize("UTC")
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataValidationError) as info:
        read_bars(path, symbol="X/Y", timeframe="1m")
    assert (info.value.rule, info.value.rows) == ("timestamp_resolution", (3,))


@pytest.mark.parametrize("bad", ["", "nan", "inf", "-inf"])
def test_finite(tmp_path: Path, bad: str) -> None:
    rows = good_rows()
    rows[4][4] = bad
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("finite", (4,))


def test_timestamps_sorted(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2][0], rows[3][0] = rows[3][0], rows[2][0]
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("timestamps_sorted", (3,))


def test_timestamps_unique(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3][0] = rows[2][0]
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("timestamps_unique", (3,))


def test_prices_positive(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1][3] = 0.0
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("prices_positive", (1,))


def test_high_ge_open_close(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2][2] = rows[2][4] - 0.01  # high just under the close
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("high_ge_open_close", (2,))


def test_low_le_open_close(tmp_path: Path) -> None:
    rows = good_rows()
    rows[5][3] = max(rows[5][1], rows[5][4]) - 0.01  # low above min(open, close)
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("low_le_open_close", (5,))


def test_volume_non_negative(tmp_path: Path) -> None:
    rows = good_rows()
    rows[0][5] = -1.0
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("volume_non_negative", (0,))


def test_spacing(tmp_path: Path) -> None:
    rows = good_rows()
    rows[3][0] += 30_000  # one bar half a minute late: the deltas into and out of it break
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("spacing", (3, 4))


def test_grid_alignment(tmp_path: Path) -> None:
    rows = good_rows(start=T0 + 30_000)  # evenly spaced but off the minute grid
    err = _broken(tmp_path, rows)
    assert (err.rule, err.rows) == ("grid_alignment", (0, 1, 2, 3, 4, 5))


def test_weekly_bars_must_open_on_monday(tmp_path: Path) -> None:
    monday = 1_502_668_800_000  # 2017-08-14, a Binance weekly open
    week = 7 * 86_400_000
    read_bars(write_csv(tmp_path / "w.csv", good_rows(4, start=monday, step=week)), symbol="X/Y", timeframe="1w")
    thursday = monday - 4 * 86_400_000  # on the epoch grid, not the Monday grid
    err = _broken(tmp_path, good_rows(4, start=thursday, step=week), timeframe="1w")
    assert (err.rule, err.rows) == ("grid_alignment", (0, 1, 2, 3))


def test_parquet_file_with_bad_high(tmp_path: Path) -> None:
    frame = pd.DataFrame(good_rows(), columns=HEADER.split(","))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    frame.loc[4, "high"] = 1.0
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataValidationError) as info:
        read_bars(path, symbol="X/Y", timeframe="1m")
    assert (info.value.rule, info.value.rows) == ("high_ge_open_close", (4,))


def test_many_bad_rows_keep_first_twenty_and_count_all() -> None:
    n = 1000
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE
    ones = np.ones(n)
    bars = Bars(ts, ones, ones, ones, ones, -ones, "X/Y", "1m", "v")
    with pytest.raises(DataValidationError) as info:
        validate_bars(bars)
    assert info.value.rows == tuple(range(20)) and info.value.n_rows == n
    assert "+995 more" in str(info.value)


def test_gaps_are_reported_not_filled(tmp_path: Path) -> None:
    rows = good_rows(10)
    del rows[6:8]  # two missing minutes
    del rows[2]  # one missing minute
    bars, report = read_bars(write_csv(tmp_path / "gappy.csv", rows), symbol="X/Y", timeframe="1m")
    assert len(bars) == 7  # nothing filled in
    assert report.gaps == (Gap(T0 + MINUTE, T0 + 3 * MINUTE, 1), Gap(T0 + 5 * MINUTE, T0 + 8 * MINUTE, 2))
    assert report.n_missing == 3 and report.n_gaps == 2 and report.expected_rows == 10


def test_frame_needs_a_timeframe() -> None:
    frame = pd.DataFrame(good_rows(), columns=HEADER.split(","))
    with pytest.raises(InputError, match="--timeframe"):
        validate_bars(frame)
    assert validate_bars(frame, "1m").n_rows == 6


# ----------------------------------------------------------------------------- trades
def _trades(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "timestamp": pd.to_datetime([T0, T0, T0 + 5, T0 + 9, T0 + 20][:n], unit="ms", utc=True),
        "id": [str(100 + i) for i in range(n)],
        "side": ["buy", "sell", "sell", "buy", "buy"][:n],
        "price": [1.0, 1.1, 1.05, 1.2, 1.15][:n],
        "amount": [3.0, 1.0, 2.0, 0.5, 4.0][:n],
    })


def test_trades_ok_with_equal_timestamps() -> None:
    report = validate_trades(_trades())
    assert (report.n_rows, report.start_ms, report.end_ms) == (5, T0, T0 + 20)


@pytest.mark.parametrize(
    ("column", "row", "value", "rule"),
    [("price", 2, 0.0, "trade_price_positive"), ("amount", 4, -1.0, "trade_amount_positive"),
     ("side", 1, "hold", "trade_side"), ("price", 3, np.nan, "finite"),
     ("timestamp", 3, pd.Timestamp(T0 - 1, unit="ms", tz="UTC"), "timestamps_sorted")],
)
def test_trade_rules(column: str, row: int, value: object, rule: str) -> None:
    frame = _trades()
    frame.loc[row, column] = value
    with pytest.raises(DataValidationError) as info:
        validate_trades(frame, source="t.parquet")
    assert (info.value.rule, info.value.rows) == (rule, (row,))


def test_trades_missing_column() -> None:
    with pytest.raises(DataValidationError) as info:
        validate_trades(_trades().drop(columns=["side"]))
    assert info.value.rule == "missing_columns"


# ------------------------------------------------------------------- panel & funding
def test_close_panel_reports_weekend_gaps() -> None:
    days = pd.to_datetime(["2024-01-04", "2024-01-05", "2024-01-08"], utc=True)  # Thu, Fri, Mon
    report = validate_close_panel(pd.DataFrame({"timestamp": days, "AAA": [1.0, 2.0, 3.0], "BBB": [5.0, 5.5, 6.0]}), "1d")
    assert report.n_missing == 2 and report.gaps[0].missing_bars == 2


def test_close_panel_rejects_non_positive_price() -> None:
    days = pd.to_datetime(["2024-01-04", "2024-01-05"], utc=True)
    with pytest.raises(DataValidationError) as info:
        validate_close_panel(pd.DataFrame({"timestamp": days, "AAA": [1.0, -2.0]}), "1d")
    assert (info.value.rule, info.value.rows) == ("prices_positive", (1,))


def test_funding_allows_negative_rates_but_not_repeats() -> None:
    ts = pd.to_datetime([T0 + 17, T0 + 28_800_007, T0 + 57_600_011], unit="ms", utc=True)
    assert validate_funding(pd.DataFrame({"timestamp": ts, "funding_rate": [1e-4, -2e-4, 0.0]})).n_rows == 3
    with pytest.raises(DataValidationError) as info:
        validate_funding(pd.DataFrame({"timestamp": ts[[0, 0, 1]], "funding_rate": [1e-4, -2e-4, 0.0]}))
    assert (info.value.rule, info.value.rows) == ("timestamps_unique", (1,))


def test_int_ms_feather_round_trip(tmp_path: Path) -> None:
    table = pa.table({name: [r[i] for r in good_rows()] for i, name in enumerate(HEADER.split(","))})
    table = table.replace_schema_metadata({"timeframe": "1m", "symbol": "ETH/BTC", "venue": "binance"})
    import pyarrow.feather as feather

    feather.write_feather(table, tmp_path / "bars.feather")
    bars, _ = read_bars(tmp_path / "bars.feather")
    assert (bars.symbol, bars.timeframe, bars.venue) == ("ETH/BTC", "1m", "binance")
    pq.write_table(table, tmp_path / "bars.parquet")
    assert read_bars(tmp_path / "bars.parquet")[0].equals(bars)
