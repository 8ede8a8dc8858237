"""AVX2 u8*s8 pair saturation: a crafted worst case saturates the naive model, not ours.

This machine may have VNNI, so the AVX2 kernel is emulated exactly: vpmaddubsw adds the two
products of each adjacent pair along K into a saturating int16, then int32 accumulation.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from int8ptq.quant.isa import Isa
from int8ptq.quant.saturation import PairGuard
from int8ptq.runtime.cpu import isa_of
from tests.conftest import init, make_model


def avx2_dot(x_u8: np.ndarray, w_s8: np.ndarray) -> np.ndarray:
    """(K,) uint8 . (O, K) int8 the way vpmaddubsw + vpmaddwd compute it."""
    k = len(x_u8) + len(x_u8) % 2
    x = np.zeros(k, np.int32)
    x[: len(x_u8)] = x_u8
    w = np.zeros((len(w_s8), k), np.int32)
    w[:, : w_s8.shape[1]] = w_s8
    pairs = x[0::2] * w[:, 0::2] + x[1::2] * w[:, 1::2]
    return np.clip(pairs, -32768, 32767).sum(axis=1)


def worst_input(w: np.ndarray) -> np.ndarray:
    """255 where the weight is positive in the channel with the largest pair: maximal pair sums."""
    o = np.argmax(np.abs(w[:, 0::2]).astype(int).sum(1) + np.abs(w[:, 1::2]).astype(int).sum(1))
    return np.where(w[o] > 0, 255, 0).astype(np.uint8)


def every_worst_input(w: np.ndarray) -> list[np.ndarray]:
    """For each channel, the inputs that push its pairs furthest up and furthest down."""
    return [np.where(sign * row > 0, 255, 0).astype(np.uint8) for row in w for sign in (1, -1)]


def same_sign_sums(q: np.ndarray, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """What the worst activations push into each pair's int16, in units of 255."""
    qa, qb = q[..., a].astype(int), q[..., b].astype(int)
    up = np.maximum(qa, 0) + np.maximum(qb, 0)
    return np.maximum(up, np.maximum(-qa, 0) + np.maximum(-qb, 0))


def _model(tmp_path):
    # 64 input channels: a lone Conv with fewer products per output stays FP32 (quant/islands.py)
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.2, 0.2, (8, 64, 1, 1)).astype(np.float32)
    w[:, 10, 0, 0], w[:, 11, 0, 0] = 1.0, 0.0  # each channel's max sits beside a zero: safe
    w[0, 0, 0, 0], w[0, 1, 0, 0] = 1.0, 0.95  # an adjacent pair near the channel's max
    w[3, 6, 0, 0], w[3, 7, 0, 0] = -0.9, -1.0
    w[5, 2, 0, 0], w[5, 3, 0, 0] = 1.0, -0.97  # opposite signs: within +-255 * 127, safe
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    m = make_model(
        nodes,
        [init("w", w)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 4, 4])],
    )
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    calib = np.abs(rng.standard_normal((8, 64, 4, 4))).astype(np.float32)
    return p, calib, w


def _int8_weights(path) -> np.ndarray:
    m = onnx.load(str(path))
    q = next(numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == TensorProto.INT8)
    return q.reshape(q.shape[0], -1)


def test_naive_model_saturates_ours_does_not(tmp_path):
    p, calib, w = _model(tmp_path)
    naive, ours = tmp_path / "naive.onnx", tmp_path / "ours.onnx"
    quantize(p, naive, [calib], config=QuantConfig(target_isa="vnni", rounding="nearest"))
    quantize(p, ours, [calib], config=QuantConfig(target_isa="avx2", rounding="nearest"))
    qn, qo = _int8_weights(naive), _int8_weights(ours)
    x = worst_input(qn)
    exact = x.astype(np.int64) @ qn.T.astype(np.int64)
    assert (avx2_dot(x, qn) != exact).any()  # the naive model saturates on AVX2
    for xi in [worst_input(qo), np.full(64, 255, np.uint8), *every_worst_input(qo)]:
        assert (avx2_dot(xi, qo) == xi.astype(np.int64) @ qo.T.astype(np.int64)).all()
    # only the channels with a same-sign unsafe pair were narrowed; the others keep the full range
    assert np.abs(qo[[0, 3]]).max() < 127
    assert abs(int(qo[5, 2])) + abs(int(qo[5, 3])) > 128  # the opposite-sign pair is left whole
    assert (np.abs(qo[[1, 2, 4, 5, 6, 7]]).max(axis=1) == 127).all()


