"""Where CLI output goes: tables to stdout (stderr under `--json -`, nowhere under -q), warnings
and -v timings to stderr, JSON to a file or stdout."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from int8ptq.util.tables import console, warn, write_json


def configure(a: argparse.Namespace) -> None:
    """Route this process's output as the common options say."""
    if a.json == "-":
        console.file = sys.stderr  # stdout carries the JSON only
    if a.quiet:
        console.quiet = True
        os.environ["INT8PTQ_QUIET"] = "1"  # progress bars, here and in worker processes
    if a.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("int8ptq: %(message)s"))
        log = logging.getLogger("int8ptq")
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def emit_json(a: argparse.Namespace, data: Any) -> None:
    if a.json:
        write_json(a.json, data)


def skipped(items: list[str]) -> None:
    if items:
        first = ", ".join(Path(s).name for s in items[:3])
        warn(f"skipped {len(items)} unreadable images or bad lines (first: {first})")
