"""Compensating rounding, tested directly on small layers: against a plain reference
implementation, against round-to-nearest, its invariants, the depthwise path, and the
AVX2 pair constraint applied inside the rounding (not clamped afterwards)."""

import numpy as np
import pytest
from onnx import helper

from int8ptq.quant.rounding import DAMP, CompensatingRounder, round_dense, round_depthwise
from int8ptq.quant.saturation import PairGuard

CONV = helper.make_node("Conv", ["x", "w"], ["y"])


def _layer(o=16, cin=5, k=3, n=4000, seed=0):
    """A conv layer in natural (O, cin*k*k) order and inputs X (K, n) that look like
    post-ReLU activations: correlated, non-negative."""
    rng = np.random.default_rng(seed)
    kk = cin * k * k
    mix = rng.standard_normal((kk, kk)) * 0.3 + np.eye(kk)
    x = np.maximum(mix @ rng.standard_normal((kk, n)), 0).astype(np.float64)
    w = rng.standard_normal((o, cin, k, k)).astype(np.float32)
    return w, x


def _scale(w2, qmax):
    return (np.abs(w2).max(axis=1) / qmax).astype(np.float32)


def _err(w2, q, scale, x):
    d = w2.astype(np.float64) - q.astype(np.float64) * scale[:, None]
    return float(np.linalg.norm(d @ x))


def _nearest(w2, scale, qmax):
    return np.clip(np.rint(w2 / scale[:, None]), -qmax[:, None], qmax[:, None]).astype(np.int8)


def _reference_gptq(w2, scale, qmax, h):
    """OBQ/GPTQ without Cholesky or blocks: explicit inverse, rank-one removal per column."""
    w = w2.astype(np.float64).copy()
    k = w.shape[1]
    h = h + DAMP * np.diag(h).mean() * np.eye(k)
    hinv = np.linalg.inv(h)
    q = np.zeros_like(w)
    for i in range(k):
        q[:, i] = np.clip(np.rint(w[:, i] / scale), -qmax, qmax)
        e = (w[:, i] - q[:, i] * scale) / hinv[i, i]
        w[:, i + 1 :] -= np.outer(e, hinv[i, i + 1 :])
        hinv = hinv - np.outer(hinv[:, i], hinv[i, :]) / hinv[i, i]
    return q.astype(np.int8)


def _pairs_ok(q_nat, shape, c):
    """No pair can leave int16: same-sign pairs add up to at most 128 (opposite signs always fit)."""
    return bool((c.excess(q_nat[:, c.perm]) <= 0).all())


def test_matches_the_reference_and_beats_nearest():
    w, x = _layer(o=12, cin=4, k=3)
    w2 = w.reshape(len(w), -1)
    qmax = np.linspace(100, 127, len(w)).round()  # per-channel qmax, as the guard narrows
    scale = _scale(w2, qmax)
    h = x @ x.T / x.shape[1]
    q = round_dense(w2, scale, qmax, h)
    ref = _reference_gptq(w2, scale, qmax, h)
    assert (q == ref).mean() > 0.98  # float32 vs float64 may flip a rare tie
    assert abs(_err(w2, q, scale, x) - _err(w2, ref, scale, x)) < 0.02 * _err(w2, ref, scale, x)
    assert _err(w2, q, scale, x) < 0.9 * _err(w2, _nearest(w2, scale, qmax), scale, x)
    assert (np.abs(q.astype(int)) <= qmax[:, None]).all()  # invariant: |q| <= qmax per channel


@pytest.mark.parametrize("cin", [5, 3, 8])
def test_pair_bound_inside_the_rounding_beats_clamping_afterwards(cin):
    w, x = _layer(cin=cin)
    w2 = w.reshape(len(w), -1)
    qmax = np.full(len(w), 127.0)  # unnarrowed: the constraint binds often
    scale = _scale(w2, qmax)
    h = x @ x.T / x.shape[1]
    c = PairGuard().constraint(CONV, w.shape)
    inloop = round_dense(w2, scale, qmax, h, c)
    assert _pairs_ok(inloop, w.shape, c)  # every pair, the straddling ones of odd cin too
    assert (np.abs(inloop.astype(int)) <= 127).all()

    after = round_dense(w2, scale, qmax, h)  # unconstrained, then the old fix-up
    assert not _pairs_ok(after, w.shape, c)  # the layer does need the guard
    qk = after[:, c.perm].astype(int)
    for _ in range(4):
        over = c.excess(qk)
        rows, cols = np.nonzero(over > 0)
        ia, ib = c.first[cols], c.second[cols]
        big = np.where(np.abs(qk[rows, ia]) >= np.abs(qk[rows, ib]), ia, ib)
        qk[rows, big] -= np.sign(qk[rows, big]) * over[rows, cols]
    clamped = np.empty_like(after)
    clamped[:, c.perm] = qk
    assert _pairs_ok(clamped, w.shape, c)
    assert _err(w2, inloop, scale, x) < _err(w2, clamped, scale, x)

    nearest = np.empty_like(after)  # guarded nearest rounding keeps the bound too
    nearest[:, c.perm] = c.round_nearest(w2[:, c.perm], scale, qmax)
    assert _pairs_ok(nearest, w.shape, c)
    assert _err(w2, inloop, scale, x) < _err(w2, nearest, scale, x)


