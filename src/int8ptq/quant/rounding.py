"""Error-compensating weight rounding (OBQ/GPTQ: Frantar et al. 2022).

Weights are rounded one input column at a time; each column's rounding error is pushed
onto the columns not yet rounded, weighted by the inverse input second moments H^-1,
so the layer's output error ||(W - Q) X|| is minimized rather than each weight's own
error. Scales are fixed beforehand (per output channel), so the model format is unchanged.

With a pair constraint (saturation.py), columns are rounded in the kernel's reduction
order (W and H permuted alike) and a column whose pair partner is already rounded is
limited to what the pair has left; the error that costs is propagated like any other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from int8ptq.quant.saturation import PairConstraint

DAMP = 0.01  # fraction of the mean diagonal added to H for a stable inverse

# why a layer kept plain rounding, or got no bias correction
MISSING_STATS = "missing statistics"
FACTORIZATION = "factorization failure"
SHAPE_MISMATCH = "statistics do not match the weight"


def _inverse_cholesky(h: np.ndarray) -> np.ndarray | None:
    """Upper U with H^-1 = U^T U (batched over leading axes), or None if H is singular.

    With J the exchange matrix and L L^T = J H J, R = J L J is upper and H = R R^T, so
    U = R^-1: one Cholesky and one triangular inverse, no general inverse.
    """
    k = h.shape[-1]
    d = np.diagonal(h, axis1=-2, axis2=-1)
    damp = DAMP * np.maximum(d.mean(axis=-1), 1e-12)
    h = (h + damp[..., None, None] * np.eye(k)).astype(np.float32)
    try:
        low = np.linalg.cholesky(np.ascontiguousarray(h[..., ::-1, ::-1]))
    except np.linalg.LinAlgError:
        return None
    r = np.ascontiguousarray(low[..., ::-1, ::-1])
    out = np.empty_like(r)
    for i, ri in enumerate(r.reshape(-1, k, k)):
        out.reshape(-1, k, k)[i], info = lapack.strtri(ri, lower=0)
        if info != 0 or not np.isfinite(out.reshape(-1, k, k)[i]).all():
            return None
    return out


def _decouple_dead(h: np.ndarray) -> np.ndarray:
    """H with each input that never fired in calibration made independent of the others.

    Such a column is rounded to nearest and neither absorbs nor passes on error (its rows of
    H^-1 are zero). It keeps its weights: an input silent on the calibration patches may
    still fire on other images, and zeroing its weights made that a systematic error.
    """
    d = np.diagonal(h)
    dead = d <= 0
    if not dead.any():
        return h
    h = h.copy()
    h[dead, :] = 0.0
    h[:, dead] = 0.0
    h[dead, dead] = d[~dead].mean() if (~dead).any() else 1.0
    return h


BLOCK = 128  # columns rounded together before the trailing update (lazy batch updates)


def round_dense(
    w: np.ndarray, scale: np.ndarray, qmax: np.ndarray, h: np.ndarray, pairs: PairConstraint | None = None
) -> np.ndarray | None:
    """w: (O, K) float; scale, qmax: (O,); h: (K, K). Returns int8 (O, K) or None.
    With `pairs`, no pair can leave int16 (saturation.py), in natural column order."""
    if pairs is not None:
        p = pairs.perm
        q = _round_dense(w[:, p], scale, qmax, h[np.ix_(p, p)], pairs)
        if q is None:
            return None
        out = np.empty_like(q)
        out[:, p] = q
        return out
    return _round_dense(w, scale, qmax, h, None)


def _round_dense(
    w: np.ndarray, scale: np.ndarray, qmax: np.ndarray, h: np.ndarray, pairs: PairConstraint | None
) -> np.ndarray | None:
    w = w.astype(np.float32)
    h = _decouple_dead(h)
    u = _inverse_cholesky(h)
    if u is None:
        return None
    s, lim = scale.astype(np.float32)[:, None], qmax.astype(np.float32)[:, None]
    q = np.zeros_like(w)
    k = w.shape[1]
    partners = pairs.partners if pairs is not None else None
    for b0 in range(0, k, BLOCK):
        b1 = min(b0 + BLOCK, k)
        wb = w[:, b0:b1].copy()
        errs = np.zeros_like(wb)
        for i in range(b1 - b0):
            low, high = -lim, lim
            if pairs is not None and partners is not None:
                low, high = pairs.bounds([q[:, p : p + 1] for p in partners[b0 + i] if p >= 0], lim)
            col = np.clip(np.rint(wb[:, i : i + 1] / s), low, high)
            q[:, b0 + i] = col[:, 0]
            e = (wb[:, i : i + 1] - col * s) / u[b0 + i, b0 + i]
            wb[:, i + 1 :] -= e * u[b0 + i, b0 + i + 1 : b1]
            errs[:, i] = e[:, 0]
        w[:, b1:] -= errs @ u[b0:b1, b1:]
    return q.astype(np.int8)


def round_depthwise(w: np.ndarray, scale: np.ndarray, qmax: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """w: (C, K) one filter per channel; h: (C, K, K) per channel. Returns int8 (C, K)."""
    w = w.astype(np.float32)
    u = _inverse_cholesky(h)
    if u is None:
        return None
    s, lim = scale.astype(np.float32), qmax.astype(np.float32)
    q = np.zeros_like(w)
    for i in range(w.shape[1]):
        q[:, i] = np.clip(np.rint(w[:, i] / s), -lim, lim)
        err = (w[:, i] - q[:, i] * s) / u[:, i, i]
        w[:, i + 1 :] -= err[:, None] * u[:, i, i + 1 :]
    return q.astype(np.int8)


@dataclass(frozen=True)
class Rounded:
    """A layer's int8 weights (O, K), or None with the reason it must keep plain rounding."""

    q: np.ndarray | None
    reason: str | None = None


