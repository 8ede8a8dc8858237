"""Remove Identity, and Dropout in inference mode (its mask output unused)."""

from __future__ import annotations

import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import Rule, rewrite


def _identity(g: Graph, n: onnx.NodeProto) -> bool:
    # Identity(x) = x
    if g.is_graph_output(n.output[0]) and g.is_graph_output(n.input[0]):
        return False
    g.bypass(n)
    return True


def _dropout(g: Graph, n: onnx.NodeProto) -> bool:
    # Dropout(x) = x at inference, when nobody reads the mask
    if len(n.output) > 1 and n.output[1] and (g.consumers(n.output[1]) or g.is_graph_output(n.output[1])):
        return False
    if len(n.input) > 2 and n.input[2]:
        mode = g.const(n.input[2])
        if mode is None or bool(mode):
            return False  # training_mode on or unknown: dropout is live
    del n.input[1:]
    del n.output[1:]
    g.bypass(n)
    return True


RULES: list[Rule] = [(("Identity",), _identity), (("Dropout",), _dropout)]


def remove_identity(graph: Graph) -> int:
    return rewrite(graph, RULES)
