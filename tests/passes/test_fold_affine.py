"""Per-channel Mul/Add by constants fold into the neighbouring Conv, outputs unchanged."""

import numpy as np
import onnx
from onnx import TensorProto, helper

from int8ptq.ir import Graph
from int8ptq.passes import fold_affine, prepare
from tests.conftest import init, make_model, run

RNG = np.random.default_rng(7)
F = np.float32
X = RNG.standard_normal((2, 4, 9, 9)).astype(F)


def _model(nodes: list, inits: list) -> onnx.ModelProto:
    return make_model(
        nodes,
        inits,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C", "H", "W"])],
    )


def _ops(g: Graph) -> list[str]:
    return [n.op_type for n in g.nodes]


def _same(m: onnx.ModelProto, g: Graph) -> None:
    after = g.to_model()
    onnx.checker.check_model(after)
    np.testing.assert_allclose(run(after, X), run(m, X), atol=1e-4, rtol=1e-4)


def test_bias_add_and_scale_fold_into_the_conv_before_them():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Add", ["c", "t"], ["a"]),  # Paddle's bias as its own Add
        helper.make_node("Mul", ["s", "a"], ["m"]),  # constant first: either slot works
        helper.make_node("Relu", ["m"], ["y"]),
    ]
    inits = [
        init("w", RNG.standard_normal((6, 4, 3, 3)).astype(F)),
        init("t", RNG.standard_normal((1, 6, 1, 1)).astype(F)),
        init("s", RNG.standard_normal((6, 1, 1)).astype(F)),
    ]
    m = _model(nodes, inits)
    g = Graph(m)
    assert fold_affine(g) == 2
    assert _ops(g) == ["Conv", "Relu"]
    _same(m, g)


def test_scale_and_shift_fold_into_an_unpadded_grouped_conv_after_them():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Mul", ["r", "s"], ["m"]),  # a scalar scale
        helper.make_node("Add", ["m", "t"], ["a"]),  # a per-channel shift
        helper.make_node("Conv", ["a", "w", "b"], ["y"], group=2, kernel_shape=[1, 1]),
    ]
    inits = [
        init("s", np.array(0.7, F)),
        init("t", RNG.standard_normal((4, 1, 1)).astype(F)),
        init("w", RNG.standard_normal((6, 2, 1, 1)).astype(F)),
        init("b", RNG.standard_normal(6).astype(F)),
    ]
    m = _model(nodes, inits)
    g = Graph(m)
    assert fold_affine(g) == 2
    assert _ops(g) == ["Relu", "Conv"]
    _same(m, g)


def test_a_shift_before_a_padded_conv_stays_the_border_would_change():
    nodes = [
        helper.make_node("Add", ["x", "t"], ["a"]),
        helper.make_node("Conv", ["a", "w"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
    ]
    inits = [
        init("t", RNG.standard_normal((1, 4, 1, 1)).astype(F)),
        init("w", RNG.standard_normal((6, 4, 3, 3)).astype(F)),
    ]
    m = _model(nodes, inits)
    g = Graph(m)
    assert fold_affine(g) == 0
    assert _ops(g) == ["Add", "Conv"]


def test_constants_that_are_not_per_channel_or_widen_the_output_stay():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["c", "t"], ["y"]),  # differs along W: not a bias
    ]
    inits = [
        init("w", RNG.standard_normal((6, 4, 1, 1)).astype(F)),
        init("t", RNG.standard_normal((1, 1, 1, 9)).astype(F)),
    ]
    m = _model(nodes, inits)
    g = Graph(m)
    assert fold_affine(g) == 0
    nodes[1] = helper.make_node("Add", ["c", "t"], ["y"])  # one more axis: the output would grow
    m2 = _model(nodes, [inits[0], init("t", RNG.standard_normal((1, 1, 6, 1, 1)).astype(F))])
    assert fold_affine(Graph(m2)) == 0


def test_prepare_folds_a_bias_add_that_sits_between_conv_and_batchnorm():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["c", "t"], ["a"]),
        helper.make_node("BatchNormalization", ["a", "g", "be", "mu", "v"], ["y"]),
    ]
    inits = [
        init("w", RNG.standard_normal((6, 4, 1, 1)).astype(F)),
        init("t", RNG.standard_normal((6, 1, 1)).astype(F)),
        init("g", RNG.random(6).astype(F) + 0.5),
        init("be", RNG.standard_normal(6).astype(F)),
        init("mu", RNG.standard_normal(6).astype(F)),
        init("v", RNG.random(6).astype(F) + 0.5),
    ]
    m = _model(nodes, inits)
    g = Graph(m)
    counts = prepare(g)
    assert counts["fold_affine"] == 1 and counts["fold_bn"] == 1
    assert _ops(g) == ["Conv"]
    _same(m, g)
