"""Grouped convolutions (quant/grouped.py): onnxruntime computes a grouped QLinearConv as one
small GEMM per group after an im2col, so a grouped k x k Conv with few products per output
stays FP32 on the onnxruntime layout; depthwise Convs (their own integer kernel), 1x1 groups
and wide groups stay INT8."""

import numpy as np
import onnx
from onnx import TensorProto

from int8ptq import api
from int8ptq.config import QuantConfig
from int8ptq.ir.graph import Graph
from int8ptq.quant.grouped import GROUPED_MIN_PRODUCTS, SLOW_GROUPED
from int8ptq.quant.placement import place
from int8ptq.quant.rules import Runtime
from int8ptq.runtime import make_runner
from tests.conftest import cosine
from tests.quant.test_islands import C, _model


def test_a_narrow_grouped_conv_stays_fp32_on_onnxruntime_even_between_int8_layers():
    g = Graph(_model("Relu", mid_group=C // 4, mid_kernel=3))  # 4 channels per group: 36 products
    assert GROUPED_MIN_PRODUCTS > 4 * 9
    plan = place(g)
    assert plan.nodes == ("pw1", "pw2")
    assert plan.slow == {"mid": SLOW_GROUPED}
    assert "mid" in place(g, runtime=Runtime.OPENVINO).nodes


def test_wide_groups_pointwise_groups_and_depthwise_convs_stay_int8():
    wide = Graph(_model("Relu", mid_group=2, mid_kernel=3))  # 32 channels per group: 288 products
    assert place(wide).nodes == ("pw1", "mid", "pw2")
    pointwise = Graph(_model("Relu", mid_group=C // 4, mid_kernel=1))  # 1x1: no im2col, 4 products
    assert place(pointwise).nodes == ("pw1", "mid", "pw2")
    depthwise = Graph(_model("Relu", mid_group=C, mid_kernel=3))
    assert place(depthwise).nodes == ("pw1", "mid", "pw2")


def test_the_grouped_layer_runs_in_float_close_to_fp32(tmp_path):
    model = _model("Relu", mid_group=C // 4, mid_kernel=3)
    x = np.random.default_rng(8).standard_normal((1, C, 12, 12)).astype(np.float32)
    out = tmp_path / "q.onnx"
    res = api.quantize(model, out, [{"x": x}], config=QuantConfig())
    q = onnx.load(str(out))
    mid = next(n for n in q.graph.node if n.name == "mid")
    assert next(t for t in q.graph.initializer if t.name == mid.input[1]).data_type == TensorProto.FLOAT
    assert res.settings["float_layers_guarded"] == 1  # it reads a DequantizeLinear: guarded
    ref = make_runner(model.SerializeToString(), "ort").run(x)
    for backend in ("ort", "openvino"):
        assert cosine(make_runner(str(out), backend).run(x), ref) > 0.995, backend
