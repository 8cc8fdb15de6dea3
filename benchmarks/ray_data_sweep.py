"""Ray Data: a sweep over many stored series, streamed vs loaded in the driver — the driver's peak memory.

Reproduce::

    .venv/bin/python -m benchmarks.ray_data_sweep              # writes the "ray-data-sweep" section of RESULTS.md
    .venv/bin/python -m benchmarks.ray_data_sweep --copies 16  # a store twice as large

The store: the ten bundled 5-minute alt/BTC samples (``market/samples``), each written under ``--copies``
venue names (real bars, repeated to make a store of many series). Each way runs
:func:`jobs.datasets.sweep_series` (``sma_cross``, 9 configurations per series) in a **fresh driver
process** of its own on a fresh local Ray (``ray.init(num_cpus=2)``), so that the process's peak RSS
(``ru_maxrss``) belongs to that way alone; tracemalloc's peak (Python and numpy allocations during the call;
not Arrow's) is taken too. The rows of both ways are compared exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._results import machine_line, write_section

GRID = ("fast=5:25:10", "slow=30:90:30")


def _one(store: str, stream: bool, out: str) -> None:
    """The child: one way, measured; writes its numbers and rows."""
    import tracemalloc

    import ray

    from jobs.datasets import sweep_series

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never a running cluster
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = sweep_series(store, GRID, timeframe="5m", stream=stream)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.rows.to_parquet(Path(out) / f"rows-{int(stream)}.parquet")
    (Path(out) / f"numbers-{int(stream)}.json").write_text(json.dumps({
        "stream": stream, "series": result.series, "parquet_bytes": result.parquet_bytes, "seconds": result.seconds,
        "tracemalloc_peak": peak, "maxrss_before_kib": rss0, "maxrss_kib": rss, "rows": len(result.rows)}))
    ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="venue copies of each bundled series (default 8)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("STORE", "STREAM", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _one(args.child[0], args.child[1] == "1", args.child[2])
        return 0

    import pandas as pd

    from tests.jobs.test_datasets import _bundled_store

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    root = Path(tempfile.mkdtemp(prefix="rt-rds-", dir="/tmp"))
    try:
        store = _bundled_store(root / "store", copies=args.copies)
        numbers = {}
        for stream in (False, True):
            subprocess.run([sys.executable, "-m", "benchmarks.ray_data_sweep", "--child", str(store.root),
                            str(int(stream)), str(root)], check=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
            numbers[stream] = json.loads((root / f"numbers-{int(stream)}.json").read_text())
            print(numbers[stream], flush=True)
        pd.testing.assert_frame_equal(pd.read_parquet(root / "rows-1.parquet"), pd.read_parquet(root / "rows-0.parquet"),
                                      check_exact=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    naive, streamed = numbers[False], numbers[True]
    mib = 1024 * 1024
    text = "\n".join([
        "## Ray Data: a sweep over many stored series, streamed vs loaded in the driver (`benchmarks/ray_data_sweep.py`)",
        "",
        f"{machine_line()}; load average {load} (other work shared the machine). Reproduce: "
        f"`.venv/bin/python -m benchmarks.ray_data_sweep --copies {args.copies}`.",
        "",
        f"{naive['series']} series (the 10 bundled 5-minute alt/BTC samples × {args.copies} venue copies), "
        f"{naive['parquet_bytes'] / mib:.1f} MiB of Parquet; `sma_cross`, 9 configurations per series, "
        f"{naive['rows']:,} result rows, identical both ways (compared exactly). Each way in a fresh driver process.",
        "",
        "| way | driver peak RSS (ru_maxrss) | driver RSS before the call | tracemalloc peak during the call | wall s |",
        "|---|---|---|---|---|",
        *[f"| {name} | {n['maxrss_kib'] / 1024:.0f} MiB | {n['maxrss_before_kib'] / 1024:.0f} MiB | "
          f"{n['tracemalloc_peak'] / mib:.1f} MiB | {n['seconds']:.1f} |"
          for name, n in (("loaded in the driver (naive)", naive), ("streamed through Ray Data", streamed))],
        "",
        "The driver's RSS is mostly Ray and its imports; what grows with the store is the tracemalloc column "
        "(every bar passes through the naive driver; the streamed one receives only the result rows). Ray Data's "
        "executor runs in the driver and costs it memory of its own, which does not grow with the bars.",
    ])
    print(text)
    if not args.no_write:
        print(f"wrote {write_section('ray-data-sweep', text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
