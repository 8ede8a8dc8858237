"""Placement for a runtime: onnxruntime needs every quantized Conv's output quantized (its
QLinearConv), OpenVINO fuses a float activation into an INT8 Conv whose output stays float."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from int8ptq import api
from int8ptq.config import QuantConfig
from int8ptq.ir.graph import Graph
from int8ptq.quant.plan import build_plan
from int8ptq.quant.rules import Runtime
from int8ptq.runtime import make_runner
from tests.conftest import cosine

RNG = np.random.default_rng(3)


def _model(middle: list[str]) -> onnx.ModelProto:
    """x -> Conv -> <middle ops, one input each> -> Conv -> y, 8 channels of 8 x 8; 3x3 Convs
    (72 products per output: INT8 even between float ops, quant/islands.py)."""
    w1 = numpy_helper.from_array((RNG.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((RNG.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32), "w2")
    shape = numpy_helper.from_array(np.array([1, 8, 8, 8], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["t0"], name="conv1", pads=[1, 1, 1, 1])]
    for i, op in enumerate(middle):
        ins = [f"t{i}", "shape"] if op == "Reshape" else [f"t{i}"]
        nodes.append(helper.make_node(op, ins, [f"t{i + 1}"], name=f"{op.lower()}{i}"))
    nodes.append(helper.make_node("Conv", [f"t{len(middle)}", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1]))
    vi = lambda n, c: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c, 8, 8])  # noqa: E731
    g = helper.make_graph(nodes, "g", [vi("x", 8)], [vi("y", 8)], [w1, w2, shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(m)


def test_onnxruntime_quantizes_a_conv_output_that_only_a_float_op_reads():
    plan = build_plan(Graph(_model(["HardSwish"])))
    assert plan.nodes == ("conv1", "conv2")
    assert plan.activations == ("x", "t0", "t1")


def test_openvino_leaves_it_float_and_keeps_the_conv_int8():
    plan = build_plan(Graph(_model(["HardSwish"])), runtime=Runtime.OPENVINO)
    assert plan.nodes == ("conv1", "conv2")  # both Convs still read quantized inputs
    assert plan.activations == ("x", "t1")


def test_openvino_drops_data_moving_nodes_that_only_feed_float_ops():
    plan = build_plan(Graph(_model(["Reshape", "HardSwish"])), runtime=Runtime.OPENVINO)
    assert plan.nodes == ("conv1", "conv2")
    assert plan.activations == ("x", "t2")
    assert plan.groups == ()
    ort_plan = build_plan(Graph(_model(["Reshape", "HardSwish"])))
    assert ort_plan.nodes == ("conv1", "reshape0", "conv2")
    assert ort_plan.groups == (("t0", "t1"),)


def test_openvino_still_folds_a_relu_whose_output_a_conv_reads():
    plan = build_plan(Graph(_model(["Relu"])), runtime=Runtime.OPENVINO)
    assert plan.fused == ("relu0",)
    assert plan.activations == ("x", "t1")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_either_layout_runs_on_both_runtimes_close_to_fp32(tmp_path, runtime):
    model = _model(["HardSwish"])
    calib = [{"x": RNG.standard_normal((1, 8, 8, 8)).astype(np.float32)} for _ in range(16)]
    out = tmp_path / "q.onnx"
    res = api.quantize(model, out, calib, config=QuantConfig(runtime=runtime))
    assert res.settings["runtime"] == runtime
    q = onnx.load(out)
    conv1_out_quantized = any(n.op_type == "QuantizeLinear" and n.input[0] == "t0" for n in q.graph.node)
    assert conv1_out_quantized == (runtime == "onnxruntime")
    x = RNG.standard_normal((1, 8, 8, 8)).astype(np.float32)
    ref = make_runner(model.SerializeToString(), "ort").run(x)
    for backend in ("ort", "openvino"):
        got = make_runner(str(out), backend).run(x)
        assert cosine(got, ref) > 0.999, backend


def _deconv_model(group: int = 1) -> onnx.ModelProto:
    """x -> Conv -> Relu -> ConvTranspose (2x2, stride 2) -> Sigmoid -> y."""
    w1 = numpy_helper.from_array((RNG.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w1")
    wt = (RNG.standard_normal((8, 6 // group, 2, 2)) * 0.3).astype(np.float32)
    wt[0, 0, 0, 0], wt[1, 0, 0, 0] = 2.0, -2.0  # a pair of input channels the AVX2 guard must split
    b = numpy_helper.from_array(RNG.standard_normal(6).astype(np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("ConvTranspose", ["r", "wt", "b"], ["d"], name="up", strides=[2, 2], group=group),
        helper.make_node("Sigmoid", ["d"], ["y"], name="sig"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 16, 16])
    g = helper.make_graph(nodes, "g", [x], [y], [w1, numpy_helper.from_array(wt, "wt"), b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(m)


def test_conv_transpose_is_int8_for_openvino_only():
    ort_plan = build_plan(Graph(_deconv_model()))
    assert "up" not in ort_plan.nodes and ort_plan.skipped["up"] == "no integer kernel on onnxruntime"
    ov_plan = build_plan(Graph(_deconv_model()), runtime=Runtime.OPENVINO)
    assert "up" in ov_plan.nodes and "d" not in ov_plan.activations  # only the Sigmoid reads it
    grouped = build_plan(Graph(_deconv_model(group=2)), runtime=Runtime.OPENVINO)
    assert "up" not in grouped.nodes


def test_openvino_conv_transpose_runs_on_both_runtimes_and_keeps_the_pair_bound(tmp_path):
    model = _deconv_model()
    calib = [{"x": RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(16)]
    out = tmp_path / "q.onnx"
    api.quantize(model, out, calib, config=QuantConfig(runtime="openvino"))
    q = onnx.load(out)
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    up = next(m for m in q.graph.node if m.op_type == "ConvTranspose")
    dq = next(n for n in q.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == up.input[1])
    assert [a.i for a in dq.attribute if a.name == "axis"] == [1]  # one scale per output channel
    w = inits[dq.input[0]].astype(np.int32)  # (C_in, C_out, kh, kw), int8
    assert w.shape == (8, 6, 2, 2)
    a, b = w[0::2], w[1::2]  # adjacent input channels, same tap and output
    same_sign = np.maximum(np.maximum(a, 0) + np.maximum(b, 0), np.maximum(-a, 0) + np.maximum(-b, 0))
    assert same_sign.max() <= 128 and np.abs(w).max() > 64  # opposite signs cannot saturate
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    ref = make_runner(model.SerializeToString(), "ort").run(x)
    for backend in ("ort", "openvino"):
        assert cosine(make_runner(str(out), backend).run(x), ref) > 0.999, backend


@pytest.mark.parametrize(("mode", "planned"), [("nearest", True), ("linear", False)])
def test_nearest_resize_keeps_its_input_scale_and_linear_stays_float(mode, planned):
    w = numpy_helper.from_array((RNG.standard_normal((8, 8, 1, 1)) * 0.3).astype(np.float32), "w")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Resize", ["c", "", "scales"], ["r"], name="up", mode=mode),
        helper.make_node("Conv", ["r", "w"], ["y"], name="conv2"),
    ]
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8, s, s])  # noqa: E731
    g = helper.make_graph(nodes, "g", [vi("x", 8)], [vi("y", 16)], [w, scales])
    m = onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    plan = build_plan(Graph(m))
    assert ("up" in plan.nodes) == planned
    assert (("c", "r") in plan.groups) == planned  # one scale: the uint8 values are copied
