"""Bias correction sees the final weights, the corrected bias keeps the int32 bound, and
every layer left with plain rounding or without bias correction is reported with its reason."""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from int8ptq.api import quantize
from int8ptq.cli import main
from int8ptq.config import QuantConfig
from int8ptq.pipeline import build, calibrate, prepare_model
from int8ptq.quant.qdq import WeightReport
from int8ptq.quant.qmath import BIAS_LIMIT
from tests.conftest import init, make_model


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    f = np.float32
    inits = [
        init("wg", rng.standard_normal((4, 12, 3, 3)).astype(f) * 0.1),  # 108 products: INT8 (grouped.py)
        init("bg", rng.standard_normal(4).astype(f) * 0.1),
        init("wb", rng.standard_normal((6, 4, 1, 1)).astype(f) * 0.3),
        init("bb", np.array([1e6, -1e6, 1e6, -1e6, 2e6, -2e6], f)),  # at the int32 bound
        init("wm", rng.standard_normal((6, 5)).astype(f) * 0.3),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "wg", "bg"], ["g"], pads=[1, 1, 1, 1], group=2, name="grouped"),
        helper.make_node("Relu", ["g"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "wb", "bb"], ["c"], name="big"),
        helper.make_node("GlobalAveragePool", ["c"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["fl"], name="flatten"),
        helper.make_node("MatMul", ["fl", "wm"], ["y"], name="mm"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 24, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])
    return make_model(nodes, inits, [x], [y])


def _calib():
    return [np.abs(np.random.default_rng(1).standard_normal((16, 24, 8, 8))).astype(np.float32)]


def _dq(model: onnx.ModelProto, node: str, slot: int) -> tuple[np.ndarray, np.ndarray]:
    """(quantized values, scale) feeding input `slot` of `node` through its DequantizeLinear."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    n = next(n for n in model.graph.node if n.name == node)
    dq = next(d for d in model.graph.node if d.output[0] == n.input[slot])
    return inits[dq.input[0]], inits[dq.input[1]]


def test_bias_correction_on_final_weights_within_the_int32_bound():
    cfg = QuantConfig()
    prep = prepare_model(_model())
    plan = prep.plan()
    stats = calibrate(prep, _calib(), cfg, plan)
    report = WeightReport()
    out, _ = build(prep, stats, cfg, plan, report)
    q, sw = _dq(out, "big", 1)
    qb, sb = _dq(out, "big", 2)
    assert qb.dtype == np.int32 and np.abs(qb.astype(np.int64)).max() <= BIAS_LIMIT
    assert np.abs(qb.astype(np.int64)).max() > BIAS_LIMIT // 2  # the bound was really in play
    w = prep.graph.initializers["wb"].reshape(6, -1).astype(np.float64)
    b = prep.graph.initializers["bb"].astype(np.float64)
    mean = stats.weights["big"].mean()
    final = w - q.reshape(6, -1).astype(np.float64) * sw.astype(np.float64)[:, None]
    expected = b + final @ mean  # the correction for the weights that were written
    got = qb.astype(np.float64) * sb.astype(np.float64)
    assert np.allclose(got, expected, rtol=1e-6, atol=np.abs(sb).max())
    assert report.bias_corrected == ["big"]


def test_fallbacks_are_reported_with_their_reasons(tmp_path):
    src, out, js = tmp_path / "m.onnx", tmp_path / "q.onnx", tmp_path / "q.json"
    onnx.save(_model(), src)
    calib = tmp_path / "calib.npy"
    np.save(calib, _calib()[0])
    assert main(["quantize", str(src), "-o", str(out), "--calib", str(calib), "--json", str(js)]) == 0
    r = json.loads(js.read_text())
    assert r["rounding_fallbacks"] == {"grouped convolution": ["grouped"]}
    assert r["bias_fallbacks"] == {"grouped convolution": ["grouped"], "the op has no bias input": ["mm"]}
    assert r["settings"]["bias_correction"] is True and r["settings"]["bias_corrected_layers"] == 1

    near = quantize(src, out, calib, config=QuantConfig(rounding="nearest"))
    assert near.rounding_fallbacks == {}  # nearest was asked for: nothing fell back
    assert near.settings["bias_correction"] is False  # no statistics: nothing was corrected
    assert sorted(sum(near.bias_fallbacks.values(), [])) == ["big", "grouped", "mm"]
    off = quantize(src, out, calib, config=QuantConfig(bias_correction=False))
    assert off.settings["bias_correction"] is False
    assert off.bias_fallbacks == {"disabled by the user": ["grouped", "big", "mm"]}
