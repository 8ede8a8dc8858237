"""Per-batch reducers: one batch of one tensor -> a small statistic.

Every reducer runs two ways that give the same numbers:
- as ONNX nodes added to the calibration model (the fast path: onnxruntime reduces each
  activation right after computing it and returns kilobytes instead of every tensor);
- in numpy on the full tensor, for tensors of unknown shape and for batches with NaN/Inf,
  which in-graph reductions cannot count.
Samples are fixed, seeded positions per image, so both paths (and every run) agree.
Observers (observers.py, covariance.py) aggregate the statistics across batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from int8ptq.ir.graph import Graph

Shape = tuple[int, ...]  # the static shape of one image's slice of a tensor (batch axis dropped)
S = TypeVar("S", covariant=True)  # the statistic a reducer produces


class Reducer(Protocol[S]):
    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        """Add the nodes computing this statistic of `tensor`; their output names."""
        ...

    def from_outputs(self, outs: Sequence[np.ndarray]) -> S | None:
        """The statistic from the nodes' outputs; None when it must be redone in numpy."""
        ...

    def from_array(self, x: np.ndarray) -> S:
        """The same statistic from the full tensor."""
        ...


class WholeReducer:
    """The tensor itself: no nodes, the batch as it is."""

    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        return [tensor]

    def from_outputs(self, outs: Sequence[np.ndarray]) -> np.ndarray | None:
        return outs[0]

    def from_array(self, x: np.ndarray) -> np.ndarray:
        return x


def per_image_shape(g: Graph, tensor: str) -> Shape | None:
    """Static dims after the batch axis, or None when unknown or not an image-like tensor."""
    shape = g.shape(tensor)
    if shape is None or len(shape) < 3 or any(d is None or d <= 0 for d in shape[1:]):
        return None
    return tuple(int(d) for d in shape[1:] if d is not None)


