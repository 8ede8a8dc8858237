"""A layer kept in float stays float on onnxruntime: its optimizer would otherwise quantize the
weight of a Conv / ConvTranspose / Gemm that reads a DequantizeLinear, with one scale for the
whole tensor (quant/float_layers.py)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from int8ptq import api
from int8ptq.config import QuantConfig
from int8ptq.quant.float_layers import exact_int32
from int8ptq.runtime import make_runner

RNG = np.random.default_rng(5)


def test_int32_mantissas_give_every_float32_back_exactly():
    v = np.concatenate(
        [RNG.standard_normal(1000) * 10.0 ** RNG.integers(-30, 30, 1000), [0.0, -0.0, 1e-45, 3.4e38, -1.5]]
    ).astype(np.float32)
    q, scale = exact_int32(v)
    assert q.dtype == np.int32 and scale.dtype == np.float32
    assert np.array_equal(q.astype(np.float32) * scale, v)  # DequantizeLinear's arithmetic


def _model(with_bias: bool) -> onnx.ModelProto:
    """x -> Conv -> Relu -> depthwise Conv "dw" (channels of very different sizes) -> y. The first
    Conv sums 72 products per output: INT8 even with "dw" left in float (quant/islands.py)."""
    w1 = (RNG.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32)
    dw = (RNG.standard_normal((8, 1, 3, 3)) * np.logspace(-3, 1, 8)[:, None, None, None]).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(dw, "dw_w")]
    dw_in = ["r", "dw_w"]
    if with_bias:
        inits.append(numpy_helper.from_array(RNG.standard_normal(8).astype(np.float32) * 0.1, "dw_b"))
        dw_in.append("dw_b")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Conv", dw_in, ["y"], name="dw", group=8, pads=[1, 1, 1, 1]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)


X = np.random.default_rng(6).standard_normal((1, 8, 8, 8)).astype(np.float32)


def _ort(model: str | bytes, optimize: bool) -> np.ndarray:
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return s.run(None, {"x": X})[0]


def _channel_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each channel's largest error relative to its largest value."""
    return np.abs(got - ref).max(axis=(0, 2, 3)) / np.maximum(np.abs(ref).max(axis=(0, 2, 3)), 1e-9)


@pytest.mark.parametrize("with_bias", [True, False])
def test_an_excluded_conv_computes_the_same_with_onnxruntimes_optimizer_on(tmp_path, with_bias):
    model = _model(with_bias)
    calib = [{"x": RNG.standard_normal((1, 8, 8, 8)).astype(np.float32)} for _ in range(8)]
    out = tmp_path / "q.onnx"
    res = api.quantize(model, out, calib, config=QuantConfig(exclude=("dw",)))
    # with the optimizer's per-tensor int8 weight, the small channels would round to zero
    optimized, plain = _ort(str(out), True), _ort(str(out), False)
    assert np.allclose(optimized, plain, rtol=1e-4, atol=1e-6)
    fp32 = _ort(model.SerializeToString(), True)
    assert _channel_error(optimized, fp32).max() < 0.05
    assert _channel_error(make_runner(str(out), "openvino").run(X), fp32).max() < 0.05
    q = onnx.load(out)
    dw = next(n for n in q.graph.node if n.name == "dw")
    inits = {t.name: t for t in q.graph.initializer}
    assert inits[dw.input[1]].data_type == TensorProto.FLOAT  # the weight itself stays FP32
    bias_dq = next(n for n in q.graph.node if n.output[0] == dw.input[2])
    assert bias_dq.op_type == "DequantizeLinear"
    if with_bias:  # the same float values as the model's bias
        b = numpy_helper.to_array(inits[bias_dq.input[0]]) * numpy_helper.to_array(inits[bias_dq.input[1]])
        assert np.array_equal(b.astype(np.float32), numpy_helper.to_array(model.graph.initializer[2]))
    assert res.quantized_nodes == 1 and res.settings["float_layers_guarded"] == 1
