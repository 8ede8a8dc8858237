"""Calibration or evaluation data given as a path, an iterable of batches, or a reader."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Union

import numpy as np

from int8ptq.data.adapters import Inputs, Item, as_items
from int8ptq.data.dataset import Batch, Dataset, open_dataset
from int8ptq.data.model_input import InputSpec
from int8ptq.data.presets import Preset
from int8ptq.errors import UserError

# A path (list file, folder, .npy/.npz), an iterable of NCHW float32 arrays, a zero-argument
# callable that returns such an iterable (PaddleSlim's `reader`), or the peers' forms that
# data/adapters.py reads: a CalibrationDataReader, an nncf.Dataset, a torch DataLoader or tensor.
DataLike = Union[str, os.PathLike, Dataset, Iterable[Any], Callable[[], Iterable[Any]], Any]  # noqa: UP007


def iter_batches(
    data: DataLike,
    spec: InputSpec,
    preset: Preset,
    batch_size: int,
    limit: int | None = None,
    skipped: list[str] | None = None,
) -> tuple[Iterator[Batch], int | None]:
    """Batches in the model's layout, and how many batches to expect (None if unknown)."""
    if spec.batch is not None:
        batch_size = spec.batch  # a static batch dimension wins
    if isinstance(data, (str, os.PathLike, Dataset)):
        ds = data if isinstance(data, Dataset) else open_dataset(data)
        if limit is not None:
            ds = ds.subset(0, limit)
        if skipped is not None:
            skipped.extend(ds.skipped)
        total = -(-len(ds) // batch_size)
        out: Iterator[Batch] = (_to_layout(b, spec) for b in ds.batches(batch_size, preset, skipped))
    else:
        source = as_items(data() if callable(data) else data)
        total = None
        if isinstance(source, np.ndarray):  # one array of images: batch it
            n = len(source) if limit is None else min(limit, len(source))
            images = source
            source = ((images[i : i + batch_size], None) for i in range(0, n, batch_size))
            total = -(-n // batch_size)
        out = _arrays(source, spec, limit)
    return (out if spec.batch is None else _rebatch(out, spec.batch, skipped)), total


def _rebatch(batches: Iterator[Batch], size: int, skipped: list[str] | None) -> Iterator[Batch]:
    """Exactly `size` images a batch, for a model with a static batch dimension. Images that
    cannot fill a last batch are left out and counted."""
    xs: list[np.ndarray] = []
    ls: list[np.ndarray] = []
    names: list[str] = []
    for b in batches:
        xs.append(b.x)
        ls.append(b.labels)
        names.extend(b.names)
        x, lab = np.concatenate(xs), np.concatenate(ls)
        while len(x) >= size:
            yield Batch(x[:size], lab[:size], names[:size])
            x, lab, names = x[size:], lab[size:], names[size:]
        xs, ls = [x], [lab]
    if names and skipped is not None:
        skipped.extend(f"{n} (left out: the model's static batch is {size})" for n in names)


def _to_layout(b: Batch, spec: InputSpec) -> Batch:
    return Batch(spec.to_model(b.x), b.labels, b.names)


def _image(inputs: Inputs, spec: InputSpec, k: int) -> np.ndarray:
    """The image array of a batch; a dict names it (a one-key dict needs no name)."""
    if isinstance(inputs, dict):
        if spec.name in inputs:
            return inputs[spec.name]
        if len(inputs) == 1:
            return next(iter(inputs.values()))
        raise UserError(
            f"batch {k} has no array for the model input {spec.name!r} (found: {', '.join(inputs)})"
        )
    return inputs


def _arrays(source: Iterable[Item], spec: InputSpec, limit: int | None) -> Iterator[Batch]:
    seen = 0
    for k, (inputs, labels) in enumerate(source):
        x = np.asarray(_image(inputs, spec, k), dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise UserError(f"calibration batch {k} has shape {x.shape}; expected 4 dimensions")
        y = np.full(len(x), -1, np.int64) if labels is None or len(labels) != len(x) else labels
        if limit is not None:
            x, y = x[: max(limit - seen, 0)], y[: max(limit - seen, 0)]
            if not len(x):
                return
        seen += len(x)
        yield Batch(x, y, [f"batch{k}[{i}]" for i in range(len(x))])
