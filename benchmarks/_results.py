"""Write one benchmark's section of ``benchmarks/RESULTS.md`` without touching the others.

Each benchmark script owns the text between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; the file is rewritten under an exclusive lock so two
scripts finishing at once do not lose each other's tables.
"""

from __future__ import annotations

import fcntl
import platform
import subprocess
import time
from pathlib import Path

__all__ = ["RESULTS", "write_section", "machine_line"]

RESULTS = Path(__file__).with_name("RESULTS.md")
_HEADER = "# Benchmark results\n\nWritten by the scripts in `benchmarks/`; each section says how to reproduce it.\n"


def machine_line() -> str:
    """One line describing where and when the numbers were taken."""
    try:
        cpu = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # pragma: no cover
        cpu = "?"
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu} CPUs, "
            f"Python {platform.python_version()}, {platform.machine()}")


def write_section(name: str, markdown: str) -> Path:
    """Replace (or append) the section ``name`` with ``markdown``; returns the results path."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}\n"
    RESULTS.touch(exist_ok=True)
    with RESULTS.open("r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        text = fh.read() or _HEADER
        if start in text and end in text:
            head, _, rest = text.partition(start)
            _, _, tail = rest.partition(end)
            text = head + block + tail.lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + block
        fh.seek(0)
        fh.write(text)
        fh.truncate()
    return RESULTS
