"""``raytrader data ...`` through the real entry point, with a private store per test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.cli import main
from market.samples import list_samples, load_sample, sample_path
from market.store import ParquetStore

from .binance_klines_server import KlinesServer
from .helpers import good_rows, write_csv


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("RAYTRADER_DATA__STORE", str(root))
    monkeypatch.delenv("RAYTRADER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./raytrader.toml
    return root


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> dict:
    assert main(argv) == code
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # exactly one JSON object
    return json.loads(out)


def test_list_json_empty_store(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, ["data", "list", "--json"])
    assert [s["name"] for s in data["samples"]] == [s.name for s in list_samples()]
    assert data["store"] == []
    assert data["store_root"] == str(store_root)


def test_import_then_list(store_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_csv(tmp_path / "btc.csv", good_rows(8))
    data = _json(capsys, ["data", "import", str(csv), "--symbol", "BTC/USDT", "--timeframe", "1m", "--json"])
    assert (data["rows"], data["venue"], data["symbol"], data["timeframe"]) == (8, "binance", "BTC/USDT", "1m")
    assert data["start"] == "2024-01-01T00:00:00Z" and data["n_gaps"] == 0
    assert Path(data["path"]).is_file() and Path(data["path"]).is_relative_to(store_root)
    listed = _json(capsys, ["data", "list", "--json"])
    assert [(e["symbol"], e["rows"]) for e in listed["store"]] == [("BTC/USDT", 8)]


def test_import_parquet_text_output_reports_gaps(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "import", str(sample_path("ADA-BTC-5m"))]) == 0
    out = capsys.readouterr().out
    assert "wrote 5720 5m bars of ADA/BTC (binance)" in out
    assert "gaps: 5 (40 missing bars" in out
    assert ParquetStore(store_root).read("binance", "ADA/BTC", "5m").equals(load_sample("ADA-BTC-5m"))


def test_import_csv_without_symbol_exits_2(store_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_csv(tmp_path / "x.csv", good_rows())
    assert main(["data", "import", str(csv), "--timeframe", "1m"]) == 2
    err = capsys.readouterr().err
    assert "--symbol" in err and len(err.strip().splitlines()) == 1


def test_import_bad_file_exits_2_and_writes_nothing(store_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = good_rows()
    rows[2][2] = 1.0  # high below open/close
    csv = write_csv(tmp_path / "bad.csv", rows)
    assert main(["data", "import", str(csv), "--symbol", "BTC/USDT", "--timeframe", "1m"]) == 2
    assert "high_ge_open_close" in capsys.readouterr().err
    assert ParquetStore(store_root).entries() == []


def test_validate_ok_and_bad(store_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_csv(tmp_path / "good.csv", good_rows())
    data = _json(capsys, ["data", "validate", str(good), "--timeframe", "1m", "--json"])
    assert data["ok"] is True and data["n_rows"] == 6
    rows = good_rows()
    rows[3][0] = rows[2][0]
    bad = write_csv(tmp_path / "bad.csv", rows)
    data = _json(capsys, ["data", "validate", str(bad), "--timeframe", "1m", "--json"], code=2)
    assert (data["ok"], data["rule"], data["rows"]) == (False, "timestamps_unique", [3])
    assert main(["data", "validate", str(bad), "--timeframe", "1m"]) == 2
    assert "timestamps_unique" in capsys.readouterr().out


def test_validate_infers_the_timeframe_of_a_csv_and_says_so(store_root: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = str(write_csv(tmp_path / "g.csv", good_rows()))
    assert main(["data", "validate", path]) == 0
    assert "timeframe 1m (inferred)" in capsys.readouterr().out
    data = _json(capsys, ["data", "validate", path, "--timeframe", "1m", "--json"])
    assert (data["timeframe"], data["timeframe_source"]) == ("1m", "argument")
    # one bar shows no spacing: the flag is asked for
    assert main(["data", "validate", str(write_csv(tmp_path / "one.csv", good_rows(1)))]) == 2
    assert "--timeframe" in capsys.readouterr().err


def test_validate_trades_sample(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, ["data", "validate", str(sample_path("XRP-ETH-trades")), "--json"])
    assert data["ok"] and data["kind"] == "trades" and data["n_rows"] == 12477


def test_resample_writes_new_entry(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "import", str(sample_path("ETH-BTC-5m")), "--json"]) == 0
    capsys.readouterr()
    data = _json(capsys, ["data", "resample", "--venue", "binance", "--symbol", "ETH/BTC", "--timeframe", "5m",
                          "--to", "1h", "--json"])
    assert data["timeframe"] == "1h" and data["rows"] == 481
    store = ParquetStore(store_root)
    assert [e.timeframe for e in store.entries()] == ["5m", "1h"]


def test_resample_missing_entry_exits_2(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "resample", "--venue", "binance", "--symbol", "ETH/BTC", "--timeframe", "5m", "--to", "1h"]) == 2
    assert "matches nothing in the data store" in capsys.readouterr().err


def test_download_into_store(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    btc = load_sample("BTC-USD-1d").with_meta(symbol="BTC/USDT", venue="binance")
    with KlinesServer({"BTC/USDT": btc}) as server:
        data = _json(capsys, ["data", "download", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1d",
                              "--since", "2020-01-01", "--until", "2021-01-01T00:00:00Z", "--api-url", server.url,
                              "--venue", "emulator", "--json"])
        assert server.count("/api/v3/klines") >= 1
    assert (data["rows"], data["venue"], data["start"], data["end"]) == (366, "emulator", "2020-01-01T00:00:00Z",
                                                                           "2020-12-31T00:00:00Z")
    stored = ParquetStore(store_root).read("emulator", "BTC/USDT", "1d")
    assert stored.equals(btc.slice(1_577_836_800_000, 1_609_459_200_000).with_meta(venue="emulator"))


def test_download_shows_progress_without_json(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    btc = load_sample("BTC-USD-1d").with_meta(symbol="BTC/USDT", venue="binance")
    with KlinesServer({"BTC/USDT": btc}) as server:
        assert main(["data", "download", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1d",
                     "--since", "2024-01-01", "--until", "2024-02-01", "--api-url", server.url]) == 0
    captured = capsys.readouterr()
    assert "wrote 31 1d bars of BTC/USDT (binance)" in captured.out
    assert "download binance BTC/USDT 1d" in captured.err  # the bar goes to stderr


@pytest.mark.parametrize("since", ["2024-13-01", "yesterday", "1700000000"])
def test_download_bad_dates_exit_2(store_root: Path, since: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "download", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
                 "--since", since, "--api-url", "http://127.0.0.1:9"]) == 2
    assert "--since" in capsys.readouterr().err


def test_download_network_failure_exits_2(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["data", "download", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
                 "--since", "2024-01-01", "--api-url", f"http://127.0.0.1:{port}", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "network error" in captured.err