class CompensatingRounder:
    """Rounds each layer's weights with its input statistics, and computes the bias change
    that cancels the mean output shift left by the final weights (bias correction, Nagel
    et al. 2019). `missing`: node -> why it has no statistics (grouped conv, K too large...)."""

    def __init__(
        self, stats: dict, missing: dict[str, str] | None = None, cache: dict[bytes, Rounded] | None = None
    ) -> None:  # stats: name -> observer
        self.stats = stats
        self.missing = missing or {}
        # results by their inputs: builds that share statistics (tune's trials) round a layer once
        self.cache = cache if cache is not None else {}

    def _hessian(self, node: str, w: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        obs = self.stats.get(node)
        h = obs.hessian() if obs is not None else None
        if h is None:
            return None, self.missing.get(node, MISSING_STATS)
        if (h.ndim == 3 and h.shape[0] != w.shape[0]) or h.shape[-1] != w.shape[1]:
            return None, SHAPE_MISMATCH
        return h, None

    def __call__(
        self,
        node: str,
        w: np.ndarray,
        scale: np.ndarray,
        qmax: np.ndarray,
        pairs: PairConstraint | None = None,
    ) -> Rounded:
        key = _key(node, w, scale, qmax, pairs)
        if key in self.cache:
            return self.cache[key]
        h, why = self._hessian(node, w)
        if h is None:
            return Rounded(None, why)
        q = round_depthwise(w, scale, qmax, h) if h.ndim == 3 else round_dense(w, scale, qmax, h, pairs)
        if q is not None:
            q.setflags(write=False)  # shared by every build that hits the cache
        self.cache[key] = Rounded(q, None if q is not None else FACTORIZATION)
        return self.cache[key]

    def bias_delta(
        self, node: str, w: np.ndarray, q: np.ndarray, scale: np.ndarray
    ) -> tuple[np.ndarray | None, str | None]:
        """The bias change for the final weights q (O, K), or None and why not."""
        obs = self.stats.get(node)
        mean = obs.mean() if obs is not None else None
        if mean is None:
            return None, self.missing.get(node, MISSING_STATS)
        d = w.astype(np.float64) - q.astype(np.float64) * scale.astype(np.float64)[:, None]
        if mean.shape[-1] != d.shape[1] or (mean.ndim == 2 and mean.shape[0] != d.shape[0]):
            return None, SHAPE_MISMATCH
        return ((d * mean).sum(axis=1) if mean.ndim == 2 else d @ mean), None


def _key(
    node: str, w: np.ndarray, scale: np.ndarray, qmax: np.ndarray, pairs: PairConstraint | None
) -> bytes:
    """A digest of everything a layer's rounding depends on besides its statistics."""
    d = hashlib.blake2b(node.encode(), digest_size=20)
    pair_arrays = (pairs.perm, pairs.first, pairs.second, np.array(pairs.limit)) if pairs is not None else ()
    for a in (w, scale, qmax, *pair_arrays):
        d.update(str((a.dtype, a.shape)).encode())
        d.update(np.ascontiguousarray(a).tobytes())
    return d.digest()
