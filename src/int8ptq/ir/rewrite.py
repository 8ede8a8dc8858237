"""Graph rewrites as data: a list of (op types, rule) pairs run to a fixed point.

A rule looks at one node and returns what replaces it (a `Replacement`), or None when its
pattern does not match; it never edits the graph. The driver applies the replacement
through the graph's edit API. One round visits every node once and costs O(N) plus the
rules' own work: whether a node is still in the graph is an O(1) lookup, and each edit
updates the producer/consumer maps in time proportional to the node's edges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.ops import attr

__all__ = ["Replacement", "Rule", "attr", "edited", "rewrite", "sole_consumer"]


@dataclass(frozen=True)
class Replacement:
    """What a rule returns. Applied in this order: `constants` are added (in order), each
    (old, new) in `replace` puts `new` in `old`'s place, `remove` nodes go, and a `bypass`
    node (a pass-through) goes with its consumers reading its input instead."""

    constants: tuple[tuple[str, np.ndarray], ...] = ()
    replace: tuple[tuple[onnx.NodeProto, onnx.NodeProto], ...] = ()
    remove: tuple[onnx.NodeProto, ...] = ()
    bypass: onnx.NodeProto | None = None


RuleFn = Callable[[Graph, onnx.NodeProto], Replacement | None]
Rule = tuple[tuple[str, ...], RuleFn]


def apply(graph: Graph, r: Replacement) -> None:
    for name, value in r.constants:
        graph.add_initializer(name, value)
    for old, new in r.replace:
        graph.replace_node(old, new)
    for n in r.remove:
        graph.remove_node(n)
    if r.bypass is not None:
        graph.bypass(r.bypass)


def rewrite(graph: Graph, rules: Sequence[Rule], max_rounds: int = 100) -> int:
    """Apply `rules` until none matches. Returns how many rewrites were applied."""
    applied = 0
    for _ in range(max_rounds):
        changed = False
        for node in list(graph.nodes):
            if not graph.contains(node):
                continue  # removed by an earlier rewrite in this round
            for ops, fn in rules:
                r = fn(graph, node) if node.op_type in ops else None
                if r is not None:
                    apply(graph, r)
                    applied += 1
                    changed = True
                    break
        if not changed:
            return applied
    return applied


def edited(
    node: onnx.NodeProto,
    inputs: dict[int, str] | None = None,
    outputs: dict[int, str] | None = None,
    attrs: dict[str, object] | None = None,
) -> onnx.NodeProto:
    """A copy of `node` with some inputs, outputs and attributes changed (an attribute that
    existed is replaced and moves to the end; missing optional inputs become empty)."""
    out = onnx.NodeProto()
    out.CopyFrom(node)
    for slot, name in sorted((inputs or {}).items()):
        while len(out.input) <= slot:
            out.input.append("")
        out.input[slot] = name
    for slot, name in (outputs or {}).items():
        out.output[slot] = name
    for key, value in (attrs or {}).items():
        for k, a in enumerate(out.attribute):
            if a.name == key:
                del out.attribute[k]
                break
        out.attribute.append(onnx.helper.make_attribute(key, value))
    return out


def sole_consumer(graph: Graph, tensor: str) -> onnx.NodeProto | None:
    """The one node reading `tensor`, if it is read once and is not a graph output."""
    cons = graph.consumers(tensor)
    if len(cons) != 1 or graph.is_graph_output(tensor):
        return None
    return cons[0]
