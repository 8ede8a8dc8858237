"""Progress bars (rich), silent when stderr is not a terminal or INT8PTQ_QUIET is set."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


def enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("INT8PTQ_QUIET")


def progress(items: Iterable[T], what: str, *, total: int | None = None, unit: str = "item") -> Iterator[T]:
    if not enabled():
        yield from items
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    cols = [
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*cols, transient=True, console=_console()) as bar:
        task = bar.add_task(what, total=total)
        for item in items:
            yield item
            bar.advance(task)


def _console():
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def byte_progress(
    what: str, total: int | None, *, done: int = 0, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """A transfer's bar: bytes done of the total, speed and time left; yields `advance(n)`.
    `done` bytes are already there (a resumed download). Given a console, it always draws."""
    if console is None and not enabled():
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    cols = [
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*cols, transient=console is None, console=console or _console()) as bar:
        task = bar.add_task(what, total=total, completed=done)
        yield lambda n: bar.advance(task, n)
