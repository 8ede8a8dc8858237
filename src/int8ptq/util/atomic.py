"""Atomic file writes: write to a temp file in the same folder, then rename over the target.

The file ends up with the mode any file the user creates gets (0o666 minus the umask), not
the private 0o600 of the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

BeforeRename = Callable[[Path], None]  # called with the complete temp file, before the rename
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it races)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a newly created regular file: 0o666 & ~umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], before_rename: BeforeRename | None = None) -> Iterator[Path]:
    """Yield a temp path next to `target`; on success rename it to `target`, else delete it.

    A kill at any moment leaves either the old file or the new one, never half a file.
    `before_rename` (tests) runs once the temp file is complete, just before the rename.
    """
    t = Path(target)
    t.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{t.name}.", suffix=".tmp", dir=t.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename(tmp_path)
        os.replace(tmp_path, t)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
