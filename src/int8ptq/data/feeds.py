"""Model inputs by name: a batch is `{input_name: array}` (first axis = samples).

They come from a `.npz` with one array per input name, a folder of `.npz` files with one
sample each (shapes may differ from file to file), or Python dicts. Samples are batched
only with neighbours of equal shapes, so an OCR line of another width starts a new batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from int8ptq.data.model_input import ModelInputs
from int8ptq.errors import UserError

Feeds = dict[str, np.ndarray]
LABEL_KEYS = ("y", "labels")  # arrays of a .npz read as labels unless an input has that name


@dataclass(frozen=True)
class Feed:
    """One batch: every model input by name, a label per sample (-1 unknown), sample names.
    `whole`: one sample fed as given, never split or joined (inputs without a sample axis
    first: a recurrent state [layers, batch, hidden], a scalar)."""

    inputs: Feeds
    labels: np.ndarray
    names: list[str]
    whole: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, n: int) -> Feed:
        if self.whole:
            return self if n > 0 else Feed(self.inputs, self.labels[:0], [], True)
        return Feed({k: v[:n] for k, v in self.inputs.items()}, self.labels[:n], self.names[:n])

    def drop(self, n: int) -> Feed:
        if self.whole:
            return Feed(self.inputs, self.labels[n:], self.names[n:], True)
        return Feed({k: v[n:] for k, v in self.inputs.items()}, self.labels[n:], self.names[n:])

    def signature(self) -> tuple[object, ...]:
        """Per-sample shapes of the inputs: batches join only when these are equal (a whole
        feed joins none)."""
        if self.whole:
            return ("whole", id(self))
        return tuple(v.shape[1:] for _, v in sorted(self.inputs.items()))


def concat(feeds: list[Feed]) -> Feed:
    if len(feeds) == 1:
        return feeds[0]
    keys = feeds[0].inputs.keys()
    return Feed(
        {k: np.concatenate([f.inputs[k] for f in feeds]) for k in keys},
        np.concatenate([f.labels for f in feeds]),
        [n for f in feeds for n in f.names],
    )


def conform(arrays: Mapping[str, object], inputs: ModelInputs, where: str) -> Feeds:
    """The model's inputs from `arrays`, cast to their types, with a leading sample axis
    (added when a single sample is given). One-line errors name the input at fault."""
    return conform_sample(arrays, inputs, where)[0]


def conform_sample(arrays: Mapping[str, object], inputs: ModelInputs, where: str) -> tuple[Feeds, bool]:
    """As `conform`; also whether one sample without its sample axis was given."""
    missing = [n for n in inputs.names if n not in arrays]
    if missing:
        have = ", ".join(sorted(map(str, arrays))) or "none"
        raise UserError(f"{where}: no array for model input {missing[0]!r} (found: {have})")
    out: Feeds = {}
    single = False
    for t in inputs.tensors:
        a = np.asarray(arrays[t.name])
        if t.rank is not None and a.ndim == t.rank - 1:
            a, single = a[None], True
        elif t.rank is not None and a.ndim != t.rank:
            raise UserError(
                f"{where}: input {t.name!r} has shape {tuple(a.shape)}; the model expects {t.rank} dimensions"
            )
        if a.ndim == 0:
            a = a[None]
        out[t.name] = np.ascontiguousarray(a, dtype=t.dtype)
    counts = {len(a) for a in out.values()}
    if len(counts) > 1:
        raise UserError(
            f"{where}: the inputs have different sample counts ({sorted(counts)}); inputs without a sample "
            "axis first (a recurrent state, a scalar) are fed whole from one sample per .npz file or dict"
        )
    return out, single


def _labels(arrays: Mapping[str, np.ndarray], inputs: ModelInputs, n: int) -> np.ndarray:
    key = next((k for k in LABEL_KEYS if k in arrays and k not in inputs.names), None)
    if key is None:
        return np.full(n, -1, np.int64)
    y = np.asarray(arrays[key]).reshape(-1).astype(np.int64)
    if len(y) != n:
        raise UserError(f"{len(y)} labels ({key!r}) for {n} samples")
    return y


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"cannot read {path}: {e}") from None


def _whole(arrays: Mapping[str, object], inputs: ModelInputs) -> Feeds | None:
    """The sample fed as given (cast to the inputs' types), when each input has the model's
    rank but they share no first axis (lengths differ, or one is a scalar: a recurrent state
    [layers, batch, hidden], a sample rate); None: the usual samples-first case."""
    for t in inputs.tensors:
        if t.rank is None or t.name not in arrays or np.asarray(arrays[t.name]).ndim != t.rank:
            return None
    given = {t.name: np.ascontiguousarray(np.asarray(arrays[t.name]), dtype=t.dtype) for t in inputs.tensors}
    if len({a.shape[0] if a.ndim else -1 for a in given.values()}) == 1:
        return None
    return given


def is_named_npz(path: Path, inputs: ModelInputs) -> bool:
    """A .npz holding arrays named after the model's inputs (not the images-only `x` form)."""
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
    except (ValueError, OSError, EOFError):
        return False
    return set(inputs.names) <= keys or "x" not in keys


def is_npz_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.npz"))


def from_npz(path: Path, inputs: ModelInputs, batch_size: int) -> tuple[Iterator[Feed], int]:
    arrays = _read_npz(path)
    x = conform(arrays, inputs, path.name)
    n = len(next(iter(x.values())))
    whole = Feed(x, _labels(arrays, inputs, n), [f"{path.name}[{i}]" for i in range(n)])
    return (whole.drop(i).take(batch_size) for i in range(0, n, batch_size)), -(-n // batch_size)


def from_npz_folder(path: Path, inputs: ModelInputs) -> Iterator[Feed]:
    """One Feed per file, in name order."""
    files = sorted(path.glob("*.npz"))
    for f in files:
        arrays = _read_npz(f)
        given = _whole(arrays, inputs)
        if given is not None:
            yield Feed(given, np.full(1, -1, np.int64), [f.name], whole=True)
            continue
        x = conform(arrays, inputs, f.name)
        n = len(next(iter(x.values())))
        yield Feed(x, _labels(arrays, inputs, n), [f.name] * n if n > 1 else [f.name])


def group(feeds: Iterable[Feed], batch_size: int) -> Iterator[Feed]:
    """Batches of at most `batch_size` samples, each of one shape: consecutive feeds of equal
    shapes are joined, larger ones split. Order is kept."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    pending: list[Feed] = []
    count = 0
    for f in feeds:
        if pending and f.signature() != pending[0].signature():
            yield concat(pending)
            pending, count = [], 0
        while len(f):
            room = batch_size - count
            pending.append(f.take(room))
            count += len(pending[-1])
            f = f.drop(room)
            if count >= batch_size:
                yield concat(pending)
                pending, count = [], 0
    if pending:
        yield concat(pending)


def rebatch(feeds: Iterable[Feed], size: int, skipped: list[str] | None) -> Iterator[Feed]:
    """Exactly `size` samples a batch, for a model with a static batch dimension. Samples that
    cannot fill a batch of their shape are left out and counted."""
    for b in group(feeds, size):
        if len(b) == size:
            yield b
        elif skipped is not None:
            skipped.extend(f"{n} (left out: the model's static batch is {size})" for n in b.names)


def from_items(source: Iterable[object], inputs: ModelInputs, batch_size: int) -> Iterator[Feed]:
    """Python data: each item a `{input_name: array}` dict, an array (a model with one input),
    or a `(dict_or_array, labels)` tuple. An item is a batch, or one sample (no sample axis):
    consecutive samples of equal shapes are batched together."""
    pending: list[Feed] = []
    for k, item in enumerate(source):
        labels = None
        if isinstance(item, tuple) and len(item) == 2:
            item, labels = item
        if isinstance(item, Mapping):
            arrays = item
        else:
            if len(inputs.tensors) != 1:
                raise UserError(
                    f"item {k} is one array, but the model has {len(inputs.tensors)} inputs "
                    f"({', '.join(inputs.names)}): give {{input_name: array}} dicts"
                )
            arrays = {inputs.names[0]: item}
        given = _whole(arrays, inputs)
        if given is not None:
            if pending:
                yield concat(pending)
                pending = []
            yield Feed(given, np.full(1, -1, np.int64), [f"item{k}"], whole=True)
            continue
        x, single = conform_sample(arrays, inputs, f"item {k}")
        n = len(next(iter(x.values())))
        y = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
        f = Feed(x, y if len(y) == n else np.full(n, -1, np.int64), [f"item{k}[{i}]" for i in range(n)])
        if single and (not pending or f.signature() == pending[0].signature()) and len(pending) < batch_size:
            pending.append(f)
            continue
        if pending:
            yield concat(pending)
            pending = []
        if single:
            pending.append(f)
        else:
            yield f
    if pending:
        yield concat(pending)


def limited(feeds: Iterable[Feed], limit: int | None) -> Iterator[Feed]:
    seen = 0
    for f in feeds:
        if limit is not None:
            if seen >= limit:
                return
            f = f.take(limit - seen)
        seen += len(f)
        yield f
