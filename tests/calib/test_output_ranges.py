"""Output-aware activation ranges: rows sampled in the graph as in numpy, and a range chosen
by the error in the consumer's output rather than the tensor's own."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from int8ptq.algorithms import downstream_range, pointwise_weights
from int8ptq.calib.observers import HistogramObserver
from int8ptq.calib.ranges import RangeMethod, compute_range
from int8ptq.calib.samples import PixelRowReducer, RowSampleObserver
from int8ptq.config import QuantConfig
from int8ptq.ir.graph import Graph
from int8ptq.pipeline import build, calibrate, prepare_model
from int8ptq.quant.qmath import activation_qparams, dequantize, quantize
from tests.calib.test_reducers import _run_reducer
from tests.conftest import init, make_model, tiny_convnet


@pytest.mark.parametrize(
    ("shape", "last_axis"), [((16, 40, 40), False), ((3, 7, 7), False), ((12, 50), False), ((5, 9, 4), True)]
)
def test_pixel_rows_in_graph_equal_numpy(shape: tuple[int, ...], last_axis: bool) -> None:
    """Rows are along axis 1 for a 1x1 Conv's input, along the last axis for a MatMul's."""
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    red = PixelRowReducer(shape, rows=8, last_axis=last_axis)
    got = red.from_outputs(_run_reducer(red, shape, x))
    ref = red.from_array(np.maximum(x, 0))  # the model's tensor is Relu(x)
    assert got is not None
    np.testing.assert_array_equal(got, ref)
    width = shape[0] if len(shape) == 3 and not last_axis else shape[-1]
    assert ref.shape == (3 * 8, width)


def test_row_sample_memory_is_capped() -> None:
    o = RowSampleObserver(rows=4, cap=64)
    for _ in range(50):
        o.update(np.random.default_rng(0).standard_normal((10, 6, 16, 16)).astype(np.float32))
    sample = o.sample()
    assert sample is not None and sample.shape == (64, 6)


def _output_error(rows: np.ndarray, w: np.ndarray, lo: float, hi: float) -> float:
    qp = activation_qparams(lo, hi)
    return float((((dequantize(quantize(rows, qp), qp) - rows) @ w.T) ** 2).sum())


def test_a_channel_the_consumer_ignores_is_clipped_for_the_others() -> None:
    """Channel 1 is wide but its consumer weights are tiny: the tensor's own MSE keeps its
    range (coarse steps for channel 0, which matters); the consumer's error clips it."""
    rng = np.random.default_rng(0)
    rows = np.stack([rng.random(4000), rng.random(4000) ** 4 * 40.0], axis=1).astype(np.float32)
    w = np.array([[1.0, 1e-3], [0.5, -1e-3]], np.float32)
    h = HistogramObserver()
    h.update(rows.reshape(-1))
    pick = compute_range(h, RangeMethod.MSE)
    lo, hi = downstream_range(rows, [w], 0, h, pick)
    assert lo == 0.0 and hi < 0.8 * pick[1]
    assert _output_error(rows, w, lo, hi) < 0.7 * _output_error(rows, w, *pick)


def test_output_method_builds_from_one_pass_and_falls_back_to_mse_without_consumers() -> None:
    prep = prepare_model(tiny_convnet(size=32))
    plan = prep.plan()
    x = np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32)
    cfg = QuantConfig(method=RangeMethod.OUTPUT)
    stats = calibrate(prep, x, cfg, plan)
    pointwise = {t for t in plan.activations if pointwise_weights(prep.graph, t)[0]}
    assert pointwise and set(stats.samples) == pointwise
    assert all(o.sample() is not None for o in stats.samples.values())
    model, _ = build(prep, stats, cfg, plan)
    mse, _ = build(prep, stats, QuantConfig(), plan)
    scales = {i.name: i for i in model.graph.initializer}
    assert len(model.graph.node) == len(mse.graph.node) and scales


def test_a_matmul_on_a_4d_tensor_reads_rows_along_the_last_axis() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3, 5])
    w = np.arange(20, dtype=np.float32).reshape(4, 5)
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
    g = Graph(make_model(nodes, [init("w", w)], [x], [y]))
    weights, others, last = pointwise_weights(g, "r")
    assert last and others == 0 and len(weights) == 1
    np.testing.assert_array_equal(weights[0], w.T)
