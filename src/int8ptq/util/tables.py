"""Human-readable tables (rich) and machine-readable JSON for the CLI."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from int8ptq.util.atomic import write_text

console = Console()  # tables for people; the CLI sends it to stderr under `--json -`, mutes it under -q
err_console = Console(stderr=True)  # warnings: always stderr


def warn(message: str) -> None:
    """A one-line warning on stderr (never stdout, which may carry JSON)."""
    err_console.print(f"int8ptq: warning: {message}", highlight=False, markup=False)


def pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def num(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        left = c in ("model", "tensor", "setting", "value", "backend", "weights", "preset")
        t.add_column(c, justify="left" if left else "right", overflow="fold")
    for r in rows:
        t.add_row(*r)
    console.print(t)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON to `path` atomically, or to stdout when `path` is "-"."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text(path, text)
