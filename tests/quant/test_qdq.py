"""QDQ models from the tiny convnet: they load, fuse into integer kernels, and stay close."""

import numpy as np
import onnx
import onnxruntime as ort

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from tests.conftest import cosine, run


def _optimized_ops(path, tmp_path):
    opt = tmp_path / "opt.onnx"
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(opt)
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(str(opt)).graph.node]


def test_quantized_model_fuses_every_conv_and_gemm(convnet_path, calib_npy, tmp_path):
    out = tmp_path / "int8.onnx"
    r = quantize(convnet_path, out, calib_npy)
    assert r.quantized_nodes >= 7
    m = onnx.load(str(out))
    ops = [n.op_type for n in m.graph.node]
    assert "Relu" not in ops and "Clip" not in ops  # folded into the output ranges
    w = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(w) >= 4  # int8 weights stored as int8
    opt = _optimized_ops(out, tmp_path)
    assert "QLinearConv" in opt
    assert "Conv" not in opt and "Gemm" not in opt  # nothing left in float
    x = np.random.default_rng(5).standard_normal((4, 3, 16, 16)).astype(np.float32)
    assert cosine(run(out, x), run(convnet_path, x)) > 0.99


def test_per_tensor_and_every_method_produce_valid_models(convnet_path, calib_npy, tmp_path):
    x = np.random.default_rng(5).standard_normal((4, 3, 16, 16)).astype(np.float32)
    for i, method in enumerate(["minmax", "percentile", "mse", "kl", "auto"]):
        out = tmp_path / f"m{i}.onnx"
        quantize(convnet_path, out, calib_npy, config=QuantConfig(method=method, per_channel=i % 2 == 0))
        assert cosine(run(out, x), run(convnet_path, x)) > 0.98, method


def test_runs_on_openvino(convnet_path, calib_npy, tmp_path):
    from int8ptq.api import load

    out = tmp_path / "int8.onnx"
    quantize(convnet_path, out, calib_npy)
    x = np.random.default_rng(5).standard_normal((2, 3, 16, 16)).astype(np.float32)
    y = load(out, backend="openvino").run(x)
    assert cosine(y, run(convnet_path, x)) > 0.98


def test_identical_inputs_give_byte_identical_models(convnet_path, calib_npy, tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    quantize(convnet_path, a, calib_npy)
    quantize(convnet_path, b, calib_npy)
    assert a.read_bytes() == b.read_bytes()


def test_excluded_node_stays_float(convnet_path, calib_npy, tmp_path):
    out = tmp_path / "int8.onnx"
    quantize(convnet_path, out, calib_npy, config=QuantConfig(exclude=("pw",)))
    m = onnx.load(str(out))
    pw = next(n for n in m.graph.node if n.name == "pw")
    inits = {t.name: t for t in m.graph.initializer}
    assert pw.input[1] in inits and inits[pw.input[1]].data_type == onnx.TensorProto.FLOAT  # FP32 weight
    assert not any(n.output[0] == pw.input[1] for n in m.graph.node)  # no DequantizeLinear feeds it
    assert not any(t.name.startswith("w2_quantized") for t in m.graph.initializer)


def test_model_of_only_unsupported_ops_is_left_as_it_was(tmp_path):
    """Quantizing must never slow an op down: ops without an integer kernel get no Q/DQ at all."""
    from onnx import TensorProto, helper

    from tests.conftest import make_model

    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s"], name="sig"),
        helper.make_node("Tanh", ["s"], ["t"], name="tanh"),
        helper.make_node("Softmax", ["t"], ["y"], axis=1, name="soft"),
    ]
    m = make_model(
        nodes,
        [],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 8, 8])],
    )
    out = tmp_path / "q.onnx"
    r = quantize(m, out, [np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)])
    assert r.quantized_nodes == 0
    assert [n.op_type for n in onnx.load(str(out)).graph.node] == ["Sigmoid", "Tanh", "Softmax"]


def test_per_tensor_weights_survive_a_dead_channel(tmp_path):
    # BN folding can leave a channel with all-zero weights; its placeholder scale must not
    # become the layer's scale (that rounded every other weight to zero)
    m = onnx.load(str(_dead_channel_convnet(tmp_path)))
    out = tmp_path / "pt.onnx"
    data = np.random.default_rng(1).standard_normal((16, 3, 16, 16)).astype(np.float32)
    quantize(m, out, data, config=QuantConfig(per_channel=False, rounding="nearest", bias_correction=False))
    x = np.random.default_rng(5).standard_normal((4, 3, 16, 16)).astype(np.float32)
    assert cosine(run(out, x), run(m, x)) > 0.98


def _dead_channel_convnet(tmp_path):
    from onnx import numpy_helper

    from tests.conftest import tiny_convnet

    m = tiny_convnet()
    for t in m.graph.initializer:
        if t.name in ("wd", "w2"):
            w = numpy_helper.to_array(t).copy()
            w[3] = 0.0  # a dead output channel
            t.CopyFrom(numpy_helper.from_array(w, t.name))
    p = tmp_path / "dead.onnx"
    onnx.save(m, p)
    return p
