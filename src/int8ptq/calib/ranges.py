"""Range methods: turn an observer's statistics into the float range [lo, hi] to quantize.

Every method works on the histogram of a HistogramObserver (minmax also on MinMaxObserver).
Non-negative tensors keep lo = 0, so they get the whole uint8 range.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from int8ptq.calib.observers import HistogramObserver, MinMaxObserver

LEVELS = 255  # uint8 steps


class RangeMethod(str, enum.Enum):
    MINMAX = "minmax"
    PERCENTILE = "percentile"
    MSE = "mse"
    KL = "kl"
    AUTO = "auto"
    # chosen by the error caused in the consuming layers' outputs (algorithms.OutputAwareRanges);
    # from a histogram alone (a tensor without pointwise consumers), the same as mse
    OUTPUT = "output"

    @property
    def needs_histogram(self) -> bool:
        return self is not RangeMethod.MINMAX


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0))))


def _hard_gate(x: np.ndarray, alpha: float) -> np.ndarray:
    """clip(alpha * x + 1/2, 0, 1): HardSigmoid with beta 1/2 (HardSwish's gate: alpha 1/6)."""
    return np.asarray(np.clip(alpha * x + 0.5, 0.0, 1.0))


class Curve(str, enum.Enum):
    """The elementwise function that every reader of a tensor applies first: the range is
    chosen for the error after it (SiLU flattens the negative side, Sigmoid both tails; the
    hard forms are flat below -3, and HardSigmoid above 3)."""

    IDENTITY = "Identity"
    SIGMOID = "Sigmoid"
    SILU = "SiLU"  # x * sigmoid(x)
    HARD_SIGMOID = "HardSigmoid"  # clip(x / 6 + 1/2, 0, 1)
    HARD_SIGMOID_ONNX = "HardSigmoid(0.2)"  # clip(0.2 x + 1/2, 0, 1): ONNX's default alpha
    HARD_SWISH = "HardSwish"  # x * clip(x / 6 + 1/2, 0, 1)

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self is Curve.IDENTITY:
            return x
        if self in _HARD_ALPHA:
            g = _hard_gate(x, _HARD_ALPHA[self])
            return x * g if self is Curve.HARD_SWISH else g
        s = _sigmoid(x)
        return s if self is Curve.SIGMOID else x * s

    def slope(self, x: np.ndarray) -> np.ndarray:
        if self is Curve.IDENTITY:
            return np.ones_like(x)
        if self in _HARD_ALPHA:
            alpha = _HARD_ALPHA[self]
            inside = np.abs(x) < 0.5 / alpha
            if self is Curve.HARD_SWISH:
                return np.where(inside, 2.0 * alpha * x + 0.5, (x > 0).astype(np.float64))
            return np.where(inside, alpha, 0.0)
        s = _sigmoid(x)
        return s * (1.0 - s) if self is Curve.SIGMOID else s * (1.0 + x * (1.0 - s))


_HARD_ALPHA = {Curve.HARD_SIGMOID: 1.0 / 6.0, Curve.HARD_SIGMOID_ONNX: 0.2, Curve.HARD_SWISH: 1.0 / 6.0}


@dataclass(frozen=True)
class RangeOptions:
    percentile: float = 99.999  # of |x| mass kept on each side
    grid: int = 128  # candidate thresholds per side for mse (a 32 x 32 grid for signed tensors)
    # mse never clips a negative minimum that holds at least this share of the values: a floor
    # (an activation's zero moved by the scale and shift after it) clipped or rounded to 0 shifts
    # a large part of the tensor by the same amount, a bias the next layer sums up
    floor_mass: float = 0.005


def expected_error(
    obs: HistogramObserver, lo: np.ndarray, hi: np.ndarray, coarse: int = 1, curve: Curve = Curve.IDENTITY
) -> np.ndarray:
    """Expected squared error of uint8 quantization over [lo, hi] for each candidate pair,
    measured after `curve`: rounding noise scale^2/12 (times the curve's squared slope)
    inside the range, the squared clipping distance outside. `coarse` merges that many bins
    first (a faster search)."""
    centers, counts = obs.centers(), obs.counts
    if coarse > 1 and len(counts) % coarse == 0:
        centers = centers.reshape(-1, coarse).mean(axis=1)
        counts = counts.reshape(-1, coarse).sum(axis=1)
    c = centers[None, :]
    lo, hi = np.minimum(lo, 0.0)[:, None], np.maximum(hi, 0.0)[:, None]
    scale = np.maximum((hi - lo) / LEVELS, 1e-12)
    clipped = np.clip(c, lo, hi)
    noise = scale**2 / 12.0 * curve.slope(c) ** 2
    err = np.where((c >= lo) & (c <= hi), noise, (curve.apply(c) - curve.apply(clipped)) ** 2)
    return (err * counts[None, :]).sum(axis=1) / max(counts.sum(), 1.0)


def _minmax(obs: MinMaxObserver) -> tuple[float, float]:
    return obs.lo, obs.hi


def _percentile(obs: HistogramObserver, opts: RangeOptions) -> tuple[float, float]:
    cdf = np.cumsum(obs.counts) / max(obs.counts.sum(), 1.0)
    tail = 1.0 - opts.percentile / 100.0
    edges = obs.edges
    assert edges is not None
    hi = float(np.interp(1.0 - tail, cdf, edges[1:]))
    lo = min(float(np.interp(tail, cdf, edges[1:])), 0.0) if obs.lo < 0 else 0.0
    return lo, max(hi, 0.0)


def floor_share(obs: HistogramObserver) -> float:
    """The share of the values in the histogram bin that holds the observed minimum."""
    assert obs.edges is not None
    i = int(np.clip(np.searchsorted(obs.edges, obs.lo, side="right") - 1, 0, len(obs.counts) - 1))
    return float(obs.counts[i] / max(obs.counts.sum(), 1.0))


def _mse(obs: HistogramObserver, opts: RangeOptions, curve: Curve) -> tuple[float, float]:
    if obs.lo >= 0:
        his = obs.hi * np.linspace(1.0 / opts.grid, 1.0, opts.grid)
        los = np.zeros_like(his)
    else:
        fr = np.linspace(1.0 / 32, 1.0, 32)
        a, b = np.meshgrid(fr, fr, indexing="ij")
        los, his = obs.lo * a.reshape(-1), max(obs.hi, 0.0) * b.reshape(-1)
    k = int(np.argmin(expected_error(obs, los, his, coarse=4, curve=curve)))
    lo = float(obs.lo) if obs.lo < 0 and floor_share(obs) >= opts.floor_mass else float(los[k])
    return lo, float(his[k])


def _abs_histogram(obs: HistogramObserver, amax: float) -> np.ndarray:
    """|x| on the observer's own bins over [0, amax]: its grid is anchored at 0, so the
    negative side folds exactly onto the positive one (bin -i - 1 onto bin i) and a point
    mass (a ReLU's zeros) stays in one bin. Mass beyond amax goes to the last bin."""
    n = max(int(np.ceil(amax / obs.width)), 1)
    index = obs.first + np.arange(obs.bins)
    folded = np.where(index < 0, -index - 1, index)
    return np.bincount(np.minimum(folded, n - 1), weights=obs.counts, minlength=n)


def kl_divergence(hist: np.ndarray, i: int, levels: int) -> float:
    """TensorRT's entropy criterion for the threshold at bin `i`: the clipped distribution P
    (the mass beyond the threshold added to its last bin) against Q, the first `i` bins
    rounded to `levels` + 1 grid points (0 and the threshold included) and each point's mass
    spread back over its non-empty bins. The bins of 0 and of the threshold keep their own
    mass: both are exact grid points, where a ReLU's zeros and a clip's saturated values
    pile up, and smearing those point masses over a whole step made every threshold but the
    smallest (a step per bin: no smearing at all) look costly."""
    src = hist[:i]
    p = src.copy()
    p[-1] += hist[i:].sum()
    group = np.rint((np.arange(i) + 0.5) * levels / i).astype(np.int64) + 1
    group[0], group[-1] = 0, levels + 2
    sums = np.bincount(group, weights=src, minlength=levels + 3)
    nonempty = np.bincount(group, weights=(src > 0).astype(float), minlength=levels + 3)
    q = np.where(src > 0, sums[group] / np.maximum(nonempty[group], 1.0), 0.0)
    nz = p > 0
    ps, qs = p[nz] / p.sum(), q[nz] / max(q.sum(), 1e-12)
    return float(np.sum(ps * np.log(ps / np.maximum(qs, 1e-12))))


def _kl(obs: HistogramObserver, levels: int = 128, stride: int = 16) -> tuple[float, float]:
    """Entropy calibration (TensorRT, MKL-DNN): the |x| threshold whose quantized
    distribution is closest in KL divergence to the clipped original. Candidates run from
    `levels` bins (255 levels for a non-negative tensor, which gets all of uint8; 128 per
    side for a signed one) to all of them."""
    amax = max(abs(obs.lo), abs(obs.hi))
    if amax <= 0 or obs.edges is None:
        return 0.0, 0.0
    hist = _abs_histogram(obs, amax)
    n = len(hist)
    levels = LEVELS if obs.lo >= 0 else levels
    candidates = [*range(levels, n, stride), n]
    best_i = candidates[int(np.argmin([kl_divergence(hist, i, levels) for i in candidates]))]
    t = min(best_i * obs.width, amax)
    return (max(obs.lo, -t) if obs.lo < 0 else 0.0), min(obs.hi, t)


def compute_range(
    obs: MinMaxObserver, method: RangeMethod, opts: RangeOptions | None = None, curve: Curve = Curve.IDENTITY
) -> tuple[float, float]:
    """The range to quantize a tensor over, by `method`; the error-searching methods (mse,
    auto) measure it after `curve`, the function every reader applies first."""
    opts = opts or RangeOptions()
    if obs.count == 0:
        return 0.0, 0.0
    if method is RangeMethod.MINMAX or not isinstance(obs, HistogramObserver):
        return _minmax(obs)
    if method is RangeMethod.PERCENTILE:
        return _percentile(obs, opts)
    if method in (RangeMethod.MSE, RangeMethod.OUTPUT):
        return _mse(obs, opts, curve)
    if method is RangeMethod.KL:
        return _kl(obs)
    cands = [_minmax(obs), _percentile(obs, opts), _kl(obs), _mse(obs, opts, curve)]
    errs = expected_error(obs, np.array([c[0] for c in cands]), np.array([c[1] for c in cands]), curve=curve)
    return cands[int(np.argmin(errs))]
