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
