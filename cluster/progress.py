"""Progress bars for long work, on stderr so that ``--json`` stdout stays clean."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar", "status_spinner"]


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int, int | None], None]]:
    """Yield ``update(done, total)``; draws a bar on stderr when ``enabled``.

    ``total`` may be unknown (None) and later revealed through ``update``.
    """
    if not enabled:
        yield lambda done, total=None: None
        return
    from rich.console import Console  # noqa: PLC0415 - deferred: keeps this module cheap to import

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(file=sys.stderr), transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else bar.tasks[0].total)

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
