"""Every preparation pass leaves the model's outputs unchanged (checked with onnxruntime)."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from int8ptq.ir import Graph
from int8ptq.passes import fold_bn, fold_constants, fold_pad, prepare, remove_identity
from tests.conftest import init, make_model, run, tiny_convnet

X = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)


def _same(before: onnx.ModelProto, g: Graph, x: np.ndarray = X, atol: float = 1e-5) -> None:
    after = g.to_model()
    onnx.checker.check_model(after)
    np.testing.assert_allclose(run(after, x), run(before, x), atol=atol, rtol=1e-5)


def test_fold_bn_into_conv():
    m = tiny_convnet()
    g = Graph(m)
    assert fold_bn(g) == 1
    assert "BatchNormalization" not in [n.op_type for n in g.nodes]
    _same(m, g)


def test_fold_bn_into_gemm():
    rng = np.random.default_rng(3)
    f = np.float32
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("BatchNormalization", ["g", "s", "t", "m", "v"], ["y"], epsilon=1e-3),
    ]
    inits = [
        init("w", rng.standard_normal((4, 6)).astype(f)),
        init("b", rng.standard_normal(4).astype(f)),
        init("s", rng.random(4).astype(f) + 0.5),
        init("t", rng.standard_normal(4).astype(f)),
        init("m", rng.standard_normal(4).astype(f)),
        init("v", rng.random(4).astype(f) + 0.5),
    ]
    m = make_model(
        nodes,
        inits,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    g = Graph(m)
    assert fold_bn(g) == 1
    _same(m, g, rng.standard_normal((5, 6)).astype(f))


def test_remove_identity_and_dropout():
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Dropout", ["a"], ["b"]),
        helper.make_node("Relu", ["b"], ["c"]),
        helper.make_node("Identity", ["c"], ["y"]),
    ]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("x", "y")]
    m = make_model(nodes, [], vi[:1], vi[1:])
    g = Graph(m)
    remove_identity(g)
    g.cleanup()
    assert [n.op_type for n in g.nodes] == ["Relu"]
    assert g.outputs[0].name == "y"
    _same(m, g, np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32))


def test_fold_constants_evaluates_constant_subgraphs():
    nodes = [
        helper.make_node(
            "Constant", [], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [3], [1, 2, 3])
        ),
        helper.make_node("Mul", ["c", "c"], ["c2"]),
        helper.make_node("Add", ["x", "c2"], ["y"]),
    ]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("x", "y")]
    m = make_model(nodes, [], vi[:1], vi[1:])
    g = Graph(m)
    assert fold_constants(g) >= 2
    assert [n.op_type for n in g.nodes] == ["Add"]
    _same(m, g, np.ones((2, 3), np.float32))


class _SamePad(torch.nn.Module):
    """TF-style SAME padding computed from the input size, as EfficientNet ports do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        ph = max((-(-ih // 2) - 1) * 2 + 3 - ih, 0)
        pw = max((-(-iw // 2) - 1) * 2 + 3 - iw, 0)
        x = torch.nn.functional.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return self.bn(self.conv(x))


@pytest.mark.filterwarnings("ignore")
def test_prepare_folds_torch_same_padding_with_dynamic_batch(tmp_path):
    model = _SamePad().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    path = tmp_path / "same.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 16, 16),),
        str(path),
        opset_version=17,
        input_names=["x"],
        dynamic_axes={"x": {0: "N"}},
        dynamo=False,
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.EVAL,
    )
    m = onnx.load(str(path))
    ops = {n.op_type for n in m.graph.node}
    assert {"Shape", "Pad", "BatchNormalization"} <= ops  # the exporter's chain is really there
    g = Graph(m)
    prepare(g)
    assert [n.op_type for n in g.nodes] == ["Conv"]
    _same(m, g, X)  # batch 3 though exported at batch 1: the batch stays dynamic


def test_fold_pad_into_conv():
    f = np.float32
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
        helper.make_node("Conv", ["p", "w"], ["y"]),
    ]
    inits = [
        init("pads", np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64)),
        init("w", np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(f)),
    ]
    m = make_model(
        nodes,
        inits,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2, 17, 15])],
    )
    g = Graph(m)
    assert fold_pad(g) == 1
    assert [n.op_type for n in g.nodes] == ["Conv"]
    _same(m, g)
