from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.bars import OHLCV_COLUMNS, TRADE_COLUMNS, Bars
from market.errors import DataValidationError, InputError
from market.io import read_bars
from market.samples import load_sample

from .helpers import HEADER, MINUTE, T0, good_rows, write_csv


def _frame() -> pd.DataFrame:
    return pd.DataFrame(good_rows(), columns=list(OHLCV_COLUMNS))


def test_columns() -> None:
    assert OHLCV_COLUMNS == ("timestamp", "open", "high", "low", "close", "volume")
    assert TRADE_COLUMNS == ("timestamp", "id", "side", "price", "amount")


@pytest.mark.parametrize(
    "convert",
    [
        lambda s: s,  # int ms
        lambda s: pd.to_datetime(s, unit="ms", utc=True),  # tz-aware
        lambda s: pd.to_datetime(s, unit="ms"),  # naive means UTC
        lambda s: pd.to_datetime(s, unit="ms", utc=True).dt.tz_convert("America/New_York"),  # other zone
        lambda s: pd.to_datetime(s, unit="ms", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),  # ISO strings
        lambda s: pd.to_datetime(s, unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S"),  # naive ISO strings
    ],
)
def test_from_frame_timestamp_forms(convert) -> None:
    frame = _frame()
    frame["timestamp"] = convert(frame["timestamp"])
    bars = Bars.from_frame(frame, symbol="BTC/USDT", timeframe="1m", venue="binance")
    assert bars.timestamp.dtype == np.int64
    assert bars.timestamp.tolist() == [T0 + i * MINUTE for i in range(6)]


def test_from_frame_accepts_index_and_any_case() -> None:
    frame = _frame().set_index("timestamp")
    frame.columns = [c.upper() for c in frame.columns]
    bars = Bars.from_frame(frame, "X/Y", "1m", "v")
    assert len(bars) == 6 and bars.close[0] == 101.0


def test_to_frame_round_trip() -> None:
    bars = load_sample("ETH-BTC-5m")
    frame = bars.to_frame()
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert str(frame["timestamp"].dtype) == "datetime64[ms, UTC]"
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2018-01-10T04:55:00Z")
    again = Bars.from_frame(frame, bars.symbol, bars.timeframe, bars.venue)
    assert again.equals(bars)


def test_bars_are_frozen_and_read_only() -> None:
    bars = Bars.from_frame(_frame(), "X/Y", "1m", "v")
    with pytest.raises(AttributeError):
        bars.symbol = "Z/Y"  # type: ignore[misc]
    with pytest.raises(ValueError):
        bars.close[0] = 1.0


def test_constructor_checks_lengths_and_timeframe() -> None:
    ts = np.array([T0, T0 + MINUTE])
    with pytest.raises(InputError, match="length"):
        Bars(ts, [1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], "X/Y", "1m")
    with pytest.raises(InputError, match="'7x'"):
        Bars(ts, [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, "X/Y", "7x")


def test_slice_is_half_open() -> None:
    bars = Bars.from_frame(_frame(), "X/Y", "1m", "v")
    part = bars.slice(T0 + MINUTE, T0 + 4 * MINUTE)
    assert part.timestamp.tolist() == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert len(bars.slice(None, None)) == 6
    assert len(bars.slice(T0 + 30_000, None)) == 5
    assert len(bars.slice(T0 + 10 * MINUTE, T0)) == 0
    assert (part.symbol, part.timeframe, part.venue) == ("X/Y", "1m", "v")


def test_equals() -> None:
    a = Bars.from_frame(_frame(), "X/Y", "1m", "v")
    assert a.equals(Bars.from_frame(_frame(), "X/Y", "1m", "v"))
    assert not a.equals(a.with_meta(venue="other"))
    assert not a.equals(a.slice(T0 + MINUTE))


# ----------------------------------------------------------------------------- io
def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "bars.xlsx"
    path.write_text("x")
    with pytest.raises(InputError, match="unknown file type .xlsx"):
        read_bars(path, timeframe="1m")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_bars(tmp_path / "nope.csv", timeframe="1m")


def test_csv_without_timeframe_infers_it_and_asks_for_the_flag_only_when_it_cannot(tmp_path: Path) -> None:
    bars, report = read_bars(write_csv(tmp_path / "bars.csv", good_rows()))
    assert (bars.timeframe, report.timeframe_source) == ("1m", "inferred")
    with pytest.raises(InputError, match="pass --timeframe"):
        read_bars(write_csv(tmp_path / "one.csv", good_rows(1)))


def test_parquet_metadata_fills_symbol_timeframe_venue() -> None:
    from market.samples import sample_path

    bars, report = read_bars(sample_path("XRP-ETH-1m"))
    assert (bars.symbol, bars.timeframe, bars.venue) == ("XRP/ETH", "1m", "binance")
    assert report.n_gaps > 0  # minutes without trades are missing in the source
    override, _ = read_bars(sample_path("XRP-ETH-1m"), symbol="XRP/ETH", venue="test", timeframe="1m")
    assert override.venue == "test"


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="cannot read as parquet"):
        read_bars(path, timeframe="1m")


def test_header_only_csv_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(DataValidationError) as info:
        read_bars(path, symbol="X/Y", timeframe="1m")
    assert info.value.rule == "no_rows" and str(path) in str(info.value)


def test_wrong_timeframe_is_caught_on_load(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        read_bars(write_csv(tmp_path / "bars.csv", good_rows()), symbol="X/Y", timeframe="5m")
    assert info.value.rule == "spacing"
