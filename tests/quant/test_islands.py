"""INT8 islands (quant/islands.py): an op doing little arithmetic per output, between float
neighbours, stays FP32 on the onnxruntime layout; dense layers and ops next to other INT8 ops
stay INT8, and OpenVINO's layout keeps every island."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from int8ptq import api
from int8ptq.config import QuantConfig
from int8ptq.ir.graph import Graph
from int8ptq.quant.islands import ISLAND, ISLAND_MIN_PRODUCTS, find_islands
from int8ptq.quant.placement import place
from int8ptq.quant.plan import build_plan
from int8ptq.quant.rules import Runtime
from int8ptq.runtime import make_runner
from tests.conftest import cosine

C = 64


def _model(act: str, mid_group: int, mid_kernel: int, skip: bool = False) -> onnx.ModelProto:
    """x -> Conv "pw1" -> act -> Conv "mid" -> act -> Conv "pw2" -> y, 64 channels of 12 x 12;
    `skip`: pw2 reads Add(the first act's output, the second's) instead."""
    rng = np.random.default_rng(4)

    def w(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name
        )

    pad = mid_kernel // 2
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="pw1"),
        helper.make_node(act, ["a"], ["a_act"], name="act1"),
        helper.make_node(
            "Conv",
            ["a_act", "wm"],
            ["m"],
            name="mid",
            group=mid_group,
            kernel_shape=[mid_kernel] * 2,
            pads=[pad] * 4,
        ),
        helper.make_node(act, ["m"], ["m_act"], name="act2"),
        helper.make_node("Conv", ["s" if skip else "m_act", "w2"], ["y"], name="pw2"),
    ]
    if skip:
        nodes.insert(-1, helper.make_node("Add", ["a_act", "m_act"], ["s"], name="add"))
    inits = [
        w("w1", (C, C, 1, 1)),
        w("wm", (C, C // mid_group, mid_kernel, mid_kernel)),
        w("w2", (C, C, 1, 1)),
    ]
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, C, 12, 12])  # noqa: E731
    g = helper.make_graph(nodes, "g", [vi("x")], [vi("y")], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(m)


def test_a_depthwise_conv_between_float_activations_stays_fp32_on_onnxruntime():
    g = Graph(_model("HardSwish", mid_group=C, mid_kernel=3))
    assert "mid" in build_plan(g).nodes  # placement alone quantizes it
    plan = place(g)
    assert plan.nodes == ("pw1", "pw2")
    assert plan.skipped["mid"] == ISLAND and plan.slow == {"mid": ISLAND}
    assert "a_act" not in plan.activations and "m" not in plan.activations


def test_dense_islands_and_ops_next_to_int8_ops_stay_int8():
    dense = Graph(_model("HardSwish", mid_group=1, mid_kernel=3))  # 64 * 9 products per output
    assert C * 9 >= ISLAND_MIN_PRODUCTS and "mid" in place(dense).nodes
    relu = Graph(_model("Relu", mid_group=C, mid_kernel=3))  # Relu folds: its neighbours are INT8
    assert find_islands(relu, build_plan(relu)) == {}
    assert place(relu).nodes == ("pw1", "mid", "pw2")


def test_openvino_layout_keeps_the_island():
    g = Graph(_model("HardSwish", mid_group=C, mid_kernel=3))
    assert "mid" in place(g, runtime=Runtime.OPENVINO).nodes


def test_an_op_whose_input_another_int8_op_reads_is_not_an_island():
    g = Graph(_model("HardSwish", mid_group=C, mid_kernel=3, skip=True))
    plan = place(g)
    assert "add" in plan.nodes  # pw2, an INT8 Conv, reads the sum
    assert "mid" in plan.nodes  # the Add quantizes mid's input anyway: no conversion of its own


@pytest.mark.parametrize("backend", ["ort", "openvino"])
def test_the_quantized_model_runs_the_island_in_float_and_stays_close_to_fp32(tmp_path, backend):
    model = _model("HardSwish", mid_group=C, mid_kernel=3)
    x = np.random.default_rng(7).standard_normal((1, C, 12, 12)).astype(np.float32)
    out = tmp_path / "q.onnx"
    res = api.quantize(model, out, [{"x": x}], config=QuantConfig())
    q = onnx.load(str(out))
    mid = next(n for n in q.graph.node if n.name == "mid")
    weight = next(t for t in q.graph.initializer if t.name == mid.input[1])
    assert weight.data_type == TensorProto.FLOAT  # its weight is not quantized
    assert res.float_nodes["Conv"] == 1 and res.speed_fallbacks == {ISLAND: ["mid"]}
    ref = make_runner(model.SerializeToString(), "ort").run(x)
    assert cosine(make_runner(str(out), backend).run(x), ref) > 0.995


def test_a_users_exclusion_is_reported_as_theirs_not_as_a_speed_rule():
    g = Graph(_model("HardSwish", mid_group=C, mid_kernel=3))
    plan = place(g, exclude=frozenset({"mid"}))
    assert plan.skipped["mid"] == "excluded by the user" and plan.slow == {}


def test_the_summary_and_json_say_which_layers_stay_fp32_for_speed(tmp_path, capsys):
    import json

    from int8ptq.cli import main

    src, calib, js = tmp_path / "m.onnx", tmp_path / "x.npy", tmp_path / "q.json"
    onnx.save(_model("HardSwish", mid_group=C, mid_kernel=3), src)
    np.save(calib, np.random.default_rng(9).standard_normal((2, C, 12, 12)).astype(np.float32))
    args = ["quantize", str(src), "-o", str(tmp_path / "q.onnx"), "--calib", str(calib), "--json", str(js)]
    assert main(args) == 0
    assert "FP32 for speed" in capsys.readouterr().out
    assert json.loads(js.read_text())["speed_fallbacks"] == {ISLAND: ["mid"]}
