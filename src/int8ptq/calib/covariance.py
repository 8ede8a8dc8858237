"""Input second moments of a weighted layer, E[x x^T] over its receptive-field patches.

Error-compensating rounding (quant/rounding.py) needs them: the output error of a layer
with weight error dW on inputs X is ||dW X||^2 = dW H dW^T, H = X X^T / n.
Patches are taken at fixed, seeded positions of each image (reducers.py), so cost and
memory stay bounded.
"""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.calib.reducers import Moments, PatchGeometry, PatchReducer, Reducer, RowReducer, Shape
from int8ptq.ir.ops import attr, group, is_depthwise, reduction_length, trans_a


class CovarianceObserver:
    """Accumulates H = sum x x^T (and sum x) over patches; per channel for depthwise convs.
    `geometry` None: a Gemm/MatMul, whose rows are the input's last axis."""

    def __init__(self, geometry: PatchGeometry | None, rows: int) -> None:
        self.geometry = geometry
        self.rows_per_batch = rows  # Conv: per image; Gemm/MatMul: per batch
        self.h: np.ndarray | None = None
        self.sum: np.ndarray | None = None
        self.rows = 0
        self.nonfinite = 0

    def reducer(self, per_image: Shape | None) -> Reducer[Moments]:
        if self.geometry is None:
            return RowReducer(self.rows_per_batch)
        if per_image is not None and self.geometry.line and len(per_image) == 2:
            per_image = (per_image[0], 1, per_image[1])  # (C, L) read as (C, 1, L)
        if per_image is None or len(per_image) != 3:
            raise ValueError("a convolution input needs a static C, H, W shape")
        return PatchReducer(per_image, self.geometry, self.rows_per_batch)

    def update(self, x: np.ndarray) -> None:
        """Fold in a whole input tensor."""
        x = np.asarray(x, np.float32)
        self.add(self.reducer(x.shape[1:] if self.geometry else None).from_array(x))

    def add(self, m: Moments) -> None:
        self.h = m.gram.astype(np.float64) if self.h is None else self.h + m.gram
        self.sum = m.sum.astype(np.float64) if self.sum is None else self.sum + m.sum
        self.rows += m.rows

    def hessian(self) -> np.ndarray | None:
        return None if self.h is None or self.rows == 0 else self.h / self.rows

    def mean(self) -> np.ndarray | None:
        return None if self.sum is None or self.rows == 0 else self.sum / self.rows


MAX_K = 4608  # larger reduction sizes (VGG's fc6) keep plain rounding: H would not fit well
ROWS_PER_IMAGE = 128  # dense conv patches per image (2048 per batch of 16)
DEPTHWISE_ROWS_PER_IMAGE = 32  # a depthwise filter has only k*k weights


def _geometry(node: onnx.NodeProto, kernel: tuple[int, int], depthwise: bool, line: bool) -> PatchGeometry:
    """The patch geometry of a Conv; a 1-D one as a 2-D one of height 1."""
    if line:
        p = list(attr(node, "pads", [0, 0]))
        s, d = attr(node, "strides", [1])[0], attr(node, "dilations", [1])[0]
        return PatchGeometry(kernel, (1, s), (0, p[0], 0, p[1]), (1, d), depthwise, line=True)
    p = list(attr(node, "pads", [0, 0, 0, 0]))
    strides, dilations = tuple(attr(node, "strides", [1, 1])), tuple(attr(node, "dilations", [1, 1]))
    return PatchGeometry(kernel, strides, (p[0], p[1], p[2], p[3]), dilations, depthwise)


def observer_for(
    node: onnx.NodeProto, weight_shape: tuple[int, ...], rows: int = ROWS_PER_IMAGE
) -> CovarianceObserver | None:
    """The covariance observer a weighted node needs, or None where rounding stays plain."""
    found = observer_or_reason(node, weight_shape, rows)
    return found if isinstance(found, CovarianceObserver) else None


def observer_or_reason(
    node: onnx.NodeProto, weight_shape: tuple[int, ...], rows: int = ROWS_PER_IMAGE
) -> CovarianceObserver | str:
    """The covariance observer a weighted node needs, or why it gets none."""
    if node.op_type in ("Gemm", "MatMul"):
        if len(weight_shape) != 2:
            return "weight is not a matrix"
        if trans_a(node):
            return "transposed input (transA)"
        k = reduction_length(node, weight_shape)
        return CovarianceObserver(None, rows * 16) if k <= MAX_K else f"K too large (> {MAX_K})"
    if node.op_type != "Conv":
        return f"unsupported op ({node.op_type})"
    if len(weight_shape) not in (3, 4):
        return f"unsupported op ({len(weight_shape) - 2}-D Conv)"
    if attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return "auto_pad convolution"
    line = len(weight_shape) == 3  # 1-D: the kernel of a 2-D one with kh = 1
    o, cg, kh, kw = (weight_shape[0], weight_shape[1], 1, weight_shape[2]) if line else weight_shape
    depthwise = is_depthwise(node, weight_shape)
    if group(node) > 1 and not depthwise:
        return "grouped convolution"
    if not depthwise and cg * kh * kw > MAX_K:
        return f"K too large (> {MAX_K})"
    geo = _geometry(node, (kh, kw), depthwise, line)
    return CovarianceObserver(geo, DEPTHWISE_ROWS_PER_IMAGE if depthwise else rows)
