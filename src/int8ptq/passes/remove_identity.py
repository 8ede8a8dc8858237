"""Remove Identity, and Dropout in inference mode (its mask output unused)."""

from __future__ import annotations

import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import Replacement, Rule, rewrite


def _identity(g: Graph, n: onnx.NodeProto) -> Replacement | None:
    # Identity(x) = x
    if g.is_graph_output(n.output[0]) and g.is_graph_output(n.input[0]):
        return None
    return Replacement(bypass=n)


def _dropout(g: Graph, n: onnx.NodeProto) -> Replacement | None:
    # Dropout(x) = x at inference, when nobody reads the mask
    if len(n.output) > 1 and n.output[1] and (g.consumers(n.output[1]) or g.is_graph_output(n.output[1])):
        return None
    if len(n.input) > 2 and n.input[2]:
        mode = g.const(n.input[2])
        if mode is None or bool(mode):
            return None  # training_mode on or unknown: dropout is live
    return Replacement(bypass=n)


RULES: list[Rule] = [(("Identity",), _identity), (("Dropout",), _dropout)]


def remove_identity(graph: Graph) -> int:
    return rewrite(graph, RULES)
