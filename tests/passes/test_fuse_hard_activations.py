"""Spelled-out hard-sigmoid and hard-swish become the one ONNX op, outputs unchanged."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from int8ptq.ir import Graph, load_model
from int8ptq.passes import fuse_hard_activations
from tests.conftest import init, make_model, run

X = (np.random.default_rng(5).standard_normal((2, 3, 5, 5)) * 4).astype(np.float32)


def _model(nodes: list, inits: list, opset: int) -> onnx.ModelProto:
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3, 5, 5]) for n in ("x", "y")]
    return make_model(nodes, inits, io[:1], io[1:], opset=opset)


def _relu6_plus_3(out: str, opset: int) -> list:
    clip = (
        helper.make_node("Clip", ["a", "zero", "six"], [out])
        if opset >= 11
        else helper.make_node("Clip", ["a"], [out], min=0.0, max=6.0)
    )
    return [helper.make_node("Add", ["x", "three"], ["a"]), clip]


def _consts() -> list:
    return [init(k, np.array(v, np.float32)) for k, v in (("three", 3), ("zero", 0), ("six", 6))]


@pytest.mark.parametrize(
    ("opset", "expected"), [(10, ["HardSigmoid", "Mul"]), (11, ["HardSigmoid", "Mul"]), (14, ["HardSwish"])]
)
def test_x_times_relu6_of_x_plus_3_over_6_is_hard_swish(opset, expected):
    nodes = [
        *_relu6_plus_3("c", opset),
        helper.make_node("Mul", ["x", "c"], ["m"]),
        helper.make_node("Div", ["m", "six"], ["y"]),
    ]
    m = _model(nodes, _consts(), opset)
    g = Graph(m)
    assert fuse_hard_activations(g) == 1
    assert [n.op_type for n in g.nodes] == expected
    np.testing.assert_allclose(run(g.to_model(), X), run(m, X), atol=1e-5)


def test_relu6_of_x_plus_3_times_a_sixth_is_hard_sigmoid_then_hard_swish():
    nodes = [
        *_relu6_plus_3("c", 14),
        helper.make_node("Mul", ["c", "sixth"], ["h"]),
        helper.make_node("Mul", ["h", "x"], ["y"]),
    ]
    m = _model(nodes, [*_consts(), init("sixth", np.array(1 / 6, np.float32))], 14)
    g = Graph(m)
    assert fuse_hard_activations(g) == 2
    assert [n.op_type for n in g.nodes] == ["HardSwish"]
    np.testing.assert_allclose(run(g.to_model(), X), run(m, X), atol=1e-5)


def test_other_constants_or_shared_intermediates_stay():
    nodes = [*_relu6_plus_3("c", 14), helper.make_node("Div", ["c", "five"], ["y"])]
    m = _model(nodes, [*_consts(), init("five", np.array(5, np.float32))], 14)
    assert fuse_hard_activations(Graph(m)) == 0  # divided by 5: not hard-sigmoid
    shared = [
        *_relu6_plus_3("c", 14),
        helper.make_node("Div", ["c", "six"], ["d"]),
        helper.make_node("Add", ["d", "a"], ["y"]),
    ]
    m = _model(shared, _consts(), 14)
    assert fuse_hard_activations(Graph(m)) == 0  # x + 3 is read elsewhere too


def test_an_opset_11_export_loads_at_14_and_gets_one_hard_swish(tmp_path):
    """Loading upgrades the opset 11 model to 14, where HardSwish exists: one float op in the
    INT8 model instead of HardSigmoid, a quantized Mul and the conversions between them."""
    nodes = [
        *_relu6_plus_3("c", 11),
        helper.make_node("Mul", ["x", "c"], ["m"]),
        helper.make_node("Div", ["m", "six"], ["y"]),
    ]
    m = _model(nodes, _consts(), 11)
    onnx.save(m, tmp_path / "m.onnx")
    loaded = load_model(tmp_path / "m.onnx")
    g = Graph(loaded)
    assert g.opset() == 14
    assert fuse_hard_activations(g) == 1
    assert [n.op_type for n in g.nodes] == ["HardSwish"]
    np.testing.assert_allclose(run(g.to_model(), X), run(m, X), atol=1e-5)
