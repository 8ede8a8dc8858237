"""Weights that cannot saturate int16 pairs on CPUs without VNNI (see isa.py).

x86 u8*s8 kernels without VNNI (onnxruntime's MLAS, oneDNN) multiply activations and
weights with vpmaddubsw: two products adjacent along the reduction axis K are added into a
saturating int16. Both pair input channels that are adjacent at the same kernel tap
(K ordered kh, kw, cin); with an odd channel count MLAS's pairs also straddle taps. With
activations up to 255, a pair is safe when |q_a| + |q_b| <= 128 (255 * 128 = 32640).

Only channels with an unsafe pair lose precision, and only as much as that pair needs.
Depthwise convolutions run in int32 (no pairs) and keep the full range.
"""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.rewrite import attr
from int8ptq.quant.isa import Isa

PAIR_LIMIT = 128  # 255 * 128 = 32640 <= 32767


def _kernel_order(node: onnx.NodeProto, w: np.ndarray, axis: int) -> np.ndarray | None:
    """Weights as (out channels, K) in the order the kernel reduces, or None (no pairs)."""
    if node.op_type == "Conv":
        group = int(attr(node, "group", 1))
        if group > 1 and w.shape[1] == 1:
            return None  # depthwise: int32 kernel
        o, c, kh, kw = w.shape
        return w.transpose(0, 2, 3, 1).reshape(o, kh * kw * c)  # (kh, kw, cin) per output channel
    return np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)


def _pairs(k: int, cin: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs the kernels add together: (2j, 2j+1) along K, and, when cin is odd,
    also adjacent channels within each tap (oneDNN pads each tap's channels)."""
    a = np.arange(0, k - 1, 2)
    first, second = [a], [a + 1]
    if cin % 2 and cin > 1:
        taps = k // cin
        starts = (np.arange(taps)[:, None] * cin + np.arange(0, cin - 1, 2)[None, :]).reshape(-1)
        first.append(starts)
        second.append(starts + 1)
    return np.concatenate(first), np.concatenate(second)


class PairGuard:
    """Limits per-channel weight ranges (before rounding) and enforces the pair bound (after)."""

    def _order(self, node: onnx.NodeProto, w: np.ndarray, axis: int) -> tuple[np.ndarray, int] | None:
        m = _kernel_order(node, w, axis)
        if m is None or m.shape[1] < 2:
            return None
        cin = w.shape[1] if node.op_type == "Conv" else m.shape[1]
        return m, cin

    def qmax(self, node: onnx.NodeProto, w: np.ndarray, axis: int) -> np.ndarray:
        """Per-channel qmax: 127 where every pair fits, else as much as the worst pair allows."""
        full = np.full(w.shape[axis], 127.0)
        found = self._order(node, w, axis)
        if found is None:
            return full
        m, cin = found
        a, b = _pairs(m.shape[1], cin)
        mag = np.abs(m.astype(np.float64))
        amax = mag.max(axis=1)
        worst = (mag[:, a] + mag[:, b]).max(axis=1)  # the largest pair, in float units
        # with scale amax / qmax, the worst pair is worst * qmax / amax <= PAIR_LIMIT - 1 (rounding)
        limit = np.where(worst > 0, (PAIR_LIMIT - 1) * amax / np.maximum(worst, 1e-30), 127.0)
        return np.floor(np.minimum(full, limit))

    def enforce(self, node: onnx.NodeProto, q: np.ndarray, axis: int) -> np.ndarray:
        """Shrink the larger weight of any pair still over the bound (after rounding)."""
        found = self._order(node, q, axis)
        if found is None:
            return q
        m, cin = found
        m = m.astype(np.int32).copy()
        a, b = _pairs(m.shape[1], cin)
        for _ in range(4):  # overlapping pairs (odd cin) may need a second look
            over = np.abs(m[:, a]) + np.abs(m[:, b]) - PAIR_LIMIT
            if (over <= 0).all():
                break
            rows, cols = np.nonzero(over > 0)
            ia, ib = a[cols], b[cols]
            big = np.where(np.abs(m[rows, ia]) >= np.abs(m[rows, ib]), ia, ib)
            m[rows, big] -= np.sign(m[rows, big]) * over[rows, cols]
        return _from_kernel_order(node, m.astype(np.int8), q.shape, axis)


def _from_kernel_order(node: onnx.NodeProto, m: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    if node.op_type == "Conv":
        o, c, kh, kw = shape
        return m.reshape(o, kh, kw, c).transpose(0, 3, 1, 2)
    moved = list(shape)
    moved.insert(0, moved.pop(axis))
    return np.moveaxis(m.reshape(moved), 0, axis)


def guard_for(isa: Isa) -> PairGuard | None:
    return PairGuard() if isa.guarded else None
