"""In-graph reducers give the numpy reducers' numbers, and patches are the convolution's."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from int8ptq.algorithms import weight_observers
from int8ptq.calib.collect import _reducing_model
from int8ptq.calib.observers import HistogramObserver
from int8ptq.calib.reducers import Moments, PatchGeometry, PatchReducer, RangeReducer
from int8ptq.ir import add_outputs
from int8ptq.ir.graph import Graph
from int8ptq.pipeline import prepare_model
from tests.conftest import init, make_model, tiny_convnet


def _identity_model(shape: tuple[int, ...], opset: int = 17) -> Graph:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *shape])
    return Graph(make_model([helper.make_node("Relu", ["x"], ["y"])], [], [x], [y], opset))


def _run_reducer(reducer, shape: tuple[int, ...], x: np.ndarray, opset: int = 17) -> list[np.ndarray]:  # noqa: ANN001
    g = _identity_model(shape, opset)
    outs = reducer.add_nodes(g, "y")
    model = g.to_model()
    add_outputs(model, outs)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x}), strict=True))
    return [got[o] for o in outs]


@pytest.mark.parametrize("shape", [(16, 40, 40), (3, 7, 7), (12, 50), (5, 9, 9, 4)])
@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("opset", [17, 18])
def test_range_reducer_in_graph_equals_numpy(shape: tuple[int, ...], exact: bool, opset: int) -> None:
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    red = RangeReducer(shape, samples=256, exact=exact)
    graph = red.from_outputs(_run_reducer(red, shape, x, opset))
    ref = red.from_array(np.maximum(x, 0))  # the model's tensor is Relu(x)
    assert graph is not None
    assert (graph.lo, graph.hi, graph.count, graph.nonfinite) == (ref.lo, ref.hi, ref.count, 0)
    np.testing.assert_array_equal(graph.sample, ref.sample)
    assert 0 < ref.sample.size <= 3 * 4 * 256 or ref.sample.size == x.size  # bounded per image
    if exact:
        assert ref.hi == np.maximum(x, 0).max()


def test_range_reducer_sends_nonfinite_batches_to_numpy_which_counts_them() -> None:
    x = np.abs(np.random.default_rng(1).standard_normal((2, 4, 8, 8))).astype(np.float32)
    x[0, 0, 0, 0], x[1, 2, 4, 4] = np.inf, np.nan  # both on the sample grid
    red = RangeReducer((4, 8, 8), samples=64)
    assert red.from_outputs(_run_reducer(red, (4, 8, 8), x)) is None
    stat = red.from_array(x)
    assert stat.nonfinite == 2 and np.isfinite([stat.lo, stat.hi]).all() and np.isfinite(stat.sample).all()


def _conv_outputs(x: np.ndarray, w: np.ndarray, geo: PatchGeometry) -> np.ndarray:
    node = helper.make_node(
        "Conv",
        ["x", "w"],
        ["y"],
        pads=list(geo.pads[:2]) + list(geo.pads[2:]),
        strides=list(geo.strides),
        dilations=list(geo.dilations),
        group=x.shape[1] if geo.depthwise else 1,
    )
    xi = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))
    out_channels = x.shape[1] if geo.depthwise else len(w)
    yi = helper.make_tensor_value_info("y", TensorProto.FLOAT, [x.shape[0], out_channels, "H", "W"])
    m = make_model([node], [init("w", w)], [xi], [yi])
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )[0]


GEOMETRIES = [
    PatchGeometry((1, 1), (1, 1), (0, 0, 0, 0), (1, 1), False),  # pointwise: the strided grid
    PatchGeometry((1, 1), (2, 2), (0, 0, 0, 0), (1, 1), False),
    PatchGeometry((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),
    PatchGeometry((3, 3), (1, 1), (0, 1, 2, 1), (2, 2), False),  # asymmetric pads, dilation
    PatchGeometry((5, 5), (1, 1), (2, 2, 2, 2), (1, 1), True),
    PatchGeometry((3, 3), (2, 2), (0, 0, 1, 1), (1, 1), True),  # TF-SAME style pads
]


@pytest.mark.parametrize("geo", GEOMETRIES)
def test_patches_reproduce_the_convolution_at_their_positions(geo: PatchGeometry) -> None:
    rng = np.random.default_rng(2)
    c, h, w = 6, 13, 11
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    wshape = (c, 1, *geo.kernel) if geo.depthwise else (4, c, *geo.kernel)
    wt = rng.standard_normal(wshape).astype(np.float32)
    red = PatchReducer((c, h, w), geo, rows=20)
    y = _conv_outputs(x, wt, geo)
    ys, xs = red.output_positions()
    assert len(ys) > 0 and (ys < y.shape[2]).all() and (xs < y.shape[3]).all()
    rows = red.patches(x)
    if geo.depthwise:  # C, images*positions, k*k
        got = np.einsum("cmk,ck->cm", rows, wt.reshape(c, -1))
        want = y[:, :, ys, xs].transpose(1, 0, 2).reshape(c, -1)
    else:  # images*positions, C*k*k
        got = rows @ wt.reshape(len(wt), -1).T
        want = y[:, :, ys, xs].transpose(0, 2, 1).reshape(-1, len(wt))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("geo", GEOMETRIES)
def test_patch_moments_in_graph_equal_numpy(geo: PatchGeometry) -> None:
    x = np.random.default_rng(3).standard_normal((3, 6, 13, 11)).astype(np.float32)
    red = PatchReducer((6, 13, 11), geo, rows=20)
    graph = red.from_outputs(_run_reducer(red, (6, 13, 11), x))
    ref = Moments.of(red.patches(np.maximum(x, 0)))
    assert graph is not None and graph.rows == ref.rows
    np.testing.assert_allclose(graph.gram, ref.gram, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(graph.sum, ref.sum, rtol=1e-4, atol=1e-3)


def test_calibration_model_outputs_only_small_statistics() -> None:
    prep = prepare_model(tiny_convnet(size=64))
    plan = prep.plan()
    requests: dict = {t: (t, HistogramObserver(samples=64)) for t in plan.activations}
    requests.update({f"w:{n}": v for n, v in weight_observers(prep.graph, plan).items()})
    model, taps = _reducing_model(prep.graph, requests)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"x": np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)})
    biggest_activation = 4 * 8 * 64 * 64
    assert sum(o.size for o in outs) < biggest_activation  # far less than any activation map
    # every activation map is reduced in the graph; rank-2 Gemm inputs come back whole, and
    # the input batch is reduced in numpy where it already is
    numpy_side = {t.tensor for t in taps if t.reducer is None}
    assert numpy_side == {"x"} | {t.tensor for t in taps if len(prep.graph.shape(t.tensor)) == 2}


@pytest.mark.parametrize("depthwise", [False, True])
def test_a_1d_convolution_gets_its_patches_and_compensating_rounding(depthwise: bool, tmp_path) -> None:
    from int8ptq.api import quantize
    from int8ptq.calib.covariance import observer_or_reason
    from int8ptq.runtime import make_runner
    from tests.conftest import cosine

    rng = np.random.default_rng(6)
    c, length = 16, 40  # 16 x 5 products per output: not an island (quant/islands.py)
    w = rng.standard_normal((c, 1, 5) if depthwise else (16, c, 5)).astype(np.float32) * 0.3
    node = helper.make_node(
        "Conv",
        ["x", "w"],
        ["y"],
        name="conv1d",
        pads=[2, 1],
        strides=[2],
        dilations=[1],
        group=c if depthwise else 1,
    )
    obs = observer_or_reason(node, w.shape)
    assert not isinstance(obs, str), obs
    x = rng.standard_normal((2, c, length)).astype(np.float32)
    red = obs.reducer((c, length))
    m = make_model(
        [node],
        [init("w", w)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, length])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", len(w), "L"])],
    )
    y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    _, xs = red.output_positions()
    rows = red.patches(x)  # the patches reproduce the convolution at their positions
    if depthwise:
        got, want = (
            np.einsum("cmk,ck->cm", rows, w.reshape(c, -1)),
            y[:, :, xs].transpose(1, 0, 2).reshape(c, -1),
        )
    else:
        got, want = rows @ w.reshape(len(w), -1).T, y[:, :, xs].transpose(0, 2, 1).reshape(-1, len(w))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    if depthwise:
        return  # alone, a depthwise Conv is an island: FP32 (the patches above are its statistics)
    calib = [rng.standard_normal((4, c, length)).astype(np.float32) for _ in range(4)]
    r = quantize(m, tmp_path / "q.onnx", calib)
    assert r.quantized_nodes == 1 and r.rounding_fallbacks == {}  # was "unsupported op (Conv)"
    assert cosine(make_runner(m.SerializeToString()).run(x), make_runner(tmp_path / "q.onnx").run(x)) > 0.995
