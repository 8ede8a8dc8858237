"""Streaming observers: aggregate the per-batch statistics of reducers.py across batches.

Memory never grows with the number of images. NaN and Inf are counted and left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import numpy as np

from int8ptq.calib.reducers import ChannelMaxReducer, RangeReducer, RangeStats, Reducer, Shape, WholeReducer

S = TypeVar("S")  # the statistic an observer folds in


class Observer(Protocol[S]):
    nonfinite: int

    def reducer(self, per_image: Shape | None) -> Reducer[S]:
        """How one batch of a tensor with this per-image shape is reduced (None: unknown)."""
        ...

    def add(self, stat: S) -> None:
        """Fold in one batch's statistic, as produced by `reducer`."""
        ...

    def update(self, x: np.ndarray) -> None:
        """Fold in one batch of the whole tensor."""
        ...


class MinMaxObserver:
    """Running min and max."""

    samples = 0  # values per image in each batch's sample
    exact = True  # the true min and max, not the sample's

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf
        self.nonfinite = 0
        self.count = 0

    def reducer(self, per_image: Shape | None) -> RangeReducer:
        return RangeReducer(per_image, self.samples, self.exact)

    def update(self, x: np.ndarray) -> None:
        """Fold in a whole tensor (any shape)."""
        x = np.asarray(x, np.float32)
        self.add(self.reducer(x.shape[1:] if x.ndim >= 3 else None).from_array(x))

    def add(self, stat: RangeStats) -> None:
        self.nonfinite += stat.nonfinite
        if stat.count > stat.nonfinite:
            self.lo = min(self.lo, stat.lo)
            self.hi = max(self.hi, stat.hi)
            self.count += stat.count - stat.nonfinite


# values of each calibration sample kept in a range histogram, by default (BENCHMARKS.md,
# "Calibration spread": 2048 lost YOLOv8n's confident tails)
HISTOGRAM_SAMPLES = 65536


class HistogramObserver(MinMaxObserver):
    """A histogram of each batch's sample (reducers.RangeReducer) on a grid anchored at 0:
    bin i holds [i w, (i + 1) w) with w a power of two, the smallest whose `bins` bins cover
    the range seen so far. When the range outgrows them, w doubles (or more) and old bins
    merge exactly into new ones, so the final histogram is that of every sampled value on
    the grid of the final range: the same whatever the batching and order of the samples.
    At least half of the bins span the range. lo and hi are the sample's unless `exact`."""

    def __init__(self, bins: int = 2048, samples: int = HISTOGRAM_SAMPLES, exact: bool = False) -> None:
        super().__init__()
        self.exact = exact  # also the true min and max (a full pass: for the minmax method)
        self.bins = bins
        self.samples = samples  # per image: fixed, seeded positions keep calibration fast
        self.counts = np.zeros(bins, np.float64)
        self.width = 0.0  # w; 0: nothing seen yet
        self.first = 0  # the grid index of counts[0]

    @property
    def edges(self) -> np.ndarray | None:
        if not self.width:
            return None
        return (self.first + np.arange(self.bins + 1, dtype=np.float64)) * self.width

    def add(self, stat: RangeStats) -> None:
        super().add(stat)
        if stat.count == stat.nonfinite:
            return
        width, first = _grid(*_span(self.lo, self.hi), self.bins)
        if width != self.width or first != self.first:
            self._regrid(width, first)
        if stat.sample.size:
            amax = max(abs(self.lo), abs(self.hi))  # bounds the sample: no pass over it
            self.counts += _histogram(stat.sample, width, first, self.bins, amax)

    def _regrid(self, width: float, first: int) -> None:
        """Move the counts onto a coarser (or shifted) grid: bin j of width w lies inside
        bin floor(j w / width) exactly, as both widths are powers of two."""
        held = np.nonzero(self.counts)[0]
        if self.width and held.size:
            ratio = round(width / self.width)  # an integer power of two
            moved = (self.first + held) // ratio - first
            merged = np.bincount(moved, weights=self.counts[held], minlength=self.bins)
            self.counts = merged.astype(np.float64)
        self.width, self.first = width, first

    def centers(self) -> np.ndarray:
        assert self.width
        return (self.first + np.arange(self.bins, dtype=np.float64) + 0.5) * self.width


def _span(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < 1e-12:
        return lo - 1e-6, hi + 1e-6
    return lo, hi


def _grid(lo: float, hi: float, bins: int) -> tuple[float, int]:
    """(w, first): the smallest power of two w with [lo, hi] in `bins` bins of the grid
    i w, and the index of the first of them."""
    k = int(np.ceil(np.log2((hi - lo) / bins)))
    while np.floor(hi / 2.0**k) - np.floor(lo / 2.0**k) >= bins:
        k += 1
    width = 2.0**k
    return width, int(np.floor(lo / width))


def _histogram(x: np.ndarray, width: float, first: int, bins: int, amax: float) -> np.ndarray:
    """Counts of x (|x| <= amax) on bins [first, first + bins) of the grid i * width (exact:
    multiplying by 1 / width, a power of two, rounds nothing unless it leaves float32's range)."""
    inv = 1.0 / width
    exact32 = 2.0**-120 < inv < 2.0**120 and amax * inv < 2.0**62
    scaled = x * np.float32(inv) if exact32 else x.astype(np.float64) * inv
    idx = np.floor(scaled).astype(np.int64) - first
    np.clip(idx, 0, bins - 1, out=idx)
    return np.bincount(idx, minlength=bins).astype(np.float64)


class ChannelMaxObserver:
    """The running maximum of each channel (for equalization across clipped activations)."""

    def __init__(self) -> None:
        self.max: np.ndarray | None = None
        self.nonfinite = 0

    def reducer(self, per_image: Shape | None) -> ChannelMaxReducer:
        if per_image is None:
            raise ValueError("channel maxima need a static per-image shape")
        return ChannelMaxReducer(per_image)

    def add(self, m: np.ndarray) -> None:
        self.max = m if self.max is None else np.maximum(self.max, m)

    def update(self, x: np.ndarray) -> None:
        self.add(ChannelMaxReducer(x.shape[1:]).from_array(x))


class FirstBatchesObserver:
    """A tensor's first batches, whole: batch i is kept if `wanted(i)`. One observer of a
    group (the leader) records each batch's sample count in `sizes`, so that every observer
    of the group keeps the same batches, whatever its own first axis holds."""

    def __init__(self, wanted: Callable[[int], bool], sizes: list[int] | None = None) -> None:
        self.wanted, self.sizes = wanted, sizes
        self.seen, self.nonfinite = 0, 0
        self.kept: list[np.ndarray] = []

    def reducer(self, per_image: Shape | None) -> WholeReducer:
        return WholeReducer()

    def add(self, x: np.ndarray) -> None:
        if self.wanted(self.seen):
            self.kept.append(np.array(x))
        if self.sizes is not None:
            self.sizes.append(len(x) if x.ndim else 1)
        self.seen += 1

    def update(self, x: np.ndarray) -> None:
        self.add(x)
