"""Every seed model (random weights): exports, quantizes fully, runs on onnxruntime and
OpenVINO, and stays close to FP32. Weights are random, so only structure is checked."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from int8ptq.api import load, quantize
from int8ptq.config import QuantConfig
from int8ptq.reproduce import SEED_MODELS
from int8ptq.zoo.export import export
from tests.conftest import cosine


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_quantizes_fully_and_runs_on_both_backends(name, tmp_path, imagenet):
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    export(name, fp32, random_weights=True)
    # nearest rounding and no hotspot measure keep this structural test fast (and every layer
    # INT8, which it checks); both are tested elsewhere
    cfg = QuantConfig(calib_images=8, rounding="nearest", float_hotspots=False)
    quantize(fp32, int8, imagenet / "calib.txt", config=cfg)
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(str(int8), so, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node]
    assert "Conv" not in ops and "Gemm" not in ops and "MatMul" not in ops, sorted(set(ops))
    assert "QLinearConv" in ops
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32) * 0.5
    ref = load(fp32).run(x)
    for backend in ("ort", "openvino"):
        assert cosine(load(int8, backend).run(x), ref) > 0.99, backend
