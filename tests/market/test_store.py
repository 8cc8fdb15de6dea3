from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from market.bars import Bars
from market.errors import DataValidationError, InputError
from market.samples import load_sample
from market.store import ParquetStore


def test_round_trip_keeps_arrays_and_metadata(store: ParquetStore) -> None:
    bars = load_sample("ETH-BTC-5m")
    path = store.write(bars)
    assert path == store.partition_root / "venue=binance" / "symbol=ETH%2FBTC" / "timeframe=5m" / "bars.parquet"
    back = store.read("binance", "ETH/BTC", "5m")
    assert back.equals(bars)
    meta = pq.read_schema(path).metadata
    assert {k: meta[k.encode()].decode() for k in ("venue", "symbol", "timeframe")} == {
        "venue": "binance", "symbol": "ETH/BTC", "timeframe": "5m"}
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert store.has("binance", "ETH/BTC", "5m") and not store.has("binance", "ETH/BTC", "1h")


def test_read_range_is_half_open(store: ParquetStore) -> None:
    bars = load_sample("ETH-BTC-5m")
    store.write(bars)
    start, end = int(bars.timestamp[10]), int(bars.timestamp[20])
    part = store.read("binance", "ETH/BTC", "5m", start_ms=start, end_ms=end)
    assert part.equals(bars.take(slice(10, 20)))


def test_merge_new_rows_win(store: ParquetStore) -> None:
    bars = load_sample("LTC-BTC-5m")
    store.write(bars.take(slice(0, 100)))
    newer = bars.take(slice(50, 150))
    changed = Bars(newer.timestamp, newer.open, newer.high * 1.01, newer.low, newer.close, newer.volume + 1.0,
                   newer.symbol, newer.timeframe, newer.venue)
    store.write(changed, mode="merge")
    merged = store.read("binance", "LTC/BTC", "5m")
    assert len(merged) == 150
    np.testing.assert_array_equal(merged.timestamp, bars.timestamp[:150])
    np.testing.assert_array_equal(merged.high[:50], bars.high[:50])  # old rows kept
    np.testing.assert_array_equal(merged.high[50:], changed.high)  # overlap: new rows win
    np.testing.assert_array_equal(merged.volume[50:], changed.volume)


def test_merge_fills_in_earlier_history(store: ParquetStore) -> None:
    bars = load_sample("XLM-BTC-5m")
    store.write(bars.take(slice(3000, None)))
    store.write(bars.take(slice(0, 3000)))
    assert store.read("binance", "XLM/BTC", "5m").equals(bars)


def test_replace_drops_stored_rows(store: ParquetStore) -> None:
    bars = load_sample("NXT-BTC-5m")
    store.write(bars)
    store.write(bars.take(slice(100, 110)), mode="replace")
    assert store.read("binance", "NXT/BTC", "5m").equals(bars.take(slice(100, 110)))


def test_invalid_bars_are_not_written(store: ParquetStore) -> None:
    bars = load_sample("ZEC-BTC-5m").take(slice(0, 10))
    path = store.write(bars)
    before = path.read_bytes()
    reversed_bars = bars.take(np.arange(9, -1, -1))
    with pytest.raises(DataValidationError) as info:
        store.write(reversed_bars)
    assert info.value.rule == "timestamps_sorted"
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_bad_mode_and_empty_key(store: ParquetStore) -> None:
    bars = load_sample("ZEC-BTC-5m").take(slice(0, 3))
    with pytest.raises(InputError, match="mode"):
        store.write(bars, mode="append")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="venue"):
        store.write(bars.with_meta(venue=""))


def test_missing_entry_names_it(store: ParquetStore) -> None:
    store.write(load_sample("ETH-BTC-5m"))
    with pytest.raises(InputError) as info:
        store.read("binance", "BTC/USDT", "1h")
    text = str(info.value)
    assert "'binance'" in text and "'BTC/USDT'" in text and "'1h'" in text
    assert "binance ETH/BTC 5m" in text  # and what is stored


def test_entries(store: ParquetStore) -> None:
    assert store.entries() == []
    eth = load_sample("ETH-BTC-5m")
    perp = load_sample("XRP-USDT-USDT-5m")
    store.write(eth)
    store.write(perp)
    entries = store.entries()
    assert [(e.venue, e.symbol, e.timeframe, e.rows) for e in entries] == [
        ("binance", "ETH/BTC", "5m", len(eth)), ("binance", "XRP/USDT:USDT", "5m", len(perp))]
    assert (entries[0].start_ms, entries[0].end_ms) == (eth.start_ms, eth.end_ms)
    assert entries[1].path.is_file()


def test_hive_dataset_decodes_symbol(store: ParquetStore) -> None:
    store.write(load_sample("ETH-BTC-5m"))
    store.write(load_sample("XRP-USDT-USDT-5m"))
    store.write(load_sample("BTC-USD-1d"))
    table = ds.dataset(store.partition_root, format="parquet", partitioning="hive").to_table()
    assert set(table.column("symbol").to_pylist()) == {"ETH/BTC", "XRP/USDT:USDT", "BTC/USD"}
    assert set(table.column("venue").to_pylist()) == {"binance", "bitstamp-coinbase"}
    assert set(table.column("timeframe").to_pylist()) == {"5m", "1d"}
    assert table.num_rows == 5760 + 1999 + 5152
    only = ds.dataset(store.partition_root, format="parquet", partitioning="hive").to_table(
        filter=ds.field("symbol") == "XRP/USDT:USDT")
    assert only.num_rows == 1999


def test_concurrent_merges_into_one_entry_lose_nothing(store: ParquetStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bars = load_sample("ETC-BTC-5m")
    chunks = [bars.take(slice(i, i + 720)) for i in range(0, len(bars), 720)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(store.write, chunks))
    assert store.read("binance", "ETC/BTC", "5m").equals(bars)
    leftovers = [p.name for p in store.path_for("binance", "ETC/BTC", "5m").parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
