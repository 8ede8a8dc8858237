"""What a worker does with one shard: decode its images, run every model, return small
per-image records (labels, top-5 per model, logit cosine against the first model)."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from int8ptq.data.dataset import Batch, Dataset, open_dataset
from int8ptq.data.model_input import InputSpec
from int8ptq.data.presets import PRESETS, Preset
from int8ptq.metrics import TOPK, cosine, top_classes
from int8ptq.runtime import Runner, make_runner


@dataclass(frozen=True)
class EvalJob:
    """Everything a worker needs besides its shard; models travel as bytes, once per worker."""

    models: tuple[bytes | str, ...]  # serialized models, or paths of models with external data
    data: str  # a path every worker can read (shared file system on a cluster)
    preset: Preset | str  # the preprocessing, or a preset's name
    crop: int
    layout: str
    batch_size: int
    backend: str = "ort"
    threads: int | None = None
    data_key: str = ""  # data_fingerprint() of `data`: its content, not only its name
    limit: int | None = None

    @property
    def pixels(self) -> Preset:
        """The preprocessing at the job's crop size."""
        base = self.preset if isinstance(self.preset, Preset) else PRESETS[self.preset]
        return base.with_crop(self.crop)

    @functools.cached_property
    def model_keys(self) -> tuple[str, ...]:
        return tuple(_model_key(m) for m in self.models)

    @property
    def key(self) -> str:
        """Identifies the job's results: any change to what decides a result (model bytes,
        data, pixel settings, backend, batch size, limit, threads) gives another key."""
        h = hashlib.sha256()
        for k in self.model_keys:
            h.update(k.encode())
        pixels = repr(self.pixels)
        fields = [os.path.abspath(self.data), self.data_key, pixels, self.layout, self.batch_size]
        fields += [self.backend, self.threads, self.limit]
        h.update("|".join(str(f) for f in fields).encode())
        return h.hexdigest()[:32]


def _model_key(m: bytes | str) -> str:
    """A model's content hash (a path: its file and external data files' bytes)."""
    if isinstance(m, bytes):
        return hashlib.sha256(m).hexdigest()
    h = hashlib.sha256()
    p = Path(m)
    for f in [p, *sorted(p.parent.glob(f"{p.name}.*.data"))]:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):  # noqa: B023
                h.update(chunk)
    return h.hexdigest()


def data_fingerprint(ds: Dataset) -> str:
    """What the data is: a list file's content, every image's name, size and modification
    time with its label, or the arrays' bytes."""
    h = hashlib.sha256()
    src = Path(ds.source)
    if ds.arrays is not None:
        arr = np.ascontiguousarray(ds.arrays)
        h.update(f"{arr.shape}|{arr.dtype}|{list(ds.labels)}".encode())
        h.update(memoryview(arr).cast("B"))  # type: ignore[arg-type]  # an ndarray is a buffer; numpy's stubs say otherwise
        return h.hexdigest()
    if src.is_file():
        h.update(src.read_bytes())
    for i, f in enumerate(ds.files):
        label = ds.labels[i] if i < len(ds.labels) else -1
        try:
            st = f.stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}|{label}\n".encode())
        except OSError:
            h.update(f"{f}|missing|{label}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Shard:
    index: int
    start: int  # file indexes [start, stop), aligned to batch boundaries
    stop: int


@dataclass(frozen=True)
class ShardResult:
    index: int
    labels: np.ndarray  # (n,) int64, -1 unknown
    top: np.ndarray  # (models, n, TOPK) int32
    cosine: np.ndarray  # (models, n) float64, against model 0
    skipped: list[str]
    seconds: np.ndarray  # (models,) inference time


def make_shards(n: int, batch_size: int, per_shard: int, first: int = 0) -> list[Shard]:
    """Shards of whole batches over items [first, first + n), so every executor runs exactly
    the same batches."""
    size = max(batch_size, (per_shard // batch_size) * batch_size)
    return [Shard(i, first + s, first + min(s + size, n)) for i, s in enumerate(range(0, n, size))]


def run_batches(runners: list, batches, index: int = 0) -> ShardResult:  # noqa: ANN001
    """Per-image records of every runner over `batches` (already in the model's layout):
    image `Batch`es, or `Feed`s of `{input_name: array}`."""
    labels: list[np.ndarray] = []
    tops: list[list[np.ndarray]] = [[] for _ in runners]
    coss: list[list[np.ndarray]] = [[] for _ in runners]
    secs = np.zeros(len(runners))
    for b in batches:
        ref = None
        x, n = (b.inputs, len(b)) if hasattr(b, "inputs") else (b.x, len(b.x))
        for i, r in enumerate(runners):
            t = time.perf_counter()
            y = np.asarray(r.run(x), np.float64).reshape(n, -1)
            secs[i] += time.perf_counter() - t
            tops[i].append(top_classes(y))
            ref = y if ref is None else ref
            coss[i].append(cosine(ref, y))
        labels.append(b.labels)
    m = len(runners)
    if not labels:
        empty = np.zeros((m, 0, TOPK), np.int32)
        return ShardResult(index, np.zeros(0, np.int64), empty, np.zeros((m, 0)), [], secs)
    top = np.stack([np.concatenate(t) for t in tops])
    cos = np.stack([np.concatenate(c) for c in coss])
    return ShardResult(index, np.concatenate(labels), top, cos, [], secs)


class Worker:
    """Runs shards in one process and keeps the last few models' runners loaded, so a model
    loads once per process, not once per shard. The executor that runs shards owns its
    workers (see executors.py). `before_shard`, a test hook, runs before each shard (the
    tests inject one that kills the worker process)."""

    KEEP = 4

    def __init__(self, before_shard: Callable[[Shard], None] | None = None) -> None:
        self.before_shard = before_shard
        self._runners: dict[tuple[str, str, int | None], Runner] = {}

    def runner(self, model: bytes | str, key: str, backend: str, threads: int | None) -> Runner:
        k = (key, backend, threads)
        if k not in self._runners:
            while len(self._runners) >= self.KEEP:
                self._runners.pop(next(iter(self._runners)))
            self._runners[k] = make_runner(model, backend, threads)
        return self._runners[k]

    def run(self, job: EvalJob, shard: Shard) -> ShardResult:
        if self.before_shard is not None:
            self.before_shard(shard)
        ds = open_dataset(job.data).subset(shard.start, shard.stop)
        base = job.pixels
        spec = InputSpec("input", job.layout, None, job.crop)
        pairs = zip(job.models, job.model_keys, strict=True)
        runners = [self.runner(m, k, job.backend, job.threads) for m, k in pairs]
        skipped: list[str] = []
        decoded = ds.batches(job.batch_size, base, skipped)
        batches = (Batch(spec.to_model(b.x), b.labels, b.names) for b in decoded)
        r = run_batches(runners, batches, shard.index)
        return ShardResult(r.index, r.labels, r.top, r.cosine, skipped, r.seconds)
