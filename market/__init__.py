"""Market data: the OHLCV/trade schema and its validation, files, the Parquet store, samples, downloads.

Modules (import what you need; nothing heavy is imported here):

* :mod:`market.errors` - ``InputError`` and ``DataValidationError``.
* :mod:`market.timeframe` - ``"5m"`` -> 300_000 ms, the bar grid, the timeframe inferred from timestamps.
* :mod:`market.bars` - the frozen ``Bars`` type and column names.
* :mod:`market.validate` - the data rules; gaps reported, never filled.
* :mod:`market.io` - ``read_bars`` from CSV / Parquet / Feather, as users' files come (always validated).
* :mod:`market.resample` - aggregation to a coarser timeframe.
* :mod:`market.store` - ``ParquetStore``, hive-partitioned by venue/symbol/timeframe.
* :mod:`market.samples` - the bundled real data (see ``samples/PROVENANCE.md``).
* :mod:`market.download` - paginated OHLCV downloads through ccxt.

Times are UTC int64 milliseconds since the epoch in arrays. This package
never imports ray.
"""

__all__ = ["errors", "timeframe", "bars", "validate", "io", "resample", "store", "samples", "download"]
