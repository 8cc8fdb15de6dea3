"""Helpers for the market tests: small real CSV files of valid 1m bars, to break one rule at a time."""

from __future__ import annotations

from pathlib import Path

#: 2024-01-01T00:00:00Z in epoch ms
T0 = 1_704_067_200_000
MINUTE = 60_000

HEADER = "timestamp,open,high,low,close,volume"


def good_rows(n: int = 6, start: int = T0, step: int = MINUTE) -> list[list[object]]:
    """``n`` valid 1m bars: [timestamp_ms, open, high, low, close, volume]."""
    rows = []
    price = 100.0
    for i in range(n):
        o = price
        c = price + (1.0 if i % 2 == 0 else -0.5)
        rows.append([start + i * step, o, max(o, c) + 0.25, min(o, c) - 0.25, c, 10.0 + i])
        price = c
    return rows


def write_csv(path: Path, rows: list[list[object]], header: str = HEADER) -> Path:
    """Write ``rows`` under ``header`` as a CSV file; values are written with ``str``."""
    lines = [header] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
