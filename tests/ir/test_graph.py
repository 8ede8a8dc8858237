import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from int8ptq.errors import UserError
from int8ptq.ir import Graph, load_model, save_model
from tests.conftest import make_model, run, tiny_convnet


def test_producers_consumers_and_roundtrip():
    g = Graph(tiny_convnet())
    assert g.producer("r1").name == "relu1"
    assert {n.name for n in g.consumers("r1")} == {"dw", "add"}
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(run(g.to_model(), x), run(tiny_convnet(), x))


def test_toposort_restores_order_and_cleanup_drops_dead_nodes():
    g = Graph(tiny_convnet())
    g.nodes.reverse()
    g.add_node("Relu", ["c1"], ["dead"])
    g.toposort()
    names = [n.name for n in g.nodes]
    assert names.index("conv1") < names.index("dw") < names.index("fc")
    g.cleanup()
    assert all(n.output[0] != "dead" for n in g.nodes)


def test_toposort_reports_cycles():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    m = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Add", ["x", "b"], ["a"]),
                helper.make_node("Relu", ["a"], ["b"]),
                helper.make_node("Relu", ["a"], ["y"]),
            ],
            "cyc",
            [x],
            [y],
        )
    )
    with pytest.raises(ValueError, match="cycle"):
        Graph(m).toposort()


def test_unnamed_nodes_get_unique_names():
    m = tiny_convnet()
    for n in m.graph.node:
        n.name = ""
    names = [n.name for n in Graph(m).nodes]
    assert len(set(names)) == len(names) and all(names)


def test_load_rejects_missing_garbage_and_old_opset(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="not a valid ONNX model"):
        load_model(bad)
    old = tmp_path / "old.onnx"
    onnx.save(
        make_model(
            [helper.make_node("Relu", ["x"], ["y"])],
            [],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            opset=11,
        ),
        old,
    )
    with pytest.raises(UserError, match="opset 11"):
        load_model(old)


def test_save_is_deterministic(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    save_model(tiny_convnet(), a)
    save_model(tiny_convnet(), b)
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))
