"""The downloader against a loopback Binance-dialect server serving real bars, through the real ccxt client."""

from __future__ import annotations

import socket

import pytest

from market.bars import Bars
from market.download import DownloadError, download_ohlcv, redirect_urls
from raytrader.errors import InputError
from market.samples import load_sample
from market.validate import validate_bars

from .binance_klines_server import KlinesServer


@pytest.fixture(scope="module")
def btc() -> Bars:
    """5,152 real daily bars, served as Binance BTC/USDT."""
    return load_sample("BTC-USD-1d").with_meta(symbol="BTC/USDT", venue="binance")


@pytest.fixture(scope="module")
def ada() -> Bars:
    """Real 5m ADA/BTC bars with gaps."""
    return load_sample("ADA-BTC-5m")


@pytest.fixture(scope="module")
def server(btc: Bars, ada: Bars):
    with KlinesServer({"BTC/USDT": btc, "ADA/BTC": ada}) as srv:
        yield srv


def test_paginates_and_equals_source(server: KlinesServer, btc: Bars) -> None:
    before = server.count("/api/v3/klines")
    progress: list[tuple[int, int | None]] = []
    out = download_ohlcv("binance", "BTC/USDT", "1d", btc.start_ms, api_url=server.url, limit=1000,
                         on_progress=lambda done, total: progress.append((done, total)))
    assert out.equals(btc)  # bit-for-bit, metadata included
    pages = server.count("/api/v3/klines") - before
    assert pages >= 6  # 5,152 bars at 1,000 a page
    assert progress[-1][0] == len(btc) and all(total is not None for _, total in progress)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_small_pages_across_gaps(server: KlinesServer, ada: Bars) -> None:
    before = server.count("/api/v3/klines")
    out = download_ohlcv("binance", "ADA/BTC", "5m", ada.start_ms, api_url=server.url, limit=700)
    assert out.equals(ada)
    assert server.count("/api/v3/klines") - before >= 9
    assert validate_bars(out).n_missing == 40  # the source's gaps, not filled


def test_since_until_half_open(server: KlinesServer, btc: Bars) -> None:
    since, until = int(btc.timestamp[1000]), int(btc.timestamp[3500])
    before = server.count("/api/v3/klines")
    out = download_ohlcv("binance", "BTC/USDT", "1d", since, until_ms=until, api_url=server.url, limit=1000)
    assert out.equals(btc.slice(since, until))
    assert out.start_ms == since and out.end_ms == int(btc.timestamp[3499])
    assert server.count("/api/v3/klines") - before == 3  # stops once past until, no extra empty page


def test_since_between_bars(server: KlinesServer, btc: Bars) -> None:
    since = int(btc.timestamp[10]) + 3_600_000  # one hour into a daily bar
    out = download_ohlcv("binance", "BTC/USDT", "1d", since, until_ms=int(btc.timestamp[20]), api_url=server.url)
    assert out.timestamp.tolist() == btc.timestamp[11:20].tolist()


def test_coarser_interval_is_served_and_validates(server: KlinesServer, btc: Bars) -> None:
    weekly = download_ohlcv("binance", "BTC/USDT", "1w", btc.start_ms, api_url=server.url)
    assert weekly.timeframe == "1w" and len(weekly) > 700
    validate_bars(weekly)


def test_unknown_symbol_is_input_error(server: KlinesServer, btc: Bars) -> None:
    with pytest.raises(InputError) as info:
        download_ohlcv("binance", "DOGE/USDT", "1d", btc.start_ms, api_url=server.url)
    assert not isinstance(info.value, DownloadError)
    assert "DOGE/USDT" in str(info.value)


def test_unsupported_timeframe_is_input_error(server: KlinesServer, btc: Bars) -> None:
    with pytest.raises(InputError, match="7m"):
        download_ohlcv("binance", "BTC/USDT", "7m", btc.start_ms, api_url=server.url)
    with pytest.raises(InputError, match="months"):
        download_ohlcv("binance", "BTC/USDT", "1M", btc.start_ms, api_url=server.url)


