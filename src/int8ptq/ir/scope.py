"""Names a node reads through its subgraphs (If, Loop, Scan bodies).

A subgraph may read any tensor of the enclosing graphs by name, without listing it among the
node's inputs. Such a read is an edge like any other: the producer must come first, must not
be dropped as dead, and a rename of the tensor must reach the subgraph.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx

_SUBGRAPH_ATTRS = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def _local(g: onnx.GraphProto) -> set[str]:
    """Names a subgraph defines itself: its inputs, initializers and node outputs."""
    names = {i.name for i in g.input} | {t.name for t in g.initializer}
    names |= {t.values.name for t in g.sparse_initializer}
    return names | {o for n in g.node for o in n.output}


def _graph_reads(g: onnx.GraphProto) -> set[str]:
    """Names `g` (and the subgraphs within it) reads from outside itself."""
    local = _local(g)
    reads = {i for n in g.node for i in n.input if i} | {o.name for o in g.output}
    for n in g.node:
        for sub in subgraphs(n):
            reads |= _graph_reads(sub)
    return reads - local


def outer_reads(node: onnx.NodeProto) -> list[str]:
    """The enclosing graph's tensors that `node`'s subgraphs read (sorted; [] for most ops)."""
    if not any(a.type in _SUBGRAPH_ATTRS for a in node.attribute):
        return []
    return sorted(set().union(*(_graph_reads(g) for g in subgraphs(node))))


def rename_outer(node: onnx.NodeProto, old: str, new: str) -> None:
    """Every read of the outer tensor `old` inside `node`'s subgraphs reads `new` instead
    (a subgraph that defines `old` itself shadows it, and keeps its own)."""
    for g in subgraphs(node):
        _rename_in(g, old, new)


def _rename_in(g: onnx.GraphProto, old: str, new: str) -> None:
    if old in _local(g):
        return
    for n in g.node:
        for k, i in enumerate(n.input):
            if i == old:
                n.input[k] = new
        rename_outer(n, old, new)
    for o in g.output:
        if o.name == old:  # a branch passing the outer tensor through as its output
            o.name = new
