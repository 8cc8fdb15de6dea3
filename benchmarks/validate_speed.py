"""Bar validation speed: ``market.validate.validate_bars`` on 2,000,000 one-minute bars, against a 2.0 s target.

The data is **synthetic**: a seeded geometric random walk (seed 7, 1e-4
per-bar volatility), opens at the previous close, highs and lows 0.1 %
outside them, so every rule passes and every row is checked. Correctness is
judged on real files in ``tests/market/test_validate.py``; this measures only
speed (moved here from that test: no timing assertions in unit tests).

Timed: one warm-up, then the median of ``--runs`` runs of ``validate_bars``.
The 2.0 s target is the budget for checking a file of that size before an
import or a backtest; the script exits 1 when the median misses it.

Reproduce: ``.venv/bin/python -m benchmarks.validate_speed`` (writes the
``validate-speed`` section of ``benchmarks/RESULTS.md``; ``--no-write`` prints only).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks._results import machine_line, write_section
from market.bars import Bars
from market.validate import validate_bars

ROWS = 2_000_000
TARGET_S = 2.0
T0 = 1_514_764_800_000  # 2018-01-01T00:00Z, on every grid
MINUTE = 60_000


def synthetic_bars(n: int = ROWS) -> Bars:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return Bars(T0 + np.arange(n, dtype=np.int64) * MINUTE, open_, np.maximum(open_, close) * 1.001,
                np.minimum(open_, close) * 0.999, close, rng.uniform(0, 5, n), "X/Y", "1m", "synthetic")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up (>= 3)")
    parser.add_argument("--no-write", action="store_true", help="print the result only")
    args = parser.parse_args(argv)
    bars = synthetic_bars()
    report = validate_bars(bars)  # warm-up, and proof the data is what we think
    if report.n_rows != ROWS:
        raise SystemExit(f"validated {report.n_rows} rows, expected {ROWS}")
    times = []
    for _ in range(max(3, args.runs)):
        started = time.perf_counter()
        validate_bars(bars)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    verdict = "meets" if median <= TARGET_S else "MISSES"
    text = (f"## Bar validation speed\n\n{machine_line()}\n\n"
            f"| rows | median of {len(times)} | min | max | target |\n|---|---|---|---|---|\n"
            f"| {ROWS:,} | {median:.3f} s | {min(times):.3f} s | {max(times):.3f} s | {TARGET_S:.1f} s ({verdict}) |\n\n"
            f"{ROWS / median / 1e6:.1f} M rows/s. Reproduce: `.venv/bin/python -m benchmarks.validate_speed`.\n")
    print(text)
    if not args.no_write:
        write_section("validate-speed", text)
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
