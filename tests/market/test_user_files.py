"""The user's own bar files, as pandas, Yahoo Finance and exchanges write them, through ``market.io`` and the CLI.

The files are built from the bundled real data (``tests/market/user_files.py``);
a correct reader gets back exactly the bars they were written from.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cluster.cli import main
from market.bars import OHLCV_COLUMNS, Bars
from market.errors import DataValidationError, InputError
from market.io import parse_columns, read_bars
from market.samples import load_sample
from market.store import ParquetStore
from market.timeframe import fitting_timeframe, infer_timeframe, timeframe_for_ms

from .user_files import (aapl_daily, aapl_yahoo_csv, binance_vision_csv, btc_daily, epoch_csv, offsets_csv, pandas_csv,
                         yahoo_csv, yfinance_csv)


def _same_bars(got: Bars, want: Bars) -> None:
    assert len(got) == len(want)
    for c in OHLCV_COLUMNS:
        assert np.array_equal(getattr(got, c), getattr(want, c)), c


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("RAYTRADER_DATA__STORE", str(root))
    monkeypatch.delenv("RAYTRADER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return root


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("write", [yahoo_csv, yfinance_csv, pandas_csv, epoch_csv], ids=lambda f: f.__name__)
def test_daily_layouts_read_as_they_come_with_the_timeframe_inferred(tmp_path: Path, write) -> None:
    want = btc_daily()
    bars, report = read_bars(write(tmp_path / "BTC-USD.csv", want))
    _same_bars(bars, want)
    assert (bars.timeframe, report.timeframe_source, report.n_gaps) == ("1d", "inferred", 0)


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_binance_vision_dumps_without_a_header(tmp_path: Path, unit: str) -> None:
    want = load_sample("XRP-ETH-1m")
    path = binance_vision_csv(tmp_path / "XRPETH-1m-2019-10.csv", want, unit=unit)
    assert path.read_text().splitlines()[0].split(",")[0] == str(int(want.timestamp[0]) * (1000 if unit == "us" else 1))
    bars, report = read_bars(path)
    _same_bars(bars, want)
    assert bars.timeframe == "1m" and report.n_gaps > 0  # minutes without trades stay missing


def test_an_unnamed_index_written_by_pandas_is_the_time_column(tmp_path: Path) -> None:
    want = btc_daily()
    frame = want.to_frame().set_index("timestamp")
    frame.index.name = None
    frame.to_csv(tmp_path / "unnamed.csv")  # header ",open,high,..." -> "Unnamed: 0" when read back
    _same_bars(read_bars(tmp_path / "unnamed.csv")[0], want)
    want.to_frame().to_csv(tmp_path / "range.csv")  # a RangeIndex written beside the timestamp column
    _same_bars(read_bars(tmp_path / "range.csv")[0], want)
    want.to_frame().drop(columns="timestamp").to_csv(tmp_path / "no_time.csv")  # row numbers are no times
    with pytest.raises(DataValidationError) as info:
        read_bars(tmp_path / "no_time.csv", timeframe="1d")
    assert info.value.rule == "missing_columns" and "timestamp" in str(info.value)


def test_yfinance_header_names_the_symbol(tmp_path: Path) -> None:
    bars, _ = read_bars(yfinance_csv(tmp_path / "x.csv", btc_daily(), ticker="BTC-USD"))
    assert bars.symbol == "BTC-USD"


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_epoch_units_are_told_by_size(tmp_path: Path, unit: str) -> None:
    want = btc_daily()
    _same_bars(read_bars(epoch_csv(tmp_path / f"{unit}.csv", want, unit=unit, column="timestamp"))[0], want)


def test_intraday_times_with_utc_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    want = load_sample("ETH-BTC-5m")
    path = offsets_csv(tmp_path / "eth.csv", want, tz="Europe/Berlin")
    assert "+01:00" in path.read_text().splitlines()[1]
    bars, report = read_bars(path)
    _same_bars(bars, want)
    assert bars.timeframe == "5m" and report.timeframe_source == "inferred"


def test_equity_days_at_local_midnight_are_dates_and_weekends_do_not_change_the_timeframe(tmp_path: Path) -> None:
    want = aapl_daily()
    path = aapl_yahoo_csv(tmp_path / "AAPL.csv", want)
    lines = path.read_text().splitlines()
    assert lines[1].startswith("2018-01-02 00:00:00-05:00") and any("-04:00" in x for x in lines)  # EST and EDT
    bars, report = read_bars(path)
    _same_bars(bars, want)  # each bar labelled 00:00 UTC of its own trading day
    assert bars.timeframe == "1d"
    # weekends and holidays are gaps, reported and never filled
    days = np.diff(want.timestamp) // 86_400_000
    assert report.n_gaps == int((days > 1).sum()) > 250 and report.n_missing == int((days - 1).sum())


def test_adj_close_stands_in_only_for_a_missing_close(tmp_path: Path) -> None:
    want = btc_daily()
    frame = pd.read_csv(yahoo_csv(tmp_path / "y.csv", want))
    frame.drop(columns="Close").to_csv(tmp_path / "adj.csv", index=False)
    _same_bars(read_bars(tmp_path / "adj.csv")[0], want)


def test_columns_map_any_names(tmp_path: Path) -> None:
    want = btc_daily()
    frame = pd.read_csv(yahoo_csv(tmp_path / "y.csv", want))
    frame = frame.rename(columns={"Date": "Tag", "Open": "Erster", "High": "Hoch", "Low": "Tief", "Volume": "Menge"})
    frame["Close"] = "n/a"  # a column the mapping replaces: its text must not matter
    frame.to_csv(tmp_path / "odd.csv", index=False)
    mapping = parse_columns("timestamp=Tag,open=Erster,high=Hoch,low=Tief,close=Adj Close,volume=Menge")
    _same_bars(read_bars(tmp_path / "odd.csv", columns=mapping)[0], want)
    with pytest.raises(DataValidationError) as info:
        read_bars(tmp_path / "odd.csv")
    assert info.value.rule == "missing_columns" and "open" in str(info.value)
    with pytest.raises(InputError, match="has no column 'Nope'"):
        read_bars(tmp_path / "odd.csv", columns={"close": "Nope"})


@pytest.mark.parametrize("text, message", [
    ("close", "expected NAME=COLUMN"), ("price2=x", "not a column name"), ("close=a,close=b", "given twice"), ("", "pairs"),
])
def test_bad_columns_flag_is_named(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_columns(text)


def test_errors_still_name_the_row(tmp_path: Path) -> None:
    path = yahoo_csv(tmp_path / "y.csv", btc_daily())
    lines = path.read_text().splitlines()
    lines[8] = lines[8].split(",")[0] + ",null,null,null,null,null,null"  # Yahoo writes "null" for a missing day
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as info:
        read_bars(path)
    assert (info.value.rule, info.value.rows) == ("finite", (7,)) and str(path) in str(info.value)


def test_an_inferred_timeframe_off_its_grid_says_which_fits(tmp_path: Path) -> None:
    eth = load_sample("ETH-BTC-5m")
    minute = (eth.timestamp // 60_000) % 60
    half_past = eth.take(minute == 30)  # real 5m bars, one an hour, all opening at :30
    epoch_csv(tmp_path / "h.csv", half_past)
    with pytest.raises(DataValidationError) as info:
        read_bars(tmp_path / "h.csv")
    assert info.value.rule == "grid_alignment" and "pass --timeframe 30m" in str(info.value)
    assert read_bars(tmp_path / "h.csv", timeframe="30m")[0].timeframe == "30m"


# ----------------------------------------------------------------------------- inference
def test_timeframe_for_ms_and_the_strict_and_lenient_inference() -> None:
    assert [timeframe_for_ms(ms) for ms in (1000, 90_000, 3_600_000, 86_400_000, 604_800_000, 500)] == \
        ["1s", "90s", "1h", "1d", "1w", None]
    days = aapl_daily().timestamp
    assert infer_timeframe(days) == infer_timeframe(days, strict=True) == "1d"
    two_seconds = np.arange(20, dtype=np.int64) * 2000 + 1_700_000_000_000
    assert (infer_timeframe(two_seconds), infer_timeframe(two_seconds, strict=True)) == ("1s", "2s")
    assert fitting_timeframe(two_seconds) == "1s"
    with pytest.raises(InputError, match="only 1 bar"):
        infer_timeframe(days[:1], strict=True)


def test_the_api_infers_with_the_same_function() -> None:
    import api.schemas
    import market.timeframe

    assert api.schemas.infer_timeframe is market.timeframe.infer_timeframe


# ----------------------------------------------------------------------------- broken files
@pytest.mark.parametrize("name, payload", [
    ("bad.csv.zip", b"this is not a zip archive" * 4),
    ("bad.csv.xz", b"this is not an xz stream" * 4),
    ("bad.csv.zst", b"this is not a zstd frame" * 4),
    ("bad.csv.gz", b"this is not a gzip stream" * 4),
    ("bad.csv.bz2", b"this is not a bzip2 stream" * 4),
    ("cut.csv.gz", gzip.compress(b"timestamp,open,high,low,close,volume\n" * 50, mtime=0)[:-12]),
    ("cut.csv.xz", lzma.compress(b"timestamp,open,high,low,close,volume\n" * 50)[:-12]),
    ("cut.csv.bz2", bz2.compress(b"timestamp,open,high,low,close,volume\n" * 50)[:-12]),
], ids=lambda v: v if isinstance(v, str) else "payload")  # ids the same in every process (make test's xdist workers)
def test_corrupt_compressed_files_exit_2_naming_the_file(tmp_path: Path, name: str, payload: bytes,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(InputError, match="cannot read as CSV"):
        read_bars(path)
    assert main(["data", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".csv.zst", ".csv.xz", ".csv.zip", ".csv.gz"])
def test_every_advertised_compression_reads(tmp_path: Path, suffix: str) -> None:
    want = btc_daily()
    frame = pd.read_csv(yahoo_csv(tmp_path / "y.csv", want))
    path = tmp_path / f"BTC-USD{suffix}"
    frame.to_csv(path, index=False)
    _same_bars(read_bars(path)[0], want)


def test_header_only_csv_neither_validates_nor_imports(store_root: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n")
    assert main(["data", "validate", str(path), "--timeframe", "1d", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["rule"]) == (False, "no_rows")
    assert main(["data", "import", str(path), "--symbol", "X/Y", "--timeframe", "1d"]) == 2
    err = capsys.readouterr().err
    assert "no_rows" in err and str(path) in err and len(err.strip().splitlines()) == 1
    assert ParquetStore(store_root).entries() == []


# ----------------------------------------------------------------------------- the CLI
def test_data_validate_and_import_infer_and_say_the_timeframe(store_root: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = aapl_yahoo_csv(tmp_path / "AAPL.csv", aapl_daily())
    assert main(["data", "validate", str(path)]) == 0
    assert "timeframe 1d (inferred)" in capsys.readouterr().out
    assert main(["data", "import", str(path), "--symbol", "AAPL", "--venue", "yahoo"]) == 0
    assert "timeframe 1d inferred from the timestamps" in capsys.readouterr().out
    [entry] = ParquetStore(store_root).entries()
    assert (entry.symbol, entry.timeframe, entry.venue, entry.rows) == ("AAPL", "1d", "yahoo", len(aapl_daily()))
    # --timeframe overrides the inference: daily bars checked as weekly break the spacing rule
    assert main(["data", "validate", str(path), "--timeframe", "1w"]) == 2
    assert "spacing" in capsys.readouterr().out


def test_data_import_takes_columns(store_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    want = btc_daily()
    frame = pd.read_csv(yahoo_csv(tmp_path / "y.csv", want)).rename(columns={"Date": "Day"})
    frame.to_csv(tmp_path / "day.csv", index=False)
    assert main(["data", "import", str(tmp_path / "day.csv"), "--symbol", "BTC/USD", "--columns", "timestamp=Day"]) == 0
    _same_bars(ParquetStore(store_root).read("binance", "BTC/USD", "1d"), want)


def test_research_commands_take_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    want = btc_daily()
    frame = pd.read_csv(yahoo_csv(tmp_path / "y.csv", want)).rename(columns={"Date": "Tag", "Close": "Schluss"})
    frame.to_csv(tmp_path / "odd.csv", index=False)
    args = ["backtest", "-p", "fast=10", "-p", "slow=30", "--json"]
    assert main([*args, "--data", str(tmp_path / "y.csv")]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*args, "--data", str(tmp_path / "odd.csv"), "--columns", "timestamp=Tag,close=Schluss"]) == 0
    mapped = json.loads(capsys.readouterr().out)
    assert (mapped["total_return"], mapped["n_trades"]) == (plain["total_return"], plain["n_trades"])
    with pytest.raises(SystemExit) as bad:  # an argparse type error: exit 2 before anything runs
        main([*args, "--data", str(tmp_path / "odd.csv"), "--columns", "close"])
    assert bad.value.code == 2
    err = capsys.readouterr().err
    assert "--columns" in err and len(err.strip().splitlines()) == 1


def test_store_is_addressed_by_symbol_and_timeframe(store_root: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = yahoo_csv(tmp_path / "BTC-USD.csv", btc_daily())
    assert main(["data", "import", str(path), "--symbol", "BTC/USD", "--venue", "yahoo"]) == 0
    capsys.readouterr()
    args = ["backtest", "-p", "fast=10", "-p", "slow=30", "--json"]
    assert main([*args, "--data", str(path)]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert main([*args, "--symbol", "BTC/USD", "--timeframe", "1d"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert from_store["source"] == "store:BTC/USD 1d" and from_store["symbol"] == "BTC/USD"
    for key in ("bars", "total_return", "sharpe", "n_trades"):
        assert from_store[key] == from_file[key]
    assert main(["data", "resample", "--symbol", "BTC/USD", "--timeframe", "1d", "--to", "1w"]) == 0
    capsys.readouterr()
    assert main([*args, "--symbol", "BTC/USD"]) == 2  # 1d and 1w now: the timeframe must be said
    assert "matches 2 series" in capsys.readouterr().err
    assert main([*args, "--symbol", "ETH/USD", "--timeframe", "1d"]) == 2
    err = capsys.readouterr().err
    assert "matches nothing" in err and "BTC/USD 1d (yahoo)" in err


def test_zst_without_zstandard_installed_exits_2_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    path = tmp_path / "BTC-USD.csv.zst"
    pd.read_csv(yahoo_csv(tmp_path / "y.csv", btc_daily())).to_csv(path, index=False)  # a good zstd file
    # as if the package were not installed (an import of it fails; pandas and market.io import it per call);
    # here rather than in a fresh interpreter, which cost seconds of imports
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert main(["data", "validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert str(path) in err and "zstandard" in err and len(err.strip().splitlines()) == 1
