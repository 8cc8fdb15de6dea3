"""Progress bars for long work, on stderr so that ``--json`` stdout stays clean.

:func:`progress_enabled` is the one rule for when to draw: always for
people; under ``--json`` only when stderr is a terminal (a script that
reads the JSON and captures stderr gets no bar in its logs).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

__all__ = ["progress_bar", "status_spinner", "progress_enabled"]


def progress_enabled(as_json: bool, stream: object = None) -> bool:
    """Draw a bar unless ``--json`` was asked for and stderr (``stream``) is not a terminal."""
    stream = sys.stderr if stream is None else stream
    return not as_json or bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True,
                 unit: str = "") -> Iterator[Callable[..., None]]:
    """Yield ``update(done, total=None, info="")``; draws a bar on stderr when ``enabled``.

    The bar shows ``done/total`` ``unit``, ``info`` (e.g. ``2 trial(s) running``), the elapsed time
    and an ETA. ``total`` may be unknown (None) and later revealed through ``update``.
    """
    if not enabled:
        yield lambda done, total=None, info="": None
        return
    from rich.console import Console  # noqa: PLC0415 - deferred: keeps this module cheap to import

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(file=sys.stderr), transient=False,
    ) as bar:
        task = bar.add_task(description, total=total, info="")

        def update(done: int, new_total: int | None = None, info: str | None = None) -> None:
            fields = {} if info is None else {"info": info}
            bar.update(task, completed=done, total=new_total if new_total is not None else bar.tasks[0].total,
                       **fields)

        yield update


@contextmanager
def status_spinner(description: str, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """Yield ``update(status_text)``; draws a spinner, the text and the elapsed time on stderr."""
    if not enabled:
        yield lambda text: None
        return
    from rich.console import Console  # noqa: PLC0415 - deferred: keeps this module cheap to import

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(file=sys.stderr), transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(text: str) -> None:
            bar.update(task, description=f"{description} {text}")

        yield update
