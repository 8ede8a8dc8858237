"""Ranges chosen for the error after the function every reader applies (SiLU, Sigmoid)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from int8ptq.calib.observers import HistogramObserver
from int8ptq.calib.ranges import Curve, RangeMethod, compute_range
from int8ptq.ir.graph import Graph
from int8ptq.quant.plan import build_plan
from int8ptq.quant.qmath import activation_qparams, dequantize, quantize


def _graph(extra_reader: bool) -> Graph:
    """Conv -> SiLU (Mul(x, Sigmoid(x))) -> Conv, and Conv -> Sigmoid -> Conv; with
    `extra_reader` the first Conv's output is also added to something as it is."""
    w = numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c1"], name="conv1"),
        helper.make_node("Sigmoid", ["c1"], ["s1"], name="sig1"),
        helper.make_node("Mul", ["c1", "s1"], ["a1"], name="silu1"),
        helper.make_node("Conv", ["a1", "w"], ["c2"], name="conv2"),
        helper.make_node("Sigmoid", ["c2"], ["s2"], name="sig2"),
        helper.make_node("Conv", ["s2", "w"], ["y"], name="conv3"),
    ]
    if extra_reader:
        nodes[-1] = helper.make_node("Conv", ["s2", "w"], ["y0"], name="conv3")
        nodes.append(helper.make_node("Add", ["y0", "c1"], ["y"], name="add"))
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 8, 8])  # noqa: E731
    g = helper.make_graph(nodes, "g", [vi("x")], [vi("y")], [w])
    m = onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    return Graph(m)


def test_plan_names_the_function_every_reader_applies():
    plan = build_plan(_graph(extra_reader=False))
    assert plan.curves == {"c1": "SiLU", "c2": "Sigmoid"}


def test_a_reader_that_uses_the_values_as_they_are_keeps_the_plain_error():
    plan = build_plan(_graph(extra_reader=True))
    assert "c1" not in plan.curves and plan.curves.get("c2") == "Sigmoid"


def _after(curve: Curve, x: np.ndarray, lo_hi: tuple[float, float]) -> float:
    qp = activation_qparams(*lo_hi)
    return float(np.mean((curve.apply(dequantize(quantize(x, qp), qp)) - curve.apply(x)) ** 2))


def test_silu_range_spends_levels_where_silu_is_not_flat():
    # a convolution's output before SiLU: a long negative tail SiLU flattens to ~0, and
    # rare large positive values (the features that fire) that it passes through
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2.0, 4.0, 400_000), rng.exponential(6.0, 2_000)]).astype(np.float32)
    o = HistogramObserver()
    o.update(x.reshape(1, 1, 1, -1))
    plain = compute_range(o, RangeMethod.MSE)
    silu = compute_range(o, RangeMethod.MSE, curve=Curve.SILU)
    assert silu[0] > plain[0]  # less of the flat negative side
    assert _after(Curve.SILU, x, silu) < 0.8 * _after(Curve.SILU, x, plain)
    assert _after(Curve.IDENTITY, x, plain) <= _after(Curve.IDENTITY, x, silu)  # each wins its own error


def test_curve_slopes_match_their_functions():
    x = np.linspace(-8, 8, 101)
    for c in Curve:
        num = (c.apply(x + 1e-4) - c.apply(x - 1e-4)) / 2e-4
        assert np.allclose(c.slope(x), num, atol=1e-5), c


def test_hard_curves_stop_at_their_flat_sides():
    # before HardSwish everything below -3 becomes 0; before HardSigmoid(0.2) below -2.5 becomes
    # 0 and above 2.5 becomes 1: ranges wider than that only spend levels on nothing
    rng = np.random.default_rng(1)
    x = rng.normal(-1.0, 5.0, 400_000).astype(np.float32)
    o = HistogramObserver()
    o.update(x.reshape(1, 1, 1, -1))
    plain = compute_range(o, RangeMethod.MSE)
    swish = compute_range(o, RangeMethod.MSE, curve=Curve.HARD_SWISH)
    gate = compute_range(o, RangeMethod.MSE, curve=Curve.HARD_SIGMOID_ONNX)
    assert plain[0] < -6 and -3.7 < swish[0] < -2.5
    assert -3.2 < gate[0] < -2.0 and 2.0 < gate[1] < 3.2
    for curve, r in ((Curve.HARD_SWISH, swish), (Curve.HARD_SIGMOID_ONNX, gate)):
        assert _after(curve, x, r) < 0.5 * _after(curve, x, plain)


def test_hard_sigmoid_counts_with_the_alphas_it_knows():
    w = numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 8, 8])  # noqa: E731
    plans = {}
    for alpha in (0.2, 1 / 6, 0.3):
        nodes = [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node("HardSigmoid", ["c"], ["h"], name="gate", alpha=alpha),
            helper.make_node("Conv", ["h", "w"], ["y"], name="conv2"),
        ]
        g = helper.make_graph(nodes, "g", [vi("x")], [vi("y")], [w])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        plans[alpha] = build_plan(Graph(onnx.shape_inference.infer_shapes(m))).curves
    assert plans[0.2] == {"c": "HardSigmoid(0.2)"} and plans[1 / 6] == {"c": "HardSigmoid"}
    assert plans[0.3] == {}
