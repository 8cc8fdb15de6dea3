"""The Parquet bar store as a Ray Dataset, for cluster-scale reads.

``market.store`` owns the layout (Hive partitions ``venue=/symbol=/timeframe=``
under ``ParquetStore.partition_root``) and stays free of Ray; this module only
hands the matching files to ``ray.data.read_parquet``. Rows carry the bar
columns (``timestamp`` as UTC milliseconds, ``open high low close volume``)
plus the decoded partition columns ``venue``, ``symbol``, ``timeframe``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from raytrader.errors import InputError
from market.store import ParquetStore

if TYPE_CHECKING:  # pragma: no cover
    import ray.data

__all__ = ["read_bars_dataset"]


def read_bars_dataset(store_root: str | Path, *, venue: str | None = None, symbol: str | None = None,
                      timeframe: str | None = None) -> "ray.data.Dataset":
    """Every stored series matching the filters (None matches all) as one Ray Dataset.

    Raises:
        InputError: nothing in the store matches; the message lists what is there.
    """
    import ray.data  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray.data.datasource.partitioning import Partitioning  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    store = ParquetStore(store_root)
    entries = store.entries()
    chosen = [e for e in entries if (venue is None or e.venue == venue) and (symbol is None or e.symbol == symbol)
              and (timeframe is None or e.timeframe == timeframe)]
    if not chosen:
        have = ", ".join(f"{e.venue}/{e.symbol}/{e.timeframe}" for e in entries) or "nothing"
        raise InputError(f"no stored series matches venue={venue} symbol={symbol} timeframe={timeframe} "
                         f"in {store.root}; the store holds: {have}")
    return ray.data.read_parquet([str(e.path) for e in chosen],
                                 partitioning=Partitioning("hive", base_dir=str(store.partition_root)))
