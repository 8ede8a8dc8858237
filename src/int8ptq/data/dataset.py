"""Datasets: where images and labels come from, and batching them for a model.

DATA may be a list file of `relative/path [label]` lines, a folder (one subfolder per class,
or a flat folder of images), a .npy of NCHW float32 images, or a .npz with `x` and optional
`y`. Unreadable images and bad label lines are skipped and counted, never fatal.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from int8ptq.data.presets import Preset
from int8ptq.errors import UserError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
MAX_PIXELS = 64_000_000  # larger images are treated as decompression bombs and skipped
NUM_CLASSES_MAX = 1_000_000
PROCESS_DECODE_MIN = 512  # images from which decoding runs in worker processes


@dataclass(frozen=True)
class Batch:
    x: np.ndarray  # NCHW float32
    labels: np.ndarray  # int64, -1 where unknown
    names: list[str]


@dataclass
class Dataset:
    """Image files with optional labels, or preprocessed arrays."""

    source: str
    files: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    arrays: np.ndarray | None = None
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.arrays) if self.arrays is not None else len(self.files)

    @property
    def has_labels(self) -> bool:
        return any(lbl >= 0 for lbl in self.labels)

    def subset(self, start: int, stop: int | None = None) -> Dataset:
        sl = slice(start, stop)
        arrays = self.arrays[sl] if self.arrays is not None else None
        return Dataset(f"{self.source}[{start}:{stop or ''}]", self.files[sl], self.labels[sl], arrays, [])

    def batches(self, batch_size: int, preset: Preset, skipped: list[str] | None = None) -> Iterator[Batch]:
        """Decoded, preprocessed batches. Unreadable images go to `skipped` (or self.skipped)."""
        sink = self.skipped if skipped is None else skipped
        if self.arrays is not None:
            for i in range(0, len(self.arrays), batch_size):
                x = np.ascontiguousarray(self.arrays[i : i + batch_size], dtype=np.float32)
                lbl = np.asarray(self.labels[i : i + batch_size], np.int64)
                yield Batch(x, lbl, [f"{self.source}[{j}]" for j in range(i, i + len(x))])
            return
        with _pool(len(self.files)) as pool:
            for i in range(0, len(self.files), batch_size):
                chunk = self.files[i : i + batch_size]
                decoded = list(pool.map(_decode, chunk, [preset] * len(chunk)))
                keep = [k for k, d in enumerate(decoded) if d is not None]
                sink.extend(str(chunk[k]) for k, d in enumerate(decoded) if d is None)
                if not keep:
                    continue
                x = np.stack([d for d in decoded if d is not None])
                lbl = np.asarray([self.labels[i + k] for k in keep], np.int64)
                yield Batch(x, lbl, [chunk[k].name for k in keep])


def _pool(n: int) -> Executor:
    """Processes for long runs (JPEG decoding then runs beside inference, on every core);
    threads for short ones, where starting processes would cost more than it saves."""
    workers = max(1, min(os.cpu_count() or 1, 8))
    if n >= PROCESS_DECODE_MIN and workers > 1:
        import multiprocessing as mp

        return ProcessPoolExecutor(
            workers, mp_context=mp.get_context("forkserver" if os.name == "posix" else "spawn")
        )
    return ThreadPoolExecutor(max(workers, 2))


def _decode(path: Path, preset: Preset) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    return None
                img.draft("RGB", (preset.crop * 2, preset.crop * 2))  # fast JPEG downscale
                return preset(img)
    except Exception:  # noqa: BLE001 - any decode failure means: skip and count this image
        return None


def _list_file(path: Path) -> Dataset:
    ds = Dataset(str(path))
    root = path.parent
    for lineno, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            ds.skipped.append(f"{path.name}:{lineno} (not UTF-8)")
            continue
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        label = -1
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            label = int(parts[1])
            if not 0 <= label < NUM_CLASSES_MAX:
                ds.skipped.append(f"{path.name}:{lineno} (label {label} out of range)")
                continue
            rel = parts[0]
        else:
            rel = line
        ds.files.append(root / rel)
        ds.labels.append(label)
    return ds


def _folder(path: Path) -> Dataset:
    ds = Dataset(str(path))
    classes = sorted(d for d in path.iterdir() if d.is_dir())
    if classes:
        for label, d in enumerate(classes):
            for f in sorted(d.iterdir()):
                if f.suffix.lower() in IMAGE_EXTS:
                    ds.files.append(f)
                    ds.labels.append(label)
    else:
        for f in sorted(path.iterdir()):
            if f.suffix.lower() in IMAGE_EXTS:
                ds.files.append(f)
                ds.labels.append(-1)
    return ds


def _arrays(path: Path) -> Dataset:
    try:
        if path.suffix == ".npy":
            x, y = np.load(path, mmap_mode="r", allow_pickle=False), None
        else:
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z:
                    raise UserError(f"{path} has no array named 'x' (found: {', '.join(z.files) or 'none'})")
                x = z["x"]
                y = z["y"] if "y" in z.files else None
    except (ValueError, OSError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if x.ndim != 4:
        raise UserError(f"{path}: expected NCHW images (4 dimensions), got shape {tuple(x.shape)}")
    labels = [int(v) for v in y] if y is not None else [-1] * len(x)
    return Dataset(str(path), arrays=x, labels=labels)


def _seed_binary(path: Path) -> Dataset:
    """PaddleSlim's preprocessed `int8_full_val.bin`: int64 count, float32 N x 3 x 224 x 224
    images, int64 labels. Memory-mapped: batches are read from disk as they are needed."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise UserError(f"{path}: too short for a seed binary (int64 count, images, labels)")
    n = int(np.frombuffer(head, np.int64)[0])
    image = 3 * 224 * 224 * 4
    if n <= 0 or 8 + n * (image + 8) != size:
        raise UserError(f"{path}: size {size} does not match a seed binary of {n} images")
    x = np.memmap(path, np.float32, "r", offset=8, shape=(n, 3, 224, 224))
    y = np.memmap(path, np.int64, "r", offset=8 + n * image, shape=(n,))
    return Dataset(str(path), arrays=x, labels=[int(v) for v in y])


def open_dataset(spec: str | os.PathLike[str]) -> Dataset:
    """Open DATA; raise UserError for a missing path, an unknown format or no images."""
    path = Path(spec)
    if not path.exists():
        raise UserError(f"data not found: {path}")
    if path.is_dir():
        ds = _folder(path)
    elif path.suffix.lower() in (".txt", ".lst", ".list"):
        ds = _list_file(path)
    elif path.suffix.lower() in (".npy", ".npz"):
        ds = _arrays(path)
    elif path.suffix.lower() == ".bin":
        ds = _seed_binary(path)
    else:
        raise UserError(
            f"data format not supported: {path.name} (use a folder, a .txt list, .npy, .npz or .bin)"
        )
    if len(ds) == 0:
        raise UserError(f"no images found in {path}")
    return ds