def test_depthwise_path():
    rng = np.random.default_rng(3)
    ch, k, n = 8, 9, 3000
    x = np.maximum(0.5 * rng.standard_normal((ch, k, n)) + rng.standard_normal((ch, 1, n)), 0)
    h = np.einsum("ckn,cjn->ckj", x, x) / n
    w = rng.standard_normal((ch, k)).astype(np.float32)
    qmax = np.full(ch, 127.0)
    scale = _scale(w, qmax)
    q = round_depthwise(w, scale, qmax, h)
    assert q is not None and (np.abs(q.astype(int)) <= 127).all()
    near = _nearest(w, scale, qmax)

    def err(qq):
        d = w.astype(np.float64) - qq.astype(np.float64) * scale[:, None]
        return float(np.sqrt(sum(np.linalg.norm(d[c] @ x[c]) ** 2 for c in range(ch))))

    assert err(q) < err(near)
    ref = np.concatenate(
        [_reference_gptq(w[c : c + 1], scale[c : c + 1], qmax[c : c + 1], h[c]) for c in range(ch)]
    )
    assert (q == ref).mean() > 0.98  # per channel, the same algorithm as the dense path
    assert PairGuard().constraint(helper.make_node("Conv", ["x", "w"], ["y"], group=8), (8, 1, 3, 3)) is None


def test_an_input_silent_in_calibration_keeps_its_weights():
    """An input channel that never fired on the calibration data may fire later: its
    weights stay rounded to nearest (they used to be zeroed), and the other columns are
    rounded exactly as if it were absent."""
    w, x = _layer(o=8, cin=4, k=1, n=2000, seed=3)
    w2 = w.reshape(8, -1)
    calib = x.copy()
    calib[2] = 0.0  # channel 2 silent in calibration
    h = calib @ calib.T / calib.shape[1]
    qmax = np.full(8, 127.0)
    scale = _scale(w2, qmax)
    q = round_dense(w2, scale, qmax, h)
    assert q is not None
    np.testing.assert_array_equal(q[:, 2], _nearest(w2, scale, qmax)[:, 2])
    live = [0, 1, 3]
    alone = round_dense(w2[:, live], scale, qmax, h[np.ix_(live, live)])
    np.testing.assert_array_equal(q[:, live], alone)
    # on data where the channel fires, the output error is that of rounding, not of a lost input
    assert _err(w2, q, scale, x) < 0.5 * _err(w2, np.where(np.arange(4) == 2, 0, q), scale, x)


class _Moments:
    """Second moments of a layer's input, counting how often the rounder asks for them."""

    def __init__(self, x):
        self.h, self.asked = x @ x.T, 0

    def hessian(self):
        self.asked += 1
        return self.h


def test_rounder_rounds_a_layer_once_per_distinct_input():
    w, x = _layer(o=8, cin=3, k=3)
    w2 = w.reshape(len(w), -1)
    qmax = np.full(len(w), 127.0)
    stats = {"conv": _Moments(x)}
    cache: dict = {}
    first = CompensatingRounder(stats, cache=cache)("conv", w2, _scale(w2, qmax), qmax)
    again = CompensatingRounder(stats, cache=cache)("conv", w2, _scale(w2, qmax), qmax)  # a later build
    assert again is first and stats["conv"].asked == 1
    assert not first.q.flags.writeable  # shared between builds, so nobody may edit it
    other = CompensatingRounder(stats, cache=cache)("conv", w2, _scale(w2, qmax) * 1.5, qmax)
    assert stats["conv"].asked == 2 and not np.array_equal(other.q, first.q)
    pairs = PairGuard().constraint(CONV, w.shape)
    guarded = CompensatingRounder(stats, cache=cache)("conv", w2, _scale(w2, qmax), qmax, pairs)
    assert stats["conv"].asked == 3 and _pairs_ok(guarded.q, w.shape, pairs)
