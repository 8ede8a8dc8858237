"""int8ptq.compare, the exported API function: per-tensor error of INT8 against FP32."""

import numpy as np
import onnx
from onnx import numpy_helper

import int8ptq
from int8ptq.api import CompareResult


def test_compare_is_exported_and_finds_a_broken_layer(convnet_path, calib_npy, tmp_path):
    int8 = tmp_path / "int8.onnx"
    int8ptq.quantize(convnet_path, int8, calib_npy)
    r = int8ptq.compare(convnet_path, int8, calib_npy, limit=8)
    assert isinstance(r, CompareResult) and r.images == 8
    assert r.tensors and [t.sqnr_db for t in r.tensors] == sorted(t.sqnr_db for t in r.tensors)
    assert min(t.sqnr_db for t in r.tensors) > 15  # a healthy model: every tensor close to FP32

    m = onnx.load(str(int8))  # flip the sign of the pointwise conv's int8 weights
    for t in m.graph.initializer:
        if t.name.startswith("w2") and t.data_type == onnx.TensorProto.INT8:
            t.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(t), t.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(m, broken)
    worst = int8ptq.compare(convnet_path, broken, calib_npy, limit=8).tensors[0]
    assert worst.sqnr_db < 3 and worst.producer in ("Conv", "Add")
    assert np.isfinite(worst.cosine) and worst.cosine < 0.9


def test_a_tensor_read_through_hardswish_is_compared_as_its_readers_see_it(tmp_path):
    """Its range leaves HardSwish's flat side (below -3) out on purpose: the clipped values
    are errors before HardSwish and none after it. (3x3 Convs over 8 channels: 72 products per
    output, enough to stay INT8 between float neighbours, quant/islands.py.)"""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(2)
    w = numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) * 0.3).astype(np.float32), "w")
    b = numpy_helper.from_array(np.full(8, -6.0, np.float32), "b")  # most of it far below -3
    w2 = numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) * 0.1).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c"], ["h"], name="hswish"),
        helper.make_node("Conv", ["h", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])
    g = helper.make_graph(nodes, "g", [x], [y], [w, b, w2])
    fp32 = tmp_path / "fp32.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), fp32)
    data = tmp_path / "x.npz"
    np.savez(data, x=(rng.standard_normal((16, 8, 8, 8)) * 2).astype(np.float32))
    int8 = tmp_path / "int8.onnx"
    int8ptq.quantize(fp32, int8, data)
    rows = {t.tensor: t for t in int8ptq.compare(fp32, int8, data, limit=16).tensors}
    c = rows["c"]
    assert c.read_through == "HardSwish" and c.source == "Conv -> HardSwish"
    assert c.sqnr_db > 25  # before HardSwish, the clipped side alone would cost it most of its signal
    assert rows["h"].read_through is None


def test_per_tensor_sums_match_float64_over_batches_and_a_changing_channel_count():
    from int8ptq.eval.compare import _Acc

    rng = np.random.default_rng(0)
    acc, refs, gots = _Acc(), [], []
    for shape in [(2, 8, 40, 40), (3, 8, 40, 40)]:
        ref = (3 + rng.standard_normal(shape)).astype(np.float32)  # an offset: the hard case for sums
        got = ref + 0.01 * rng.standard_normal(shape).astype(np.float32)
        acc.update(ref, got)
        refs.append(ref.astype(np.float64).ravel())
        gots.append(got.astype(np.float64).ravel())
    r, g = np.concatenate(refs), np.concatenate(gots)
    sqnr = 10 * np.log10((r @ r) / ((r - g) @ (r - g)))
    assert abs(acc.sums.sqnr_db() - sqnr) < 1e-4
    assert abs(acc.sums.cosine() - (r @ g) / np.sqrt((r @ r) * (g @ g))) < 1e-7  # 1 - cosine is 5e-6
    assert acc.sums.max_err == np.abs(r - g).max()
    assert acc.ch_signal is not None and len(acc.ch_signal) == 8
    acc.update(np.ones((1, 4, 3), np.float32), np.ones((1, 4, 3), np.float32))  # axis 1 is dynamic
    assert acc.ch_varies and acc.ch_signal is None and np.isfinite(acc.channel_db())
