"""The Parquet bar store as a Ray Dataset, for cluster-scale reads; a sweep over many stored series.

``market.store`` owns the layout (Hive partitions ``venue=/symbol=/timeframe=``
under ``ParquetStore.partition_root``) and stays free of Ray; this module only
hands the matching files to ``ray.data.read_parquet``. Rows carry the bar
columns (``timestamp`` as UTC milliseconds, ``open high low close volume``)
plus the decoded partition columns ``venue``, ``symbol``, ``timeframe``.

:func:`sweep_series` runs one grid of one strategy over every matching series
of the store (many symbols), one row per (series, configuration). Two ways,
identical rows:

* **streamed** (Ray Data): the store is read by Ray Data's tasks, grouped by
  series (``groupby(["venue", "symbol", "timeframe"]).map_groups``), and each
  group is swept where it lies; the driver receives only the result rows, never
  a bar. The default above :data:`STREAM_ABOVE_BYTES` of Parquet.
* **in the driver** (the naive way): the driver reads every series into memory
  and ships each to a Ray task. Its memory grows with the store.

The driver's peak memory of both ways is measured in RESULTS.md
("Ray Data: a sweep over many stored series").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from raytrader.errors import InputError
from market.store import ParquetStore, StoreEntry

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import ray.data

__all__ = ["read_bars_dataset", "sweep_series", "SeriesSweep", "STREAM_ABOVE_BYTES", "should_stream"]

#: Parquet bytes of the chosen series above which :func:`sweep_series` streams through Ray Data by default
STREAM_ABOVE_BYTES = 64 * 1024 * 1024
#: how the streamed sweep groups the store's rows by series: Ray Data's sort-based pull shuffle. Ray 2.60's default
#: (hash shuffle with aggregator actors) cost 2-3x the CPU for the same rows: 20 series of the bundled bars, 9
#: configurations, on a private 2-CPU cluster back to back (load 12-23): 26.0 / 33.4 s of CPU (cluster and driver)
#: vs 11.7 / 15.7 s, 20.4 / 34.9 s vs 5.7 / 12.9 s of sweep
GROUP_SHUFFLE = "sort_shuffle_pull_based"
#: columns that name a series in the result rows (then the parameters, then ``backtest.sweep_result.METRICS``)
SERIES_COLUMNS = ("venue", "symbol", "timeframe")


def read_bars_dataset(store_root: str | Path, *, venue: str | None = None, symbol: str | None = None,
                      timeframe: str | None = None) -> "ray.data.Dataset":
    """Every stored series matching the filters (None matches all) as one Ray Dataset.

    Raises:
        InputError: nothing in the store matches; the message lists what is there.
    """
    store = ParquetStore(store_root)
    return _read(store, _chosen(store, venue=venue, symbols=None if symbol is None else (symbol,),
                                timeframe=timeframe))


def _read(store: ParquetStore, chosen: Sequence[StoreEntry]) -> "ray.data.Dataset":
    import ray.data  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)
    from ray.data.datasource.partitioning import Partitioning  # noqa: PLC0415 - late: keeps job and CLI start-up fast (Ray, numba, pandas load when used)

    return ray.data.read_parquet([str(e.path) for e in chosen],
                                 partitioning=Partitioning("hive", base_dir=str(store.partition_root)))


def _chosen(store: ParquetStore, *, venue: str | None, symbols: Sequence[str] | None,
            timeframe: str | None) -> list[StoreEntry]:
    entries = store.entries()
    chosen = [e for e in entries if (venue is None or e.venue == venue) and (symbols is None or e.symbol in symbols)
              and (timeframe is None or e.timeframe == timeframe)]
    if not chosen:
        have = ", ".join(f"{e.venue}/{e.symbol}/{e.timeframe}" for e in entries) or "nothing"
        wanted = symbols[0] if symbols and len(symbols) == 1 else (list(symbols) if symbols else None)
        raise InputError(f"no stored series matches venue={venue} symbol={wanted} timeframe={timeframe} "
                         f"in {store.root}; the store holds: {have}")
    return chosen


def should_stream(parquet_bytes: int, threshold: int = STREAM_ABOVE_BYTES) -> bool:
    """Whether a sweep over ``parquet_bytes`` of stored series streams through Ray Data (above ``threshold``)."""
    return parquet_bytes > threshold


@dataclass(frozen=True)
class SeriesSweep:
    """One grid over many stored series. ``rows``: one per (series, configuration), columns
    :data:`SERIES_COLUMNS`, the parameters, then ``backtest.sweep_result.METRICS``; sorted by series, then
    parameters. ``streamed``: read through Ray Data (else loaded in the driver); ``parquet_bytes``: the size
    of the series' files; ``seconds``: wall time of the whole call."""

    rows: "pd.DataFrame"
    streamed: bool
    series: int
    parquet_bytes: int
    seconds: float


