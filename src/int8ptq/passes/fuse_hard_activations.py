"""Fuse exporters' spelled-out hard activations into the one ONNX op that computes them.

Older exports (Paddle at opset 11, torch before HardSwish existed) write hard-sigmoid as
Clip(x + 3, 0, 6) / 6 and hard-swish as x * Clip(x + 3, 0, 6) / 6: four elementwise ops, and
in an INT8 model four float ops between a dequantize and a quantize. One op does the same.
"""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import Replacement, Rule, attr, rewrite, sole_consumer

HARD_SWISH_OPSET = 14


def _scalar(g: Graph, name: str) -> float | None:
    v = g.const(name)
    return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None


def _only_read_by(g: Graph, tensor: str, node: onnx.NodeProto) -> bool:
    return sole_consumer(g, tensor) is node


def _divided_by_six(g: Graph, node: onnx.NodeProto) -> str | None:
    """The tensor t of `t / 6` or `t * (1/6)`."""
    if node.op_type == "Div" and _scalar(g, node.input[1]) == 6.0:
        return node.input[0]
    if node.op_type == "Mul":
        for a, b in ((0, 1), (1, 0)):
            k = _scalar(g, node.input[b])
            if k is not None and np.isclose(k, 1 / 6, rtol=1e-6):
                return node.input[a]
    return None


def _relu6_of_x_plus_3(g: Graph, tensor: str) -> tuple[str, list[onnx.NodeProto]] | None:
    """x and the (Add, Clip) nodes when `tensor` = Clip(x + 3, 0, 6), each read once."""
    clip = g.producer(tensor)
    if clip is None or clip.op_type != "Clip":
        return None
    lo = _scalar(g, clip.input[1]) if len(clip.input) > 1 and clip.input[1] else attr(clip, "min", None)
    hi = _scalar(g, clip.input[2]) if len(clip.input) > 2 and clip.input[2] else attr(clip, "max", None)
    add = g.producer(clip.input[0])
    if lo != 0.0 or hi != 6.0 or add is None or add.op_type != "Add":
        return None
    if not _only_read_by(g, add.output[0], clip):
        return None
    for a, b in ((0, 1), (1, 0)):
        if _scalar(g, add.input[b]) == 3.0 and g.const(add.input[a]) is None:
            return add.input[a], [add, clip]
    return None


def _node(op: str, inputs: list[str], output: str, name: str, **attrs: float) -> onnx.NodeProto:
    node = onnx.helper.make_node(op, inputs, [output], name=name)
    node.attribute.extend(onnx.helper.make_attribute(k, v) for k, v in attrs.items())
    return node


def _hard_sigmoid(g: Graph, root: onnx.NodeProto) -> Replacement | None:
    # Clip(x + 3, 0, 6) / 6 = HardSigmoid(x, alpha=1/6, beta=1/2)
    t = _divided_by_six(g, root)
    found = _relu6_of_x_plus_3(g, t) if t is not None else None
    if found is None or not _only_read_by(g, found[1][1].output[0], root):
        return None
    x, parts = found
    new = _node("HardSigmoid", [x], root.output[0], root.name, alpha=1 / 6, beta=0.5)
    return Replacement(replace=((root, new),), remove=tuple(parts))


def _hard_swish(g: Graph, root: onnx.NodeProto) -> Replacement | None:
    # x * Clip(x + 3, 0, 6) / 6 = HardSwish(x) = x * HardSigmoid(x, 1/6, 1/2)
    t = _divided_by_six(g, root)
    mul = g.producer(t) if t is not None else None
    if mul is None or mul.op_type != "Mul" or not _only_read_by(g, mul.output[0], root):
        return None
    for a, b in ((0, 1), (1, 0)):
        found = _relu6_of_x_plus_3(g, mul.input[b])
        if found is not None and found[0] == mul.input[a] and _only_read_by(g, mul.input[b], mul):
            x, parts = found
            if g.opset() >= HARD_SWISH_OPSET:
                new = _node("HardSwish", [x], root.output[0], root.name)
                return Replacement(replace=((root, new),), remove=(mul, *parts))
            gate = g.fresh(f"{root.name or 'hard_swish'}_gate")
            hs = _node("HardSigmoid", [x], gate, mul.name, alpha=1 / 6, beta=0.5)
            product = _node("Mul", [x, gate], root.output[0], root.name)
            return Replacement(replace=((mul, hs), (root, product)), remove=tuple(parts))
    return None


def _swish_of_hard_sigmoid(g: Graph, mul: onnx.NodeProto) -> Replacement | None:
    # x * HardSigmoid(x, 1/6, 1/2) = HardSwish(x)
    if g.opset() < HARD_SWISH_OPSET or mul.input[0] == mul.input[1]:
        return None
    for a, b in ((0, 1), (1, 0)):
        hs = g.producer(mul.input[b])
        if hs is None or hs.op_type != "HardSigmoid" or hs.input[0] != mul.input[a]:
            continue
        standard = np.isclose(attr(hs, "alpha", 0.2), 1 / 6) and np.isclose(attr(hs, "beta", 0.5), 0.5)
        if standard and _only_read_by(g, hs.output[0], mul):
            new = _node("HardSwish", [mul.input[a]], mul.output[0], mul.name)
            return Replacement(replace=((mul, new),), remove=(hs,))
    return None


RULES: list[Rule] = [
    (("Div", "Mul"), _hard_swish),
    (("Div", "Mul"), _hard_sigmoid),
    (("Mul",), _swish_of_hard_sigmoid),
]


def fuse_hard_activations(graph: Graph) -> int:
    return rewrite(graph, RULES)
