"""Graph rewrites as data: a list of (op types, rule) pairs run to a fixed point.

A rule looks at one node; if its pattern matches, it edits the graph and returns True.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import onnx

from int8ptq.ir.graph import Graph

RuleFn = Callable[[Graph, onnx.NodeProto], bool]
Rule = tuple[tuple[str, ...], RuleFn]


def rewrite(graph: Graph, rules: Sequence[Rule], max_rounds: int = 100) -> int:
    """Apply `rules` until none matches. Returns how many rewrites were applied."""
    applied = 0
    for _ in range(max_rounds):
        changed = False
        for node in list(graph.nodes):
            if not any(n is node for n in graph.nodes):
                continue  # removed by an earlier rewrite in this round
            for ops, fn in rules:
                if node.op_type in ops and fn(graph, node):
                    applied += 1
                    changed = True
                    break
        if not changed:
            return applied
    return applied


def attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    """An attribute's Python value, or `default`."""
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def set_attr(node: onnx.NodeProto, name: str, value: object) -> None:
    for k, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[k]
            break
    node.attribute.append(onnx.helper.make_attribute(name, value))


def sole_consumer(graph: Graph, tensor: str) -> onnx.NodeProto | None:
    """The one node reading `tensor`, if it is read once and is not a graph output."""
    cons = graph.consumers(tensor)
    if len(cons) != 1 or graph.is_graph_output(tensor):
        return None
    return cons[0]
