"""Input second moments of a weighted layer, E[x x^T] over its receptive-field patches.

Error-compensating rounding (quant/rounding.py) needs them: the output error of a layer
with weight error dW on inputs X is ||dW X||^2 = dW H dW^T, H = X X^T / n.
Rows are subsampled per batch (a fixed, seeded choice), so cost and memory stay bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvGeometry:
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilations: tuple[int, int]
    depthwise: bool


class CovarianceObserver:
    """Accumulates H = sum x x^T (and sum x) over patches; per channel for depthwise convs."""

    def __init__(self, geometry: ConvGeometry | None, max_rows: int = 2048, seed: int = 0) -> None:
        self.geometry = geometry
        self.max_rows = max_rows
        self.rng = np.random.default_rng(seed)
        self.h: np.ndarray | None = None
        self.sum: np.ndarray | None = None
        self.rows = 0
        self.nonfinite = 0
        self.count = 0

    def _rows(self, n: int) -> np.ndarray:
        """A seeded choice of at most max_rows output positions out of n."""
        if n <= self.max_rows:
            return np.arange(n)
        return np.sort(self.rng.choice(n, self.max_rows, replace=False))

    def _patches(self, x: np.ndarray) -> np.ndarray:
        """Rows of the layer's im2col: (rows, K) for dense, (rows, C, k*k) for depthwise."""
        g = self.geometry
        if g is None:  # Gemm / MatMul: the last axis is the reduction axis
            x2 = x.reshape(-1, x.shape[-1])
            return x2[self._rows(len(x2))]
        t, lft, b, r = g.pads
        (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.strides, g.dilations
        n, c, h, w = x.shape
        ho = (h + t + b - (kh - 1) * dh - 1) // sh + 1
        wo = (w + lft + r - (kw - 1) * dw - 1) // sw + 1
        ni, yi, xi = np.unravel_index(self._rows(n * ho * wo), (n, ho, wo))
        if kh == kw == 1 and not any(g.pads):
            return x[ni, :, yi * sh, xi * sw]  # rows, C
        p = np.empty((len(ni), c, kh * kw), np.float32)
        for k, (dy, dx) in enumerate((dy, dx) for dy in range(kh) for dx in range(kw)):
            yy, xx = yi * sh + dy * dh - t, xi * sw + dx * dw - lft
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)  # outside: zero padding
            v = x[ni, :, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            v[~inside] = 0.0
            p[:, :, k] = v
        return p if g.depthwise else p.reshape(len(p), -1)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        if not np.isfinite(x).all():
            self.nonfinite += int((~np.isfinite(x)).sum())
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        p = self._patches(x)
        if self.geometry is not None and self.geometry.depthwise:
            pc = np.ascontiguousarray(p.transpose(1, 0, 2))  # C, rows, k*k
            h = np.matmul(pc.transpose(0, 2, 1), pc)
        else:
            h = p.T @ p
        s = p.sum(axis=0)
        self.h = h.astype(np.float64) if self.h is None else self.h + h
        self.sum = s.astype(np.float64) if self.sum is None else self.sum + s
        self.rows += len(p)
        self.count += x.size

    def hessian(self) -> np.ndarray | None:
        return None if self.h is None or self.rows == 0 else self.h / self.rows

    def mean(self) -> np.ndarray | None:
        return None if self.sum is None or self.rows == 0 else self.sum / self.rows


MAX_K = 4608  # larger reduction sizes (VGG's fc6) keep plain rounding: H would not fit well


def observer_for(node, weight_shape: tuple[int, ...], max_rows: int = 2048) -> CovarianceObserver | None:  # noqa: ANN001
    """The covariance observer a weighted node needs, or None where rounding stays plain."""
    from int8ptq.ir.rewrite import attr

    if node.op_type in ("Gemm", "MatMul"):
        if len(weight_shape) != 2 or (node.op_type == "Gemm" and attr(node, "transA", 0)):
            return None
        k = weight_shape[1] if node.op_type == "Gemm" and attr(node, "transB", 0) else weight_shape[0]
        return CovarianceObserver(None, max_rows) if k <= MAX_K else None
    if node.op_type != "Conv" or len(weight_shape) != 4:
        return None
    if attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    group = int(attr(node, "group", 1))
    o, cg, kh, kw = weight_shape
    depthwise = group > 1 and cg == 1 and o == group
    if group > 1 and not depthwise:
        return None
    if not depthwise and cg * kh * kw > MAX_K:
        return None
    p = list(attr(node, "pads", [0, 0, 0, 0]))
    geo = ConvGeometry(
        (kh, kw),
        tuple(attr(node, "strides", [1, 1])),
        (p[0], p[1], p[2], p[3]),  # type: ignore[arg-type]
        tuple(attr(node, "dilations", [1, 1])),
        depthwise,  # type: ignore[arg-type]
    )
    # a depthwise filter has only k*k weights: a few hundred rows a batch estimate H well
    return CovarianceObserver(geo, max_rows // 8 if depthwise else max_rows)
