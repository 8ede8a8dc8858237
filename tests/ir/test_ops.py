"""One definition of each op's layout, and of depthwise, shared by every user."""

import onnx
from onnx import helper

from int8ptq.calib.covariance import observer_or_reason
from int8ptq.ir.ops import is_depthwise, reduction_length, trans_a, trans_b, weight_out_axis
from int8ptq.quant.saturation import PairGuard


def _conv(group: int) -> onnx.NodeProto:
    return helper.make_node("Conv", ["x", "w"], ["y"], group=group)


def test_depthwise_is_one_input_channel_to_one_output() -> None:
    assert is_depthwise(_conv(8), (8, 1, 3, 3))
    assert not is_depthwise(_conv(8), (16, 1, 3, 3))  # channel multiplier 2: a grouped GEMM
    assert not is_depthwise(_conv(4), (8, 2, 3, 3))  # grouped, 2 channels per group
    assert not is_depthwise(_conv(1), (8, 8, 3, 3))
    assert not is_depthwise(helper.make_node("Gemm", ["x", "w"], ["y"]), (8, 1, 3))


def test_users_agree_on_depthwise() -> None:
    guard = PairGuard()
    # the int32 depthwise kernel has no pairs; a channel multiplier runs as GEMM: guarded
    assert guard.constraint(_conv(8), (8, 1, 3, 3)) is None
    assert guard.constraint(_conv(8), (16, 1, 3, 3)) is not None
    # rounding statistics: per channel for depthwise, none for other grouped convolutions
    assert not isinstance(observer_or_reason(_conv(8), (8, 1, 3, 3)), str)
    assert observer_or_reason(_conv(8), (16, 1, 3, 3)) == "grouped convolution"


def test_weight_layouts() -> None:
    gemm = helper.make_node("Gemm", ["a", "b"], ["y"])
    gemm_t = helper.make_node("Gemm", ["a", "b"], ["y"], transB=1)
    matmul = helper.make_node("MatMul", ["a", "b"], ["y"])
    assert [weight_out_axis(n) for n in (_conv(1), gemm, gemm_t, matmul)] == [0, 1, 0, 1]
    assert reduction_length(gemm, (64, 10)) == 64 and reduction_length(gemm_t, (10, 64)) == 64
    assert reduction_length(_conv(4), (8, 2, 3, 3)) == 18 and reduction_length(matmul, (32, 5)) == 32
    assert trans_b(gemm_t) and not trans_b(gemm) and not trans_a(gemm)
    assert trans_a(helper.make_node("Gemm", ["a", "b"], ["y"], transA=1))
