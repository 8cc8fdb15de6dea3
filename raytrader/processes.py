"""The machine's processes with their attributes read into dicts each caller owns.

``psutil.process_iter(attrs)`` stores what it read on ``proc.info``, but psutil
keeps one ``Process`` object per PID for every caller in the interpreter, so
another iteration (another thread, or another generator still open) overwrites
``info`` between the read and its use: the CI failure of 2026-12-03 was
``up``'s ``proc.info["status"]`` finding the ``name``/``create_time`` a test's
watcher thread had just read. (psutil 8 also deprecates ``.info``, psutil#2784, for
prefetched values cached on those same shared objects.)
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import psutil

__all__ = ["process_infos"]


def process_infos(attrs: Iterable[str]) -> Iterator[tuple[psutil.Process, dict[str, Any]]]:
    """``(process, {attr: value})`` for every process alive when read; a process that exits meanwhile is left out.

    ``attrs`` are ``psutil.Process.as_dict`` names; a value psutil may not read (access denied, a zombie) is None.
    The dict is the caller's own: nothing else in the interpreter writes to it.
    """
    names = list(attrs)
    for proc in psutil.process_iter():
        try:
            info = proc.as_dict(names)
        except psutil.NoSuchProcess:
            continue
        yield proc, info