def _seeded_choice(n: int, k: int, seed: int) -> np.ndarray:
    """k sorted positions out of n, the same for the same (n, k, seed)."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, n, k])
    if n > 64 * k:  # sparse: draw with replacement and drop repeats (no O(n) permutation)
        picked = np.unique(rng.integers(0, n, 2 * k))
        return np.sort(rng.permutation(picked)[:k]).astype(np.int64)
    return np.sort(rng.choice(n, k, replace=False)).astype(np.int64)


def _const(g: Graph, base: str, value: np.ndarray) -> str:
    return g.add_initializer(g.fresh(base), value)


def _reduce(g: Graph, op: str, tensor: str, axes: list[int]) -> str:
    """ReduceMin/Max/Sum over `axes`, across the opset change of where axes live."""
    out = g.fresh(f"{tensor}_{op.lower()}")
    axes_as_input = op == "ReduceSum" or g.opset() >= 18
    if axes_as_input:
        g.add_node(op, [tensor, _const(g, "axes", np.array(axes, np.int64))], [out], keepdims=0)
    else:
        g.add_node(op, [tensor], [out], keepdims=0, axes=axes)
    return out


@dataclass(frozen=True)
class RangeStats:
    lo: float  # over the finite values; +inf when there were none
    hi: float
    count: int  # values in the batch, finite or not
    nonfinite: int
    sample: np.ndarray  # finite values at the fixed sample positions


@dataclass(frozen=True)
class RangeReducer:
    """A sample of about `samples` values per image (0: none), and with `exact` the true
    min and max (a full pass over the tensor); without it, min and max are the sample's.

    Why a sample: onnxruntime keeps convolution outputs in a blocked (NCHWc) layout, and any
    other consumer of a tensor (a reduction, a Gather) first converts the whole tensor back,
    which costs as much as the convolution. MaxPool is a blocked-layout op: with a 1x1
    kernel and stride s it takes every s-th row and column of every channel for little.
    The histogram methods estimate an expected error, for which a sample is enough."""

    per_image: Shape | None
    samples: int
    exact: bool = False
    seed: int = 0
    stride: int = field(init=False, compare=False)
    positions: np.ndarray = field(init=False, repr=False, compare=False)  # non-NCHW tensors

    def __post_init__(self) -> None:
        n = int(np.prod(self.per_image)) if self.per_image else 0
        stride = 1
        if self.samples and self.per_image is not None and len(self.per_image) == 3:
            stride = max(1, int(np.ceil(np.sqrt(n / self.samples))))
        object.__setattr__(self, "stride", stride)
        spatial = self.per_image is not None and len(self.per_image) == 3
        positions = _seeded_choice(n, self.samples, self.seed) if not spatial else np.zeros(0, np.int64)
        object.__setattr__(self, "positions", positions)

    @property
    def spatial(self) -> bool:
        return self.per_image is not None and len(self.per_image) == 3

    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        assert self.per_image is not None
        outs = []
        if self.exact:
            axes = list(range(2, len(self.per_image) + 1))
            outs = [_reduce(g, op, tensor, axes) for op in ("ReduceMin", "ReduceMax")]
        if not self.samples:
            return outs
        if self.spatial and self.stride == 1:
            outs.append(tensor)
        elif self.spatial:
            sample = g.fresh(f"{tensor}_strided")
            s = self.stride
            g.add_node("MaxPool", [tensor], [sample], kernel_shape=[1, 1], strides=[s, s])
            outs.append(sample)
        else:
            flat = g.fresh(f"{tensor}_flat")
            g.add_node("Reshape", [tensor, _const(g, "shape", np.array([0, -1], np.int64))], [flat])
            sample = g.fresh(f"{tensor}_sample")
            g.add_node("Gather", [flat, _const(g, "positions", self.positions)], [sample], axis=1)
            outs.append(sample)
        return outs

    def from_outputs(self, outs: Sequence[np.ndarray]) -> RangeStats | None:
        sample = outs[-1].reshape(-1) if self.samples else np.zeros(0, np.float32)
        if self.exact:
            lo, hi = float(outs[0].min()), float(outs[1].max())
        elif sample.size:
            lo, hi = float(sample.min()), float(sample.max())
        else:
            return None
        if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(sample).all()):
            return None  # NaN or Inf: redo in numpy, which counts them
        n = outs[0].shape[0] * int(np.prod(self.per_image or ()))
        return RangeStats(lo, hi, n, 0, sample)

    def from_array(self, x: np.ndarray) -> RangeStats:
        x = np.asarray(x, np.float32)
        sample = self._sample(x)
        src = x if self.exact or not sample.size else sample
        lo, hi = (float(src.min()), float(src.max())) if src.size else (np.inf, -np.inf)
        bad = 0
        if not (np.isfinite(lo) and np.isfinite(hi)):  # numpy's min/max propagate NaN
            bad = int((~np.isfinite(x)).sum())
            sample = sample[np.isfinite(sample)]
            finite = x[np.isfinite(x)] if self.exact or not sample.size else sample
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (np.inf, -np.inf)
        elif not self.exact:
            bad = int((~np.isfinite(x)).sum()) if not np.isfinite(x.sum()) else 0
        return RangeStats(lo, hi, x.size, bad, sample)

    def _sample(self, x: np.ndarray) -> np.ndarray:
        if not self.samples:
            return np.zeros(0, np.float32)
        if self.spatial and x.ndim == 4:
            return x[:, :, :: self.stride, :: self.stride].reshape(-1)
        if self.per_image is not None:
            return x.reshape(len(x), -1)[:, self.positions].reshape(-1)
        flat = x.reshape(-1)  # shape unknown: a seeded sample of the whole batch
        return flat[_seeded_choice(flat.size, self.samples * 16, self.seed)]


@dataclass(frozen=True)
class PatchGeometry:
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilations: tuple[int, int]
    depthwise: bool
    line: bool = False  # a 1-D convolution: its (N, C, L) input is read as (N, C, 1, L)


@dataclass(frozen=True)
class Moments:
    """Second moments of one batch of a layer's input rows (patches)."""

    gram: np.ndarray  # sum of x x^T: (K, K), or (C, k*k, k*k) per depthwise channel
    sum: np.ndarray  # sum of x: (K,), or (C, k*k)
    rows: int

    @staticmethod
    def of(rows: np.ndarray) -> Moments:
        """rows: (M, K), or (C, M, k*k) for a depthwise layer. NaN/Inf count as 0."""
        rows = np.nan_to_num(np.asarray(rows, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        axis = rows.ndim - 2
        return Moments(np.swapaxes(rows, -1, -2) @ rows, rows.sum(axis=axis), rows.shape[axis])


@dataclass(frozen=True)
class PatchReducer:
    """Moments of a convolution's receptive-field patches at about `rows` output positions
    per image. The patches, as rows of (C, kh, kw), or per channel for a depthwise layer:
    - a 1x1 convolution without padding reads pixels: a strided MaxPool with a 1x1 kernel
      takes a grid of them cheaply (see RangeReducer);
    - other kernels: Pad, flatten the spatial axes, Gather at fixed, seeded positions.
    Then MatMul and ReduceSum in the graph: onnxruntime's batched GEMM is fast."""

    per_image: Shape  # C, H, W of the convolution's input
    geometry: PatchGeometry
    rows: int
    seed: int = 0
    step: int = field(init=False, compare=False)  # > 0: the strided grid's step
    index: np.ndarray = field(init=False, repr=False, compare=False)  # (rows, kh*kw) into padded H*W
    _out_y: np.ndarray = field(init=False, repr=False, compare=False)
    _out_x: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        g = self.geometry
        _, h, w = self.per_image
        t, lft, b, r = g.pads
        (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
        ho = (h + t + b - (kh - 1) * dh - 1) // sh + 1
        wo = (w + lft + r - (kw - 1) * dw - 1) // sw + 1
        step = 0
        if (kh, kw) == (1, 1) and not any(g.pads) and sh == sw:
            step = sh * max(1, int(np.ceil(np.sqrt(ho * wo / self.rows))))
        object.__setattr__(self, "step", step)
        yo, xo = np.unravel_index(_seeded_choice(ho * wo, self.rows, self.seed), (ho, wo))
        object.__setattr__(self, "_out_y", yo)
        object.__setattr__(self, "_out_x", xo)
        dy, dx = np.meshgrid(np.arange(kh) * dh, np.arange(kw) * dw, indexing="ij")
        ys = yo[:, None] * sh + dy.reshape(1, -1)
        xs = xo[:, None] * sw + dx.reshape(1, -1)
        object.__setattr__(self, "index", (ys * (w + lft + r) + xs).astype(np.int64))

    @property
    def _perm(self) -> list[int]:
        """(N, C, positions, k*k) -> rows layout: (C, N, ...) depthwise, else (N, ..., C, k*k)."""
        return [1, 0, 2, 3] if self.geometry.depthwise else [0, 2, 1, 3]

    @property
    def _rows_shape(self) -> np.ndarray:
        c, kk = self.per_image[0], self.geometry.kernel[0] * self.geometry.kernel[1]
        return np.array([c, -1, kk] if self.geometry.depthwise else [-1, c * kk], np.int64)

    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        c = self.per_image[0]
        if self.geometry.line:
            image = g.fresh(f"{tensor}_as_image")
            g.add_node("Unsqueeze", [tensor, _const(g, "axes", np.array([2], np.int64))], [image])
            tensor = image
        patches = g.fresh(f"{tensor}_patches")
        if self.step:  # (N, C, h, w) -> (N, C, h*w, 1)
            grid = g.fresh(f"{tensor}_grid")
            g.add_node("MaxPool", [tensor], [grid], kernel_shape=[1, 1], strides=[self.step] * 2)
            g.add_node("Reshape", [grid, _const(g, "shape", np.array([0, c, -1, 1], np.int64))], [patches])
        else:
            t, lft, b, r = self.geometry.pads
            src = tensor
            if any(self.geometry.pads):
                src = g.fresh(f"{tensor}_padded")
                pads = np.array([0, 0, t, lft, 0, 0, b, r], np.int64)
                g.add_node("Pad", [tensor, _const(g, "pads", pads)], [src])
            flat = g.fresh(f"{tensor}_spatial")
            g.add_node("Reshape", [src, _const(g, "shape", np.array([0, c, -1], np.int64))], [flat])
            g.add_node("Gather", [flat, _const(g, "index", self.index)], [patches], axis=2)
        ordered, rows, rows_t = (g.fresh(f"{tensor}_{k}") for k in ("ordered", "rows", "rows_t"))
        g.add_node("Transpose", [patches], [ordered], perm=self._perm)
        g.add_node("Reshape", [ordered, _const(g, "shape", self._rows_shape)], [rows])
        g.add_node("Transpose", [rows], [rows_t], perm=[0, 2, 1] if self.geometry.depthwise else [1, 0])
        gram, total, shape = (g.fresh(f"{tensor}_{k}") for k in ("gram", "sum", "shape"))
        g.add_node("MatMul", [rows_t, rows], [gram])
        axis = 1 if self.geometry.depthwise else 0
        g.add_node("ReduceSum", [rows, _const(g, "axes", np.array([axis], np.int64))], [total], keepdims=0)
        g.add_node("Shape", [rows], [shape])
        return [gram, total, shape]

    def from_outputs(self, outs: Sequence[np.ndarray]) -> Moments | None:
        gram, total, shape = outs
        if not (np.isfinite(gram).all() and np.isfinite(total).all()):
            return None  # redo in numpy, which zeroes NaN/Inf
        return Moments(gram, total, int(shape[1 if self.geometry.depthwise else 0]))

    def from_array(self, x: np.ndarray) -> Moments:
        return Moments.of(self.patches(x))

    def patches(self, x: np.ndarray) -> np.ndarray:
        """The rows themselves: (images * positions, C*kh*kw), or (C, images * positions, kh*kw)
        for a depthwise layer, at `output_positions` image after image."""
        x = np.asarray(x, np.float32)
        if self.geometry.line and x.ndim == 3:
            x = x[:, :, None, :]
        n, c = x.shape[:2]
        if self.step:
            p = x[:, :, :: self.step, :: self.step].reshape(n, c, -1, 1)
        else:
            t, lft, b, r = self.geometry.pads
            x = np.pad(x, ((0, 0), (0, 0), (t, b), (lft, r)))
            p = x.reshape(n, c, -1)[:, :, self.index]
        return p.transpose(self._perm).reshape(tuple(self._rows_shape))

    def output_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(y, x) of the convolution outputs whose patches are taken, in row order."""
        if self.step:
            _, h, w = self.per_image
            k = self.step // self.geometry.strides[0]
            ys, xs = np.meshgrid(
                np.arange(0, -(-h // self.step)), np.arange(0, -(-w // self.step)), indexing="ij"
            )
            return ys.reshape(-1) * k, xs.reshape(-1) * k
        return self._out_y, self._out_x


@dataclass(frozen=True)
class RowReducer:
    """Rows of a Gemm/MatMul input (the last axis is the reduction axis), a seeded choice of
    at most `rows` per batch. The tensors are small: they come back whole from the graph."""

    rows: int
    seed: int = 0

    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        return [tensor]

    def from_outputs(self, outs: Sequence[np.ndarray]) -> Moments:
        return self.from_array(outs[0])

    def from_array(self, x: np.ndarray) -> Moments:
        x2 = np.asarray(x, np.float32).reshape(-1, x.shape[-1])
        return Moments.of(x2[_seeded_choice(len(x2), self.rows, self.seed)])


@dataclass(frozen=True)
class ChannelMaxReducer:
    """The maximum of each channel (axis 1) over the batch: one ReduceMax in the graph."""

    per_image: Shape

    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        axes = [0, *range(2, len(self.per_image) + 1)]
        return [_reduce(g, "ReduceMax", tensor, axes)]

    def from_outputs(self, outs: Sequence[np.ndarray]) -> np.ndarray | None:
        return outs[0] if np.isfinite(outs[0]).all() else None

    def from_array(self, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(x), x, -np.inf).astype(np.float32)
        return x.max(axis=tuple(a for a in range(x.ndim) if a != 1))
