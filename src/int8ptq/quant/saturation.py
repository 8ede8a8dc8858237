"""Weights that cannot saturate int16 pairs on CPUs without VNNI (see isa.py).

x86 u8*s8 kernels without VNNI (onnxruntime's MLAS, oneDNN) multiply activations and
weights with vpmaddubsw: two products adjacent along the reduction axis K are added into a
saturating int16. Both pair input channels that are adjacent at the same kernel tap
(K ordered kh, kw, cin); with an odd channel count MLAS's pairs also straddle taps. With
activations in [0, 255], a pair of one sign is safe when |q_a| + |q_b| <= 128 (255 * 128 =
32640), and a pair of opposite signs always is: its sum lies within +-255 * 127 = +-32385.

The guard works in two places: before rounding it narrows a channel's qmax as far as its
worst float pair needs, and during rounding (`PairConstraint`) it limits each weight whose
pair partner is already rounded, so the rounding itself compensates the error that costs.
Depthwise convolutions run in int32 (no pairs) and keep the full range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.ir.ops import is_depthwise
from int8ptq.quant.isa import Isa

PAIR_LIMIT = 128  # 255 * 128 = 32640 <= 32767


def kernel_permutation(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    """Columns of the weight as (out channels, K) in its natural order (cin, kh, kw for Conv),
    listed in the order the kernel reduces (kh, kw, cin; a 1-D kernel: kw, cin): kernel
    column j = natural perm[j]."""
    if node.op_type in ("Conv", "ConvTranspose") and len(shape) >= 3:  # ConvTranspose: (O, C, k...) here
        c, taps = shape[1], int(np.prod(shape[2:]))  # 1-D, 2-D and 3-D kernels alike: taps, then cin
        return np.arange(c * taps).reshape(c, taps).T.reshape(-1)
    k = int(np.prod(shape)) // max(1, shape[0]) if shape else 0
    return np.arange(k)


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


@dataclass(frozen=True)
class PairConstraint:
    """What the rounding must respect, in kernel order: load(q[:, a], q[:, b]) <= limit for
    every pair (a, b). `partners[j]` lists the pairs' first members of column j (-1: none);
    a first member always comes before its second, so rounding in kernel order can keep
    the bound by limiting each column against the partners already rounded."""

    perm: np.ndarray  # kernel column j is natural column perm[j]
    first: np.ndarray
    second: np.ndarray
    limit: int = PAIR_LIMIT

    @property
    def partners(self) -> np.ndarray:
        k = len(self.perm)
        out = np.full((k, 2), -1, np.int64)
        for a, b in zip(self.first.tolist(), self.second.tolist(), strict=True):
            slot = 0 if out[b, 0] < 0 else 1
            out[b, slot] = a
        return out

    @staticmethod
    def load(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """What the worst activations push into a pair's int16, in units of 255: the larger of
        its positive sum and its negative sum's magnitude (opposite signs partly cancel)."""
        # = max(|a + b|, |a|, |b|): |a + b| when the signs agree, the larger one when they differ
        out = np.abs(a + b)
        np.maximum(out, np.abs(a), out=out)
        return np.maximum(out, np.abs(b), out=out)

    def bounds(self, rounded_partners: list[np.ndarray], lim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) for a column whose pair partners are rounded already (each (O, 1)): the
        partner's sign may use only what the pair has left; the other sign is free."""
        low, high = -lim, lim
        for qp in rounded_partners:
            high = np.minimum(high, np.where(qp > 0, self.limit - qp, lim))
            low = np.maximum(low, np.where(qp < 0, -(self.limit + qp), -lim))
        return low, high

    def excess(self, q_kernel: np.ndarray) -> np.ndarray:
        """(O, pairs) how far each pair is over the bound (<= 0: fine)."""
        m = q_kernel.astype(np.int32)
        return self.load(m[:, self.first], m[:, self.second]) - self.limit

    def round_nearest(self, w_kernel: np.ndarray, scale: np.ndarray, qmax: np.ndarray) -> np.ndarray:
        """Round to nearest in kernel order; a weight whose partner is rounded already is
        limited to what the pair has left."""
        s, lim = scale.astype(np.float32)[:, None], qmax.astype(np.float32)[:, None]
        q = np.clip(np.rint(w_kernel.astype(np.float32) / s), -lim, lim)
        partners = self.partners
        for j in np.nonzero((partners >= 0).any(axis=1))[0]:
            low, high = self.bounds([q[:, p : p + 1] for p in partners[j] if p >= 0], lim)
            q[:, j] = np.clip(q[:, j : j + 1], low, high)[:, 0]
        return q.astype(np.int8)


class PairGuard:
    """Narrows per-channel weight ranges before rounding and constrains pairs during it."""

    def constraint(self, node: onnx.NodeProto, shape: tuple[int, ...]) -> PairConstraint | None:
        """The pair constraint for a weight of this (out channels first) shape, or None."""
        if is_depthwise(node, shape) or len(shape) < 2:
            return None  # depthwise: int32 kernel
        perm = kernel_permutation(node, shape)
        if len(perm) < 2:
            return None
        cin = shape[1] if node.op_type in ("Conv", "ConvTranspose") else len(perm)
        a, b = _pairs(len(perm), cin)
        return PairConstraint(perm, a, b)

    def qmax(self, node: onnx.NodeProto, w: np.ndarray) -> np.ndarray:
        """Per-channel qmax for w as (out channels, ...): 127 where every pair fits, else as
        much as the worst pair allows."""
        full = np.full(w.shape[0], 127.0)
        c = self.constraint(node, w.shape)
        if c is None:
            return full
        wk = w.reshape(len(w), -1).astype(np.float64)  # float64: limits of exactly 127 stay 127
        amax = np.abs(wk).max(axis=1)
        worst = c.load(wk[:, c.perm[c.first]], wk[:, c.perm[c.second]]).max(axis=1)
        # with scale amax / qmax, the worst pair is worst * qmax / amax <= PAIR_LIMIT - 1 (rounding)
        # (no floor on the divisor: a channel of denormal weights would get qmax 0, scale inf)
        limit = np.where(worst > 0, (PAIR_LIMIT - 1) * amax / np.where(worst > 0, worst, 1.0), 127.0)
        return np.floor(np.minimum(full, limit))


def guard_for(isa: Isa) -> PairGuard | None:
    return PairGuard() if isa.guarded else None