def test_unknown_exchange() -> None:
    with pytest.raises(InputError, match="binance"):
        download_ohlcv("binanse", "BTC/USDT", "1d", 1_600_000_000_000)


def test_bad_range() -> None:
    with pytest.raises(InputError, match="after"):
        download_ohlcv("binance", "BTC/USDT", "1d", 1_600_000_000_000, until_ms=1_500_000_000_000)


def test_http_500_is_download_error(btc: Bars) -> None:
    with KlinesServer({"BTC/USDT": btc}, fail_status=500, fail_paths=("/api/v3/klines",)) as srv:
        with pytest.raises(DownloadError) as info:
            download_ohlcv("binance", "BTC/USDT", "1d", btc.start_ms, api_url=srv.url)
        assert srv.count("/api/v3/klines") == 1  # no hammering
    assert "500" in str(info.value)


def test_http_500_on_markets_is_download_error(btc: Bars) -> None:
    with KlinesServer({"BTC/USDT": btc}, fail_status=503) as srv:
        with pytest.raises(DownloadError, match="503"):
            download_ohlcv("binance", "BTC/USDT", "1d", btc.start_ms, api_url=srv.url)


def test_refused_connection_is_download_error() -> None:
    with socket.socket() as sock:  # find a free port, then leave it closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="network error"):
        download_ohlcv("binance", "BTC/USDT", "1d", 1_600_000_000_000, api_url=f"http://127.0.0.1:{port}")


def test_only_spot_exchange_info_is_requested(btc: Bars) -> None:
    with KlinesServer({"BTC/USDT": btc}) as srv:
        download_ohlcv("binance", "BTC/USDT", "1d", int(btc.timestamp[-5]), api_url=srv.url)
        paths = [p for p, _ in srv.requests]
    assert paths[0] == "/api/v3/exchangeInfo" and paths.count("/api/v3/exchangeInfo") == 1
    assert set(paths) <= {"/api/v3/exchangeInfo", "/api/v3/klines"}  # no fapi/dapi/sapi calls


def test_redirect_urls_rewrites_every_host() -> None:
    urls = {"public": "https://api.binance.com/api/v3", "nested": {"fapi": "https://fapi.binance.com/fapi/v1"},
            "list": ["https://dapi.binance.com/dapi/v1?x=1"], "other": 5}
    out = redirect_urls(urls, "http://127.0.0.1:9000/prefix/")
    assert out == {"public": "http://127.0.0.1:9000/prefix/api/v3",
                   "nested": {"fapi": "http://127.0.0.1:9000/prefix/fapi/v1"},
                   "list": ["http://127.0.0.1:9000/prefix/dapi/v1?x=1"], "other": 5}
    with pytest.raises(InputError, match="http"):
        redirect_urls(urls, "ftp://example")


def test_server_speaks_binance_klines(server: KlinesServer, btc: Bars) -> None:
    import json
    import urllib.error
    import urllib.request

    def get(query: str):
        with urllib.request.urlopen(f"{server.url}/api/v3/klines?{query}") as resp:
            return json.loads(resp.read())

    rows = get(f"symbol=BTCUSDT&interval=1d&startTime={btc.timestamp[5]}&endTime={btc.timestamp[7]}")
    assert [r[0] for r in rows] == btc.timestamp[5:8].tolist()  # endTime inclusive
    assert len(rows[0]) == 12 and rows[0][6] == int(btc.timestamp[5]) + 86_400_000 - 1
    assert all(isinstance(v, str) for v in rows[0][1:6])
    assert float(rows[0][4]) == btc.close[5]
    latest = get("symbol=BTCUSDT&interval=1d&limit=3")  # no startTime: the newest bars
    assert [r[0] for r in latest] == btc.timestamp[-3:].tolist()
    assert len(get(f"symbol=BTCUSDT&interval=1d&startTime={btc.start_ms}&limit=5000")) == 1000
    with pytest.raises(urllib.error.HTTPError) as info:
        get("symbol=NOPE&interval=1d")
    assert info.value.code == 400 and json.loads(info.value.read())["code"] == -1121
