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
