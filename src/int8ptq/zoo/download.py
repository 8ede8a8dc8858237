"""Download weight files once into a cache, checked against a pinned sha256.

The file appears under its final name only after its checksum matched, so an interrupted
or corrupt transfer never leaves a file that would be trusted. An interrupted transfer keeps
a `.part` file and resumes from it with an HTTP Range request. A cached file is re-checked
every time it is used; a bad one is deleted and downloaded again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from int8ptq.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

CHUNK = 1 << 20
TIMEOUT = 60


def cache_dir() -> Path:
    base = os.environ.get("INT8PTQ_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "int8ptq")
    return Path(base) / "weights"


def _name(url: str) -> str:
    u = urlparse(url)
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{u.netloc}{u.path}")[-150:]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _matches(digest: str, sha256: str | None, prefix: str | None) -> bool:
    if sha256 is not None:
        return digest == sha256.lower()
    if prefix is not None:
        return digest.startswith(prefix.lower())
    return True


def _transfer(url: str, part: Path, console: Console | None = None) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT)  # noqa: S310 - http(s) URLs we pin
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to fetch: the .part is complete (or wrong)
            return
        raise UserError(f"download failed: {url}: HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise UserError(f"download failed: {url}: {getattr(e, 'reason', e)}") from None
    with resp:
        resumed = resp.status == 206
        total = resp.headers.get("Content-Length")
        expected = int(total) if total is not None else None
        got = 0
        from int8ptq.util.progress import byte_progress

        done = have if resumed else 0
        whole = None if expected is None else done + expected
        with (
            open(part, "ab" if resumed else "wb") as f,
            byte_progress(
                f"downloading {Path(urlparse(url).path).name}", whole, done=done, console=console
            ) as advance,
        ):
            for block in iter(lambda: resp.read(CHUNK), b""):
                f.write(block)
                got += len(block)
                advance(len(block))
        if expected is not None and got < expected:
            raise UserError(f"download interrupted: {url} ({got} of {expected} bytes); run again to resume")


def fetch(
    url: str, sha256: str | None = None, sha256_prefix: str | None = None, *, console: Console | None = None
) -> Path:
    """The cached, verified file for `url`, downloading (or resuming) it if needed. The progress
    bar (bytes, total, speed, time left) goes to stderr on a terminal, or to `console` if given."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / _name(url)
    pin = sha256 or sha256_prefix
    if dest.exists():
        if _matches(sha256_of(dest), sha256, sha256_prefix):
            return dest
        dest.unlink()  # stale or corrupt: never trusted, fetched again
    part = dest.with_name(dest.name + ".part")
    try:
        _transfer(url, part, console)
    except (OSError, http.client.HTTPException) as e:  # the connection broke mid-transfer
        raise UserError(f"download interrupted: {url} ({type(e).__name__}); run again to resume") from None
    digest = sha256_of(part)
    if not _matches(digest, sha256, sha256_prefix):
        part.unlink()
        raise UserError(f"checksum mismatch for {url}: expected {pin}, got {digest}")
    if pin is None:
        warnings.warn(f"no pinned checksum for {url}; got sha256 {digest}", stacklevel=2)
    os.replace(part, dest)
    return dest
