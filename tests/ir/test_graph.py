import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from int8ptq.errors import UserError
from int8ptq.ir import Graph, load_model, save_model
from int8ptq.ir.io import TARGET_OPSET, UPGRADED_KEY, default_opset
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


def test_load_rejects_missing_and_garbage(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="not a valid ONNX model"):
        load_model(bad)


def _old_model(tmp_path, nodes, inits, opset: int):  # noqa: ANN001, ANN202
    path = tmp_path / f"old{opset}.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b", "c", "d"])
    onnx.save(make_model(nodes, inits, [x], [y], opset=opset), path)
    return path


def test_old_opset_is_upgraded_in_memory(tmp_path):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    path = _old_model(tmp_path, [helper.make_node("Upsample", ["x", "s"], ["y"])], [scales], 9)
    m = load_model(path)
    assert default_opset(m) == TARGET_OPSET == 14
    assert {p.key: p.value for p in m.metadata_props}[UPGRADED_KEY] == "9->14"
    assert "Resize" in [n.op_type for n in m.graph.node]  # Upsample was replaced, not kept
    new = load_model(_old_model(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [], 17))
    assert UPGRADED_KEY not in {p.key for p in new.metadata_props}


def test_failed_upgrade_names_the_op(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["s_in"], ["s_out"])],
        "body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [4])],
    )
    # onnx's converter cannot move a Scan with sequence lengths from opset 8 to 9
    scan = helper.make_node("Scan", ["lens", "x"], ["y"], body=body, num_scan_inputs=1)
    lens = numpy_helper.from_array(np.array([3], np.int64), "lens")
    path = _old_model(tmp_path, [scan], [lens], 8)
    with pytest.raises(UserError, match=r"cannot upgrade opset 8 to 13: op Scan"):
        load_model(path)


def test_save_is_deterministic(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    save_model(tiny_convnet(), a)
    save_model(tiny_convnet(), b)
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def _maps(g: Graph) -> tuple[dict[str, str], dict[str, list[str]]]:
    names = {t for n in g.nodes for t in [*n.input, *n.output] if t}
    prod = {t: p.name for t in names if (p := g.producer(t)) is not None}
    return prod, {t: sorted(c.name for c in g.consumers(t)) for t in names}


def test_edits_keep_the_maps_as_a_fresh_index_would() -> None:
    from int8ptq.ir.rewrite import Replacement, edited, rewrite

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    chain = [helper.make_node("Identity", [f"t{i}"], [f"t{i + 1}"], name=f"id{i}") for i in range(200)]
    nodes = [helper.make_node("Relu", ["x"], ["t0"], name="r"), *chain]
    nodes.append(helper.make_node("Neg", ["t200"], ["y"]))
    g = Graph(helper.make_model(helper.make_graph(nodes, "g", [x], [y])))
    g.producer("x")  # index built once

    def annotate(g: Graph, n: onnx.NodeProto) -> Replacement | None:
        # an attribute added: same edges (a test of replace_node)
        return Replacement(replace=((n, edited(n, attrs={"note": 1})),)) if not n.attribute else None

    applied = rewrite(g, [(("Identity",), lambda g, n: Replacement(bypass=n)), (("Neg",), annotate)])
    assert applied == 201 and [n.op_type for n in g.nodes] == ["Relu", "Neg"]
    assert not g._dirty  # every edit updated the maps in place: no rebuild per rewrite
    assert _maps(g) == _maps(Graph(g.to_model()))
    relu, neg = g.nodes
    g.set_input(neg, 0, "x")
    g.set_output(relu, 0, "r_out")
    g.set_attr(relu, "k", 2)
    assert _maps(g) == _maps(Graph(g.to_model())) and g.consumers("t0") == []
    assert g.contains(neg) and (g.remove_node(neg) or not g.contains(neg))
    assert _maps(g) == _maps(Graph(g.to_model()))


def test_value_info_lookups() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, [1, 3])
    n = helper.make_node("Relu", ["x"], ["h"])
    m = helper.make_node("Cast", ["h"], ["y"], to=TensorProto.INT64)
    g = Graph(helper.make_model(helper.make_graph([n, m], "g", [x], [y])))
    assert g.value_info("h") is None and g.elem_type("y") == TensorProto.INT64
    g.set_value_infos({"h": helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 3])})
    assert g.elem_type("h") == TensorProto.FLOAT and g.shape("h") == [1, 3]
