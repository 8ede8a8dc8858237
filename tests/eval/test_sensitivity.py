"""The sensitivity ranking blames the layer that adds the error, not a later layer that
amplifies the error it receives (a difference of two nearly equal channels)."""

import dataclasses

import numpy as np
import onnx
from onnx import TensorProto, helper

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from int8ptq.eval.compare import compare
from int8ptq.eval.sensitivity import rank
from int8ptq.pipeline import prepare_model
from tests.conftest import init, make_model


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    f = np.float32
    wa = rng.standard_normal((8, 4, 1, 1)).astype(f)
    wa[1::2] = wa[0::2] + 0.05 * rng.standard_normal((4, 4, 1, 1)).astype(f)  # near-twin channels
    wa[0] *= 20  # one outlier channel: the per-tensor activation scale of A's output suffers
    wb = np.zeros((4, 8, 1, 1), f)
    for i in range(4):  # B outputs the small difference of each twin pair (0 is rescaled back)
        wb[i, 2 * i] = 1 / 20 if i == 0 else 1
        wb[i, 2 * i + 1] = -1
    wc = np.eye(4, dtype=f).reshape(4, 4, 1, 1)
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], name="A"),
        helper.make_node("Conv", ["a", "wb"], ["b"], name="B"),
        helper.make_node("Conv", ["b", "wc"], ["y"], name="C"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])
    return make_model(nodes, [init("wa", wa), init("wb", wb), init("wc", wc)], [x], [y])


def test_the_layer_that_adds_the_error_ranks_first(tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "q.onnx"
    onnx.save(_model(), src)
    data = [np.random.default_rng(1).standard_normal((32, 4, 8, 8)).astype(np.float32)]
    quantize(src, out, data)
    prep = prepare_model(onnx.load(str(src)))
    cmp = compare(src, out, data, limit=32, isolated=True)
    by_tensor = {t.tensor: t for t in cmp.tensors}
    assert by_tensor["b"].channel_sqnr_db < by_tensor["a"].channel_sqnr_db  # B amplifies A's noise
    assert by_tensor["b"].added_sqnr_db > by_tensor["a"].added_sqnr_db  # but adds little itself
    assert rank(prep.graph, prep.plan(), cmp)[0].layer == "A"
    old = [dataclasses.replace(t, added_sqnr_db=None) for t in cmp.tensors]
    carried_only = dataclasses.replace(cmp, tensors=old)
    assert rank(prep.graph, prep.plan(), carried_only)[0].layer == "B"  # subtracting NSRs blamed B


def _two_branches() -> onnx.ModelProto:
    """y = P(A(x)) + Q(B(x)). A's output has an outlier channel, so its step rounds the other
    channels away (a poor SQNR), but P reads those channels with weights of 1e-4: the output
    hardly sees it. B's output is rounded finely, and Q passes it on at full weight."""
    rng = np.random.default_rng(0)
    f = np.float32
    wa = rng.standard_normal((4, 4, 1, 1)).astype(f)
    wa[0] *= 1000
    wp = np.full((4, 4, 1, 1), 1e-4, f)
    wp[:, 0] = 0.0
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], name="A"),
        helper.make_node("Conv", ["a", "wp"], ["pa"], name="P"),
        helper.make_node("Conv", ["x", "wb"], ["b"], name="B"),
        helper.make_node("Conv", ["b", "wq"], ["qb"], name="Q"),
        helper.make_node("Add", ["pa", "qb"], ["y"], name="add"),
    ]
    inits = [init("wa", wa), init("wp", wp)]
    inits += [init(w, rng.standard_normal((4, 4, 1, 1)).astype(f)) for w in ("wb", "wq")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])
    return make_model(nodes, inits, [x], [y])


def test_measured_shares_of_the_output_error_rank_before_the_error_a_layer_adds(tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "q.onnx"
    onnx.save(_two_branches(), src)
    data = [np.random.default_rng(1).standard_normal((32, 4, 8, 8)).astype(np.float32)]
    quantize(src, out, data, config=QuantConfig(float_hotspots=False))  # every tensor INT8
    prep = prepare_model(onnx.load(str(src)))
    own = compare(src, out, data, limit=32, isolated=True)
    by_own = [s.tensor for s in rank(prep.graph, prep.plan(), own)]
    assert by_own.index("a") < by_own.index("b")  # a adds far more error of its own
    cmp = compare(src, out, data, limit=32, isolated=True, attributed=True)
    by_share = rank(prep.graph, prep.plan(), cmp)
    assert [s.tensor for s in by_share].index("b") < [s.tensor for s in by_share].index("a")
    assert by_share[0].error_share is not None and by_share[0].error_share > 0.05
    noisy = {"a": -0.5, "b": 0.01}  # a negative share and one under MIN_SHARE: measurement noise
    rows = [dataclasses.replace(t, error_share=noisy.get(t.tensor, 0.0)) for t in cmp.tensors]
    by_noise = [s.tensor for s in rank(prep.graph, prep.plan(), dataclasses.replace(cmp, tensors=rows))]
    assert by_noise.index("a") < by_noise.index("b")  # back to the error each layer adds
