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
    """A fixed-size histogram of each batch's sample (reducers.RangeReducer); when a batch
    falls outside, the range grows and the old counts are re-binned into the new bins
    (linear interpolation of the CDF). lo and hi are the sample's unless `exact`."""

    def __init__(self, bins: int = 2048, samples: int = HISTOGRAM_SAMPLES, exact: bool = False) -> None:
        super().__init__()
        self.exact = exact  # also the true min and max (a full pass: for the minmax method)
        self.bins = bins
        self.samples = samples  # per image: fixed, seeded positions keep calibration fast
        self.counts = np.zeros(bins, np.float64)
        self.edges: np.ndarray | None = None

    def add(self, stat: RangeStats) -> None:
        super().add(stat)
        if stat.count == stat.nonfinite:
            return
        blo, bhi = stat.lo, stat.hi
        if self.edges is None:
            lo, hi = _span(blo, bhi)
            self.edges = np.linspace(lo, hi, self.bins + 1)
        elif blo < self.edges[0] or bhi > self.edges[-1]:
            lo, hi = _span(min(blo, self.edges[0]), max(bhi, self.edges[-1]))
            # grow beyond what is needed so that a slowly widening range re-bins rarely
            width = hi - lo
            lo = lo - 0.25 * width if blo < self.edges[0] else lo
            hi = hi + 0.25 * width if bhi > self.edges[-1] else hi
            self._rebin(np.linspace(lo, hi, self.bins + 1))
        if stat.sample.size:
            self.counts += _histogram(stat.sample, self.edges)

    def _rebin(self, new_edges: np.ndarray) -> None:
        assert self.edges is not None
        cdf = np.concatenate([[0.0], np.cumsum(self.counts)])
        self.counts = np.diff(np.interp(new_edges, self.edges, cdf, left=0.0, right=cdf[-1]))
        self.edges = new_edges

    def centers(self) -> np.ndarray:
        assert self.edges is not None
        return 0.5 * (self.edges[:-1] + self.edges[1:])


def _span(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < 1e-12:
        return lo - 1e-6, hi + 1e-6
    return lo, hi


def _histogram(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram for uniform edges, via bincount (several times faster)."""
    bins = len(edges) - 1
    lo, hi = float(edges[0]), float(edges[-1])
    idx = ((x - np.float32(lo)) * np.float32(bins / (hi - lo))).astype(np.int32)
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