def _sweep_one(bars: Any, options: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every configuration of ``options`` on one series: the result columns (series names repeated)."""
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies (in a Ray worker too)
    from backtest.sweep import evaluate_configs  # noqa: PLC0415 - late: keeps job and CLI start-up fast
    from backtest.sweep_result import METRICS  # noqa: PLC0415 - as above
    from strategies.registry import get_strategy  # noqa: PLC0415 - as above

    result = evaluate_configs(bars, get_strategy(options["strategy"]), options["names"], options["params"],
                              timeframe_ms=bars.timeframe_ms, fees_bps=options["fees_bps"], fill=options["fill"],
                              cash=options["cash"], threads=1, periods_per_year=options["periods_per_year"])
    n = len(result.params)
    out: dict[str, np.ndarray] = {c: np.full(n, getattr(bars, c), dtype=object) for c in SERIES_COLUMNS}
    out.update({name: result.params[:, i] for i, name in enumerate(options["names"])})
    out.update({m: np.asarray(getattr(result, m)) for m in METRICS})
    return out


def _sweep_group(group: dict[str, np.ndarray], options: dict[str, Any]) -> dict[str, np.ndarray]:
    """``map_groups`` over the store's rows of one series (in any order): its bars, swept."""
    from market.bars import Bars  # noqa: PLC0415 - in the Ray Data worker

    order = np.argsort(group["timestamp"], kind="stable")
    bars = Bars(timestamp=group["timestamp"][order].astype(np.int64),
                **{c: group[c][order].astype(np.float64) for c in ("open", "high", "low", "close", "volume")},
                **{c: str(group[c][0]) for c in SERIES_COLUMNS})
    return _sweep_one(bars, options)


def _ordered(frame: "pd.DataFrame", names: Sequence[str]) -> "pd.DataFrame":
    return frame.sort_values([*SERIES_COLUMNS, *names], kind="stable").reset_index(drop=True)


def sweep_series(store_root: str | Path, grid: Sequence[str], *, strategy: str = "sma_cross",
                 timeframe: str | None = None, venue: str | None = None, symbols: Sequence[str] | None = None,
                 fees_bps: float = 10.0, fill: str = "open", cash: float = 10_000.0,
                 periods_per_year: float | None = None, stream: bool | None = None) -> SeriesSweep:
    """Sweep ``grid`` (``-g`` texts) of ``strategy`` over every stored series matching the filters (module
    docstring); ``stream`` None: stream when the series' Parquet files pass :data:`STREAM_ABOVE_BYTES`.
    Ray must be initialised. Periods per year: measured per series unless given.

    Raises:
        InputError: nothing in the store matches, or a bad grid/strategy (named as ``raytrader sweep`` names it).
    """
    import pandas as pd  # noqa: PLC0415 - late: keeps job and CLI start-up fast
    import ray  # noqa: PLC0415 - as above
    import strategies  # noqa: F401, PLC0415 - registers the built-in strategies
    from backtest.grid import expand_grid, parse_grid  # noqa: PLC0415 - as above
    from strategies.registry import get_strategy  # noqa: PLC0415 - as above

    t0 = time.perf_counter()
    store = ParquetStore(store_root)
    chosen = _chosen(store, venue=venue, symbols=symbols, timeframe=timeframe)
    names, params = expand_grid(get_strategy(strategy), parse_grid(tuple(grid)))
    options = {"strategy": strategy, "names": tuple(names), "params": params, "fees_bps": fees_bps, "fill": fill,
               "cash": cash, "periods_per_year": periods_per_year}
    size = sum(e.path.stat().st_size for e in chosen)
    streamed = should_stream(size) if stream is None else stream
    if streamed:
        stored = _read(store, chosen)
        stored.context.shuffle_strategy = GROUP_SHUFFLE  # this dataset's own copy of the context, not the process'
        rows = stored.groupby(list(SERIES_COLUMNS)).map_groups(_sweep_group, fn_kwargs={"options": options},
                                                               batch_format="numpy")
        # numpy batches, as the naive way builds its frame (to_pandas would give Arrow-backed dtypes)
        frame = pd.concat([pd.DataFrame(b) for b in rows.iter_batches(batch_format="numpy", batch_size=None)],
                          ignore_index=True)
    else:
        task = ray.remote(num_cpus=1)(_sweep_one)
        loaded = [store.read(e.venue, e.symbol, e.timeframe) for e in chosen]  # every bar, in this process
        parts = ray.get([task.remote(bars, options) for bars in loaded])
        frame = pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
    frame = _ordered(frame, names)
    for c in SERIES_COLUMNS:
        frame[c] = frame[c].astype(str)
    return SeriesSweep(rows=frame, streamed=streamed, series=len(chosen), parquet_bytes=size,
                       seconds=time.perf_counter() - t0)
