"""Scale and zero point: the affine map q = clamp(round(x / scale) + zp, qmin, qmax)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UINT8 = (0, 255)
INT8_NARROW = (-127, 127)
INT32 = (-(2**31) + 1, 2**31 - 1)
# Biases stay within +-2**30: the kernel adds up to K * 255 * 127 more in int32 (K <= 33k).
BIAS_LIMIT = 2**30
_TINY = np.float32(1e-12)


@dataclass(frozen=True)
class QParams:
    """Per-tensor (scalar) or per-channel (1-D along `axis`) quantization parameters."""

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # uint8 / int8 / int32
    axis: int | None = None

    @property
    def qrange(self) -> tuple[int, int]:
        return UINT8 if self.zero_point.dtype == np.uint8 else INT8_NARROW


def activation_qparams(lo: float, hi: float, signed: bool = False) -> QParams:
    """Asymmetric uint8 (default) or symmetric int8 parameters for a float range.

    The range always contains 0, so 0 maps to an integer exactly (padding and ReLU need it).
    A range that starts at 0 gets zero point 0: the full 0..255 serves non-negative tensors.
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"range [{lo}, {hi}] is not finite")
    if signed:
        scale = np.float32(max(abs(lo), abs(hi)) / 127.0)
        scale = scale if scale > _TINY else np.float32(1.0)
        return QParams(np.array(scale, np.float32), np.array(0, np.int8))
    scale = np.float32((hi - lo) / 255.0)
    if scale <= _TINY:
        return QParams(np.array(1.0, np.float32), np.array(0, np.uint8))
    zp = int(np.clip(np.round(-lo / float(scale)), 0, 255))
    return QParams(np.array(scale, np.float32), np.array(zp, np.uint8))


def weight_qparams(w: np.ndarray, axis: int | None, qmax: float | np.ndarray = 127) -> QParams:
    """Symmetric int8 weights (zero point 0), per channel along `axis` or per tensor.

    `qmax` may be per channel: a smaller value narrows a channel (AVX2 saturation).
    """
    if axis is None:
        amax = np.array(np.abs(w).max() if w.size else 0.0, np.float64)
    else:
        other = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=other).astype(np.float64)
    scale = (amax / np.asarray(qmax, np.float64)).astype(np.float32)
    scale = np.where(scale > _TINY, scale, np.float32(1.0)).astype(np.float32)
    return QParams(scale, np.zeros(scale.shape, np.int8), axis)


def _broadcast(p: np.ndarray, x: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is None or p.ndim == 0:
        return p
    shape = [1] * x.ndim
    shape[axis] = -1
    return p.reshape(shape)


def quantize(x: np.ndarray, qp: QParams) -> np.ndarray:
    """Round half to even, as ONNX QuantizeLinear does."""
    s = _broadcast(qp.scale, x, qp.axis)
    z = _broadcast(qp.zero_point.astype(np.int64), x, qp.axis)
    lo, hi = qp.qrange
    q = np.clip(np.rint(x.astype(np.float32) / s) + z, lo, hi)
    return q.astype(qp.zero_point.dtype)


def dequantize(q: np.ndarray, qp: QParams) -> np.ndarray:
    s = _broadcast(qp.scale, q, qp.axis)
    z = _broadcast(qp.zero_point.astype(np.int64), q, qp.axis)
    return ((q.astype(np.int64) - z) * s).astype(np.float32)


def quantize_bias(
    b: np.ndarray, input_scale: float, weight_scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """int32 bias with scale input_scale * weight_scale; returns (int32 values, scale)."""
    scale = (np.float64(input_scale) * weight_scale.astype(np.float64)).astype(np.float32)
    q = np.clip(np.rint(b.astype(np.float64) / scale.astype(np.float64)), -BIAS_LIMIT, BIAS_LIMIT)
    return q.astype(np.int32), scale
