"""Calibration or evaluation data given as a path, an iterable of batches, or a reader.
Whatever the form, batches come out as `Feed`s: `{input_name: array}` in the model's layout."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Union

import numpy as np

from int8ptq.data import feeds as fd
from int8ptq.data.adapters import as_items
from int8ptq.data.dataset import Dataset, open_dataset
from int8ptq.data.feeds import Feed
from int8ptq.data.model_input import ModelInputs
from int8ptq.data.presets import Preset

# A path (list file, image folder, .npy/.npz, a .npz with one array per input name, a folder
# of .npz samples), an iterable of arrays or of {input_name: array} dicts, a zero-argument
# callable that returns such an iterable (PaddleSlim's `reader`), or the peers' forms that
# data/adapters.py reads: a CalibrationDataReader, an nncf.Dataset, a torch DataLoader or tensor.
DataLike = Union[str, os.PathLike, Dataset, Iterable[Any], Callable[[], Iterable[Any]], Any]  # noqa: UP007


def is_image_data(data: DataLike, inputs: ModelInputs) -> bool:
    """Images (or NCHW arrays) that the presets decode, as opposed to arrays by input name."""
    if isinstance(data, Dataset):
        return True
    if not isinstance(data, (str, os.PathLike)):
        return False
    p = Path(data)
    return not (fd.is_npz_folder(p) or fd.is_named_npz(p, inputs))


def iter_batches(
    data: DataLike,
    inputs: ModelInputs,
    preset: Preset,
    batch_size: int,
    limit: int | None = None,
    skipped: list[str] | None = None,
) -> tuple[Iterator[Feed], int | None]:
    """Batches in the model's layout, and how many batches to expect (None if unknown)."""
    static = inputs.batch
    if static is not None:
        batch_size = static  # a static batch dimension wins
    total: int | None = None
    if is_image_data(data, inputs):
        spec = inputs.only_image()
        ds = data if isinstance(data, Dataset) else open_dataset(data)  # type: ignore[arg-type]
        if limit is not None:
            ds = ds.subset(0, limit)
        if skipped is not None:
            skipped.extend(ds.skipped)
        total = -(-len(ds) // batch_size)
        out: Iterator[Feed] = (
            Feed({spec.name: spec.to_model(b.x)}, b.labels, b.names)
            for b in ds.batches(batch_size, preset, skipped)
        )
    elif isinstance(data, (str, os.PathLike)):
        p = Path(data)
        if fd.is_npz_folder(p):
            out = fd.group(fd.limited(fd.from_npz_folder(p, inputs), limit), batch_size)
        else:
            out, total = fd.from_npz(p, inputs, batch_size)
            out = fd.limited(out, limit)
    else:
        source = as_items(data() if callable(data) else data)  # (inputs, labels) pairs
        if isinstance(source, np.ndarray):  # one array of images: batch it
            n = len(source) if limit is None else min(limit, len(source))
            images = source
            source = ((images[i : i + batch_size], None) for i in range(0, n, batch_size))
            total = -(-n // batch_size)
        out = fd.limited(fd.from_items(source, inputs, batch_size), limit)
    return (out if static is None else fd.rebatch(out, static, skipped)), total
