"""Streaming observers: each batch is reduced at once, then merged; memory never grows.

A reducer turns one batch into a small statistic (min/max, a histogram); the observer
aggregates those across batches. NaN and Inf are counted and left out of the statistics.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Observer(Protocol):
    nonfinite: int

    def update(self, x: np.ndarray) -> None: ...


def _finite(x: np.ndarray) -> tuple[np.ndarray, int]:
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    mask = np.isfinite(x)
    if mask.all():
        return x, 0
    return x[mask], int((~mask).sum())


class MinMaxObserver:
    """Running min and max."""

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf
        self.nonfinite = 0
        self.count = 0

    def update(self, x: np.ndarray) -> None:
        x, bad = _finite(x)
        self.nonfinite += bad
        if x.size:
            self.lo = min(self.lo, float(x.min()))
            self.hi = max(self.hi, float(x.max()))
            self.count += x.size


class HistogramObserver(MinMaxObserver):
    """A fixed-size histogram over [lo, hi]; when a batch falls outside, the range grows
    and the old counts are re-binned into the new bins (linear interpolation of the CDF)."""

    def __init__(self, bins: int = 2048, max_samples: int = 1 << 18, seed: int = 0) -> None:
        super().__init__()
        self.bins = bins
        self.max_samples = max_samples  # per batch: a seeded sample keeps calibration fast
        self.rng = np.random.default_rng(seed)
        self.counts = np.zeros(bins, np.float64)
        self.edges: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        x, bad = _finite(x)
        self.nonfinite += bad
        if not x.size:
            return
        blo, bhi = float(x.min()), float(x.max())
        self.lo, self.hi = min(self.lo, blo), max(self.hi, bhi)
        self.count += x.size
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
        if x.size > self.max_samples:
            x = x[self.rng.integers(0, x.size, self.max_samples)]
        self.counts += _histogram(x, self.edges)

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
