"""The bar store read back as a Ray Dataset on the shared test cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jobs.datasets import read_bars_dataset
from raytrader.errors import InputError
from market.samples import load_sample
from market.store import ParquetStore


def test_store_reads_back_as_a_ray_dataset(ray_session, tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "store")
    eth, ltc = load_sample("ETH-BTC-5m"), load_sample("LTC-BTC-5m")
    store.write(eth)
    store.write(ltc)

    ds = read_bars_dataset(store.root, symbol="ETH/BTC")
    rows = ds.take_all()
    assert len(rows) == len(eth)
    assert {r["symbol"] for r in rows} == {"ETH/BTC"} and {r["timeframe"] for r in rows} == {"5m"}
    closes = np.array([r["close"] for r in sorted(rows, key=lambda r: r["timestamp"])])
    np.testing.assert_array_equal(closes, eth.close)

    both = read_bars_dataset(store.root, timeframe="5m")
    assert both.count() == len(eth) + len(ltc)

    with pytest.raises(InputError, match="the store holds: binance/ETH/BTC/5m"):
        read_bars_dataset(store.root, symbol="DOGE/USDT")


def _bundled_store(root: Path, copies: int) -> ParquetStore:
    """The bundled 5-minute alt/BTC samples (10 symbols), each also written under ``copies - 1`` more venue
    names, so that the store holds ``10 * copies`` series of real bars."""
    from dataclasses import replace

    from market.samples import list_samples

    store = ParquetStore(root)
    for sample in list_samples():
        if sample.kind == "ohlcv" and sample.timeframe == "5m" and sample.symbol.endswith("/BTC"):
            bars = load_sample(sample.name)
            for k in range(copies):
                store.write(bars if k == 0 else replace(bars, venue=f"copy{k}"))
    return store


@pytest.mark.timeout(600)  # Ray Data's grouping took minutes on a loaded machine (file: 6 min at load 35-45)
def test_a_sweep_over_many_stored_series_streams_through_ray_data_with_the_naive_ways_rows(
        ray_session, tmp_path: Path) -> None:
    """The same rows whether the driver loads every series (naive) or Ray Data streams them to the sweep (20 stored
    series of real bars). The drivers' peak memory is measured in benchmarks/ray_data_sweep.py, not asserted here."""
    import pandas as pd

    from backtest.sweep_result import METRICS
    from jobs.datasets import sweep_series

    store = _bundled_store(tmp_path / "store", copies=2)
    grid = ("fast=5:25:10", "slow=30:90:30")
    naive = sweep_series(store.root, grid, timeframe="5m", stream=False)
    streamed = sweep_series(store.root, grid, timeframe="5m", stream=True)
    assert (naive.streamed, streamed.streamed) == (False, True)
    assert naive.series == streamed.series == 20
    assert len(naive.rows) == 20 * 9 and set(naive.rows.columns) >= {"venue", "symbol", "fast", "slow", *METRICS}
    assert naive.rows.groupby(["venue", "symbol"]).size().eq(9).all()  # every series swept once
    pd.testing.assert_frame_equal(streamed.rows, naive.rows, check_exact=True)
    # each series' rows are its own: ETH/BTC's best Sharpe differs from LTC/BTC's
    best = naive.rows[naive.rows.venue == "binance"].groupby("symbol")["sharpe"].max()
    assert best["ETH/BTC"] != best["LTC/BTC"]


def test_streaming_is_the_default_above_the_threshold_only() -> None:
    from jobs.datasets import STREAM_ABOVE_BYTES, should_stream

    assert not should_stream(STREAM_ABOVE_BYTES) and should_stream(STREAM_ABOVE_BYTES + 1)
    assert should_stream(10, threshold=5) and not should_stream(5, threshold=5)
