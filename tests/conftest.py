"""Shared fixtures: tiny models built in the tests, and the shared ImageNet subset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

os.environ.setdefault("INT8PTQ_QUIET", "1")

# README: INT8PTQ_IMAGENET points the tests at another copy of the 1300-image subset
SHARED = Path(
    os.environ.get("INT8PTQ_IMAGENET")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-val-1300"
)


@pytest.fixture(scope="session")
def imagenet() -> Path:
    """The shared 1300-image subset. Missing data is a failure, never a skip."""
    if not (SHARED / "val.txt").is_file():
        pytest.fail(
            f"shared ImageNet subset missing at {SHARED}: the e2e tests need it (set INT8PTQ_IMAGENET)"
        )
    return SHARED


def init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def make_model(nodes, inits, inputs, outputs, opset: int = 17) -> onnx.ModelProto:  # noqa: ANN001
    g = helper.make_graph(nodes, "test", inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def tiny_convnet(seed: int = 0, batch: int | str = "N", size: int = 16) -> onnx.ModelProto:
    """Conv-BN-Relu -> depthwise Conv-Clip6 -> Conv -> residual Add -> MaxPool -> GAP -> Gemm."""
    rng = np.random.default_rng(seed)
    f = np.float32
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])
    inits = [
        init("w1", rng.standard_normal((8, 3, 3, 3)).astype(f) * 0.3),
        init("b1", rng.standard_normal(8).astype(f) * 0.1),
        init("g", (rng.random(8) + 0.5).astype(f)),
        init("be", rng.standard_normal(8).astype(f) * 0.1),
        init("mu", rng.standard_normal(8).astype(f) * 0.1),
        init("var", (rng.random(8) + 0.5).astype(f)),
        init("wd", rng.standard_normal((8, 1, 3, 3)).astype(f) * 0.3),
        init("lo", np.array(0, f)),
        init("hi", np.array(6, f)),
        init("w2", rng.standard_normal((8, 8, 1, 1)).astype(f) * 0.3),
        init("wf", rng.standard_normal((10, 8)).astype(f) * 0.3),
        init("bf", rng.standard_normal(10).astype(f)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn1"], name="bn1"),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "wd"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dw"),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="clip6"),
        helper.make_node("Conv", ["r2", "w2"], ["c3"], name="pw"),
        helper.make_node("Add", ["c3", "r1"], ["a"], name="add"),
        helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("GlobalAveragePool", ["p"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["y"], transB=1, name="fc"),
    ]
    return make_model(nodes, inits, [x], [y])


def run(model: onnx.ModelProto | str | Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    s = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


@pytest.fixture
def convnet_path(tmp_path: Path) -> Path:
    p = tmp_path / "convnet.onnx"
    onnx.save(tiny_convnet(), p)
    return p


@pytest.fixture
def calib_npy(tmp_path: Path) -> Path:
    p = tmp_path / "calib.npy"
    np.save(p, np.random.default_rng(1).standard_normal((32, 3, 16, 16)).astype(np.float32))
    return p


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session")
def lite0_pair(tmp_path_factory, imagenet) -> tuple[Path, Path]:
    """EfficientNet-Lite0 with its real weights, FP32 and INT8 (defaults, calib.txt)."""
    from int8ptq.api import quantize
    from int8ptq.zoo.export import export

    d = tmp_path_factory.mktemp("lite0_pair")
    fp32, int8 = d / "fp32.onnx", d / "int8.onnx"
    export("efficientnet_lite0", fp32)
    quantize(fp32, int8, imagenet / "calib.txt")
    return fp32, int8


def hotspot_model() -> onnx.ModelProto:
    """A hotspot (tests/test_hotspots.py): x -> a (1x1, 1->2) -> t -> b (1x1, 2->16) -> Relu
    -> c (3x3) -> d (3x3) -> y. Channel 1 of t is a thousandth of channel 0, so t's step
    rounds it away, and b amplifies it."""
    rng = np.random.default_rng(0)
    f = np.float32
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 24, 24])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32, 24, 24])
    wb = np.zeros((16, 2, 1, 1), f)
    wb[:, 0], wb[:, 1] = 1e-4, rng.standard_normal((16, 1, 1)) * 1000
    inits = [
        init("wa", np.array([1.0, 1e-3], f).reshape(2, 1, 1, 1)),
        init("wb", wb),
        init("wc", rng.standard_normal((32, 16, 3, 3)).astype(f) * 0.1),
        init("wd", rng.standard_normal((32, 32, 3, 3)).astype(f) * 0.1),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["t"], name="a"),
        helper.make_node("Conv", ["t", "wb"], ["u"], name="b"),
        helper.make_node("Relu", ["u"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "wc"], ["v"], name="c", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["v", "wd"], ["y"], name="d", pads=[1, 1, 1, 1]),
    ]
    return make_model(nodes, inits, [x], [y])
