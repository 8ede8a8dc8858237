"""Quantization math: round-trip error at most scale/2 inside the range, zero exact."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from int8ptq.quant.qmath import activation_qparams, dequantize, quantize, quantize_bias, weight_qparams

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=200, deadline=None)
@given(lo=finite, hi=finite, data=st.lists(st.floats(0, 1, width=32), min_size=1, max_size=64))
def test_activation_roundtrip_within_half_step_and_zero_exact(lo, hi, data):
    lo, hi = min(lo, hi), max(lo, hi)
    qp = activation_qparams(lo, hi)
    assert np.isfinite(qp.scale) and qp.scale > 0
    lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
    x = (lo0 + np.array(data, np.float32) * (hi0 - lo0)).astype(np.float32)
    err = np.abs(dequantize(quantize(x, qp), qp) - x)
    assert err.max() <= qp.scale / 2 * (1 + 1e-3) + 1e-6 * max(abs(lo0), abs(hi0))
    assert dequantize(quantize(np.zeros(1, np.float32), qp), qp)[0] == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=2, max_size=50))
def test_weights_symmetric_per_channel(vals):
    w = np.array(vals, np.float32).reshape(-1, 1)
    w = np.concatenate([w, -w * 0.5], axis=1)  # (C, 2)
    qp = weight_qparams(w, axis=0)
    q = quantize(w, qp)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127
    assert np.all(np.abs(dequantize(q, qp) - w) <= qp.scale[:, None] / 2 * (1 + 1e-3) + 1e-30)


def test_edge_cases_constant_all_negative_all_positive_denormal():
    for lo, hi in [(0, 0), (-3, -1), (2, 5), (1e-40, 1e-39), (-1e-42, 0)]:
        qp = activation_qparams(lo, hi)
        assert np.isfinite(qp.scale) and qp.scale > 0
        assert int(qp.zero_point) in range(256)
    assert int(activation_qparams(2, 5).zero_point) == 0  # non-negative: full range
    assert int(activation_qparams(-3, -1).zero_point) == 255
    zero = weight_qparams(np.zeros((4, 3), np.float32), axis=0)
    assert np.all(zero.scale == 1.0)  # dead channels: any scale, never 0 or NaN


def test_bias_int32_scale_is_product():
    q, s = quantize_bias(np.array([1.0, -2.0]), 0.1, np.array([0.01, 0.02], np.float32))
    assert q.dtype == np.int32
    np.testing.assert_allclose(s, [0.001, 0.002], rtol=1e-6)
    np.testing.assert_array_equal(q, [1000, -1000])


def test_nonfinite_range_is_rejected():
    import pytest

    with pytest.raises(ValueError):
        activation_qparams(0, float("inf"))
