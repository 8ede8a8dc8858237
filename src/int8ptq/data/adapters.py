"""Calibration and evaluation data in the forms the peers use, as (inputs, labels) pairs.

Accepted, beside paths and numpy arrays:
- an onnxruntime `CalibrationDataReader`, or anything with `get_next()` returning
  `{input_name: array}` dicts and then None (`rewind()`, when present, is called before each pass);
- an `nncf.Dataset`: its transform is applied (`get_inference_data()`); when its raw items are
  `(inputs, labels)` pairs the labels are read alongside (`get_data()`, the same order);
- a torch `DataLoader` (or any iterable) of batches: arrays, torch tensors, `{input_name: array}`
  dicts, or `(inputs, labels)` pairs (a DataLoader over `(image, label)` yields `[images, labels]`);
- a single 4-D array or torch tensor of images.

Each item becomes `(inputs, labels)`: inputs an NCHW float32 array or a `{input_name: array}`
dict, labels an int64 array or None. Nothing here imports torch, nncf or onnxruntime: tensors are
recognised by their `detach`/`numpy` methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from int8ptq.errors import UserError

Inputs = np.ndarray | dict[str, np.ndarray]
Item = tuple[Inputs, np.ndarray | None]
LABEL_KEYS = ("labels", "label")  # keys of a dict batch read as labels, not as a model input


def is_tensor(x: object) -> bool:
    """A torch tensor (or anything that converts the same way), without importing torch."""
    return hasattr(x, "detach") and hasattr(x, "numpy") and hasattr(x, "shape")


def to_numpy(x: object) -> np.ndarray:
    if is_tensor(x):
        return x.detach().cpu().numpy()  # type: ignore[attr-defined]  # a torch tensor
    return np.asarray(x)


def _is_labels(y: object) -> bool:
    """Integer class indexes, one per sample (or a scalar for one sample)."""
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        return True
    if not (is_tensor(y) or isinstance(y, (np.ndarray, list, tuple))):
        return False
    a = to_numpy(y) if not isinstance(y, (list, tuple)) else np.asarray(y)
    return a.ndim <= 1 and a.dtype.kind in "iu"


def _same_shape(a: object, b: object) -> bool:
    """Two images of one shape (a list of samples), as opposed to (inputs, labels)."""
    sa, sb = getattr(a, "shape", None), getattr(b, "shape", None)
    return sa is not None and sb is not None and tuple(sa) == tuple(sb) and len(tuple(sa)) >= 2


def item(raw: object, where: str = "item") -> Item:
    """One batch in any accepted form -> (inputs, labels)."""
    labels: np.ndarray | None = None
    if isinstance(raw, (tuple, list)) and len(raw) == 2 and not _same_shape(raw[0], raw[1]):
        # (inputs, labels); a second element that is not class indexes (a regression target) is dropped
        if _is_labels(raw[1]):
            labels = np.asarray(to_numpy(raw[1]), np.int64).reshape(-1)
        raw = raw[0]
    elif isinstance(raw, (tuple, list)) and len(raw) == 1:
        raw = raw[0]  # a DataLoader over a TensorDataset of images alone yields [images]
    if isinstance(raw, Mapping):
        arrays = {str(k): to_numpy(v) for k, v in raw.items()}
        found = [k for k in LABEL_KEYS if k in arrays]
        if found and labels is None:
            labels = np.asarray(arrays.pop(found[0]), np.int64).reshape(-1)
        if not arrays:
            raise UserError(f"{where}: a dict batch with no inputs")
        return arrays, labels
    if isinstance(raw, (tuple, list)):
        if not raw or not all(hasattr(v, "shape") or isinstance(v, (list, float, int)) for v in raw):
            raise UserError(
                f"{where}: a {type(raw).__name__} of {len(raw)} elements; expected an array, a "
                "{input_name: array} dict, or an (inputs, labels) pair"
            )
        return np.stack([to_numpy(v) for v in raw]), labels  # a list of images
    return to_numpy(raw), labels


class ReaderItems:
    """An onnxruntime-style reader (`get_next()` until None) as a re-iterable of items."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def __iter__(self) -> Iterator[Item]:
        if hasattr(self.reader, "rewind"):
            self.reader.rewind()
        k = 0
        while (batch := self.reader.get_next()) is not None:
            yield item(batch, f"reader batch {k}")
            k += 1


class NncfItems:
    """An `nncf.Dataset`: the transformed items, with labels from the raw `(x, y)` items."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __iter__(self) -> Iterator[Item]:
        raws = iter(self.dataset.get_data())
        with_labels = True
        for k, inp in enumerate(self.dataset.get_inference_data()):
            x, labels = item(inp, f"nncf item {k}")
            if with_labels:
                raw = next(raws, None)
                pair = isinstance(raw, (tuple, list)) and len(raw) == 2 and _is_labels(raw[1])
                with_labels = pair  # the raw items are pairs or they are not: decided on the first
                if pair and labels is None:
                    labels = np.asarray(to_numpy(raw[1]), np.int64).reshape(-1)  # type: ignore[index]  # raw is a pair here
            yield x, labels


class IterableItems:
    """Any iterable of batches (a DataLoader, a list, a generator) as items."""

    def __init__(self, source: Iterable[object]) -> None:
        self.source = source

    def __iter__(self) -> Iterator[Item]:
        for k, raw in enumerate(self.source):
            yield item(raw, f"batch {k}")


def one_pass(data: object) -> bool:
    """Data that can be read only once: an iterator, or a reader without `rewind()`."""
    if hasattr(data, "get_next"):
        return not hasattr(data, "rewind")
    if hasattr(data, "get_inference_data"):
        return False
    return isinstance(data, Iterator)


def as_items(data: object) -> Iterable[Item] | np.ndarray:
    """Python data as an iterable of (inputs, labels); one 4-D array of images is returned as an
    array (the caller batches it). Re-iterable whenever `data` is (a reader with `rewind`, a
    DataLoader, an nncf.Dataset, a list), so equalization can make its second pass."""
    if isinstance(data, np.ndarray) or is_tensor(data):
        arr = to_numpy(data)
        if arr.ndim == 4:
            return arr
        return IterableItems([arr])
    if hasattr(data, "get_inference_data") and hasattr(data, "get_data"):
        return NncfItems(data)
    if hasattr(data, "get_next"):
        return ReaderItems(data)
    if isinstance(data, Mapping):
        return IterableItems([data])  # one {input_name: array} batch
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise UserError(
            f"cannot read data of type {type(data).__name__}: give a path, arrays, a DataLoader, "
            "an nncf.Dataset or a CalibrationDataReader"
        )
    return IterableItems(data)
