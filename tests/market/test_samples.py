from __future__ import annotations

import hashlib
import re

import pytest

from raytrader.errors import InputError
from market.samples import SAMPLES_DIR, list_samples, load_sample, load_sample_frame, sample_path
from market.validate import validate_bars, validate_close_panel

ALTS = ("ADA", "DASH", "ETC", "ETH", "LTC", "NXT", "TRX", "XLM", "XMR", "ZEC")


def test_catalogue() -> None:
    samples = {s.name: s for s in list_samples()}
    assert {f"{a}-BTC-5m" for a in ALTS} <= set(samples)
    assert {"BTC-USD-1d", "sp500-close-1d", "XRP-ETH-1m", "XRP-ETH-trades", "ALT-BTC-1m",
            "XRP-USDT-USDT-5m", "XRP-USDT-USDT-funding-8h"} <= set(samples)
    assert len(samples) == 17
    assert samples["XRP-ETH-trades"].kind == "trades"
    assert samples["sp500-close-1d"].kind == "close-panel"
    assert samples["XRP-USDT-USDT-funding-8h"].kind == "funding"
    btc = samples["BTC-USD-1d"]
    assert (btc.symbol, btc.timeframe, btc.rows) == ("BTC/USD", "1d", 5152)
    assert btc.start_ms == 1_313_625_600_000  # 2011-08-18
    for s in samples.values():
        assert s.path.is_file() and s.path.is_relative_to(SAMPLES_DIR)


@pytest.mark.parametrize("name", [s.name for s in list_samples() if s.kind == "ohlcv"])
def test_every_bar_sample_loads_and_validates(name: str) -> None:
    sample = next(s for s in list_samples() if s.name == name)
    bars = load_sample(name)
    assert len(bars) == sample.rows
    assert (bars.symbol, bars.timeframe, bars.venue) == (sample.symbol, sample.timeframe, sample.venue)
    report = validate_bars(bars)
    assert (report.start_ms, report.end_ms) == (sample.start_ms, sample.end_ms)


@pytest.mark.parametrize("name", [s.name for s in list_samples()])
def test_every_sample_loads_as_validated_frame(name: str) -> None:
    frame = load_sample_frame(name)
    assert len(frame) == next(s.rows for s in list_samples() if s.name == name)
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_alt_btc_gaps_are_reported() -> None:
    rows = {a: len(load_sample(f"{a}-BTC-5m")) for a in ALTS}
    assert min(rows.values()) == 5720 and max(rows.values()) == 5760
    report = validate_bars(load_sample("ADA-BTC-5m"))
    assert report.n_rows + report.n_missing == 5760 and report.n_gaps == 5


def test_sp500_weekend_gaps() -> None:
    frame = load_sample_frame("sp500-close-1d")
    report = validate_close_panel(frame, "1d")
    assert frame.shape == (8313, 21)
    assert report.n_gaps > 1600  # at least one per weekend


def test_unknown_sample_lists_names() -> None:
    with pytest.raises(InputError) as info:
        load_sample("DOGE-BTC-5m")
    assert "ETH-BTC-5m" in str(info.value) and "BTC-USD-1d" in str(info.value)
    with pytest.raises(InputError, match="load_sample_frame"):
        load_sample("XRP-ETH-trades")
    assert sample_path("eth-btc-5m") == sample_path("ETH-BTC-5m")


def test_provenance_checksums_match_the_copies() -> None:
    text = (SAMPLES_DIR / "PROVENANCE.md").read_text()
    listed = dict(re.findall(r"^\| `([^`]+\.parquet)` \|.*\| `([0-9a-f]{64})` \|$", text, flags=re.M))
    on_disk = {p.relative_to(SAMPLES_DIR).as_posix() for p in SAMPLES_DIR.glob("*/*.parquet")}
    assert set(listed) == on_disk and len(on_disk) == 17
    for rel, digest in listed.items():
        assert hashlib.sha256((SAMPLES_DIR / rel).read_bytes()).hexdigest() == digest, rel
