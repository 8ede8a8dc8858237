"""A tensor read only inside an If branch is a live edge: kept, ordered before, renamed with."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from int8ptq.api import quantize
from int8ptq.ir import Graph
from int8ptq.runtime import make_runner
from tests.conftest import init, make_model


def _branch(name: str, op: str) -> onnx.GraphProto:
    out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, ["N", 32, 8, 8])
    return helper.make_graph([helper.make_node(op, ["t"], [f"{name}_out"])], name, [], [out])


def _model() -> onnx.ModelProto:
    """x -> Conv -> Relu -> Transpose (t), read only by the two branches of an If."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Identity", ["r"], ["r2"], name="ident"),  # removed by the passes
        helper.make_node("Transpose", ["r2"], ["t"], name="tr", perm=[0, 1, 3, 2]),
        helper.make_node(
            "If",
            ["cond"],
            ["y"],
            name="if",
            then_branch=_branch("then", "Relu"),
            else_branch=_branch("else", "Exp"),
        ),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 8, 8]),
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
    ]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32, 8, 8])]
    w = init("w", rng.standard_normal((32, 32, 3, 3)).astype(np.float32) * 0.1)
    return make_model(nodes, [w], inputs, out)


def test_cleanup_and_toposort_keep_what_only_a_subgraph_reads():
    g = Graph(_model())
    g.nodes = g.nodes[::-1]  # the If first: it must be ordered after the Transpose it reads
    g.cleanup()
    assert [n.name for n in g.nodes] == ["conv", "relu", "ident", "tr", "if"]
    assert [n.name for n in g.consumers("t")] == ["if"]


def test_a_model_whose_if_branches_read_the_main_graph_quantizes_and_runs(tmp_path):
    m = _model()
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((8, 1, 32, 8, 8)).astype(np.float32)
    calib = [{"x": x, "cond": np.array(True)} for x in xs]
    r = quantize(m, tmp_path / "q.onnx", calib)
    assert r.quantized_nodes >= 1  # the Conv
    x = rng.standard_normal((1, 32, 8, 8)).astype(np.float32)
    for cond in (True, False):
        feed = {"x": x, "cond": np.array(cond)}
        ref = make_runner(m.SerializeToString(), "ort").run_all(feed)[0]
        got = make_runner(str(tmp_path / "q.onnx"), "ort").run_all(feed)[0]
        assert got.shape == ref.shape and np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.99


def test_a_model_with_every_layer_inside_an_if_body_is_not_passed_off_as_quantized(tmp_path):
    def vi(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 4, 8, 8])

    conv = helper.make_node("Conv", ["x", "w"], ["then_out"], name="conv")  # the only layer
    w = init("w", np.ones((4, 4, 1, 1), np.float32))
    then = helper.make_graph([conv], "then", [], [vi("then_out")], [w])
    other = helper.make_graph([helper.make_node("Relu", ["x"], ["else_out"])], "else", [], [vi("else_out")])
    if_node = helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then, else_branch=other)
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    m = make_model([if_node], [], [vi("x"), cond], [vi("y")])
    calib = [{"x": np.ones((1, 4, 8, 8), np.float32), "cond": np.array(True)}]
    with pytest.warns(UserWarning, match=r"nothing quantized.*\(If x1\).*inside If bodies are not quantized"):
        r = quantize(m, tmp_path / "q.onnx", calib)
    assert r.quantized_nodes == 0