def test_guard_bounds_every_pair_for_odd_channel_counts():
    from onnx import helper as h

    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # stem-like: cin = 3
    node = h.make_node("Conv", ["x", "w"], ["y"])
    g = PairGuard()
    qmax = np.full(4, 127.0)  # no narrowing: the rounding alone must keep the bound
    scale = (np.abs(w).max(axis=(1, 2, 3)) / qmax).astype(np.float32)
    c = g.constraint(node, w.shape)
    q = c.round_nearest(w.reshape(4, -1)[:, c.perm], scale, qmax)  # kernel order (kh, kw, cin)
    m = q.astype(int)
    k = np.arange(m.shape[1] - 1)
    assert (same_sign_sums(m, k[0::2], k[0::2] + 1) <= 128).all()  # MLAS pairs along K
    per_tap = m.reshape(4, 9, 3)
    assert (same_sign_sums(per_tap, 0, 1) <= 128).all()  # oneDNN pairs
    assert (np.abs(m) == 127).any()  # the full range is still used where pairs allow
    mixed = np.sign(m[:, 0:-1:2]) * np.sign(m[:, 1::2]) < 0
    assert (np.abs(m[:, 0:-1:2]) + np.abs(m[:, 1::2]))[mixed].max() > 128  # opposite signs may exceed
    for xi in every_worst_input(m):  # the kernel's arithmetic agrees, for each channel's worst
        assert (avx2_dot(xi, m) == xi.astype(np.int64) @ m.T.astype(np.int64)).all()


def test_guard_keeps_channels_of_denormal_weights_finite():
    # a trained model's dead channel can hold denormal weights (PP-OCRv5 rec: max 7e-40)
    from onnx import helper as h

    w = np.random.default_rng(2).standard_normal((3, 8, 1, 1)).astype(np.float32)
    w[1] = np.float32(7e-40)
    qmax = PairGuard().qmax(h.make_node("Conv", ["x", "w"], ["y"]), w)
    assert (qmax >= 63).all()  # a pair of two full weights still fits at half the range


def test_isa_detection_reads_flags():
    assert isa_of({"avx2", "fma"}) == "avx2"
    assert isa_of({"avx2", "avx512bw"}) == "avx512"
    assert isa_of({"avx2", "avx512bw", "avx512_vnni"}) == "vnni"
    assert isa_of({"avx2", "avx_vnni"}) == "vnni"
    assert isa_of({"amx_int8", "avx512_vnni"}) == "amx"
    assert isa_of({"neon", "asimd"}, "aarch64") == "other"
    assert isa_of(set()) == "avx2"  # unreadable x86 flags: assume the saturating (safe) case
    assert Isa.AVX2.saturates and not Isa.VNNI.saturates


def test_a_1d_convolution_is_guarded_in_its_kernel_order(tmp_path):
    # a 1-D Conv reduces (taps, cin) like a 2-D one with kh = 1; its pairs are adjacent input
    # channels at one tap, not adjacent taps of one channel (the order the weight is stored in)
    rng = np.random.default_rng(5)
    w = rng.uniform(-0.3, 0.3, (8, 32, 3)).astype(np.float32)
    w[:, 4, 1], w[:, 5, 1] = 1.0, 0.95  # a same-sign pair of adjacent channels at tap 1
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1])]
    m = make_model(
        nodes,
        [init("w", w)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 16])],
    )
    calib = np.abs(rng.standard_normal((8, 32, 16))).astype(np.float32)
    quantize(m, tmp_path / "q.onnx", [calib], config=QuantConfig(target_isa="portable"))
    q = _int8_weights(tmp_path / "q.onnx").reshape(8, 32, 3)
    kernel_order = q.transpose(0, 2, 1).reshape(8, -1)  # (taps, cin), as the kernel reduces
    for xi in every_worst_input(kernel_order):
        assert (avx2_dot(xi, kernel_order) == xi.astype(np.int64) @ kernel_order.T.astype(np.int64)).all()


def test_a_largest_weight_whose_partner_has_the_other_sign_keeps_qmax_127():
    """The worst pair is the largest weight alone, so the limit is 127 * amax / amax, exactly
    127: computed in float32 it floored to 126 for some amax."""
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c")
    values = np.linspace(0.01, 2.0, 64, dtype=np.float32)
    w = np.full((64, 8, 1, 1), 1e-3, np.float32)
    c = PairGuard().constraint(node, w.shape)
    a, b = c.perm[c.first[0]], c.perm[c.second[0]]  # natural columns of the first pair
    w[:, a, 0, 0], w[:, b, 0, 0] = values, -values / 2
    assert (PairGuard().qmax(node, w) == 127).all()
