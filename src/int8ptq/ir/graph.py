"""Graph: an editable view of an ONNX model with producer/consumer maps.

Nodes stay ``onnx.NodeProto`` (the format we read and write); initializers are numpy arrays
so passes can do math on them. Mutate only through the methods here, so the maps stay right.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper


class Graph:
    def __init__(self, model: onnx.ModelProto) -> None:
        own = onnx.ModelProto()
        own.CopyFrom(model)  # edits never reach the caller's model
        self.model = own
        g = own.graph
        self.nodes: list[onnx.NodeProto] = list(g.node)
        self.initializers: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.inputs = [i for i in g.input if i.name not in self.initializers]
        self.outputs = list(g.output)
        self._value_info = {v.name: v for v in g.value_info}
        self._names = itertools.count()
        self._taken: set[str] | None = None  # names handed out or seen (see fresh)
        self._dirty = True
        self._producer: dict[str, onnx.NodeProto] = {}
        self._consumers: dict[str, list[onnx.NodeProto]] = {}
        self._name_nodes()

    def _name_nodes(self) -> None:
        """Give every node a unique name: plans and reports refer to nodes by name."""
        seen: set[str] = set()
        for k, n in enumerate(self.nodes):
            if not n.name or n.name in seen:
                base = n.name or f"{n.op_type}_{k}"
                name, i = base, 0
                while name in seen:
                    i += 1
                    name = f"{base}_{i}"
                n.name = name
            seen.add(n.name)

    # ---- indexes -------------------------------------------------------------------
    def _index(self) -> None:
        if not self._dirty:
            return
        self._producer, self._consumers = {}, {}
        for n in self.nodes:
            for o in n.output:
                if o:
                    self._producer[o] = n
            for i in n.input:
                if i:
                    self._consumers.setdefault(i, []).append(n)
        self._dirty = False

    def producer(self, name: str) -> onnx.NodeProto | None:
        self._index()
        return self._producer.get(name)

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        self._index()
        return list(self._consumers.get(name, []))

    def is_graph_output(self, name: str) -> bool:
        return any(o.name == name for o in self.outputs)

    def opset(self, domain: str = "") -> int:
        for o in self.model.opset_import:
            if o.domain in (domain, "ai.onnx" if domain == "" else domain):
                return o.version
        return 0

    # ---- values --------------------------------------------------------------------
    def const(self, name: str) -> np.ndarray | None:
        """The value of `name` if it is an initializer, else None."""
        return self.initializers.get(name)

    def shape(self, name: str) -> list[int | None] | None:
        """Static shape from value_info/inputs/initializers; None dims are symbolic."""
        if name in self.initializers:
            return list(self.initializers[name].shape)
        for vi in itertools.chain(self._value_info.values(), self.inputs, self.outputs):
            if vi.name == name and vi.type.HasField("tensor_type"):
                tt = vi.type.tensor_type
                if not tt.HasField("shape"):
                    return None
                return [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        return None

    def fresh(self, base: str) -> str:
        """A tensor or node name not used anywhere in the graph yet."""
        if self._taken is None:  # every name ever used: a superset stays valid after edits
            self._taken = set(self.initializers) | {v.name for v in [*self.inputs, *self.outputs]}
            for n in self.nodes:
                self._taken.update([n.name, *n.input, *n.output])
        while True:
            name = f"{base}_{next(self._names)}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    def add_initializer(self, name: str, value: np.ndarray) -> str:
        self.initializers[name] = value
        if self._taken is not None:
            self._taken.add(name)
        self._dirty = True
        return name

    # ---- edits ---------------------------------------------------------------------
    def add_node(
        self,
        op_type: str,
        inputs: Iterable[str],
        outputs: Iterable[str],
        name: str | None = None,
        domain: str = "",
        **attrs: object,
    ) -> onnx.NodeProto:
        node = helper.make_node(
            op_type,
            list(inputs),
            list(outputs),
            name=name or self.fresh(op_type),
            domain=domain,
            **attrs,
        )
        if self._taken is not None:
            self._taken.update([node.name, *node.input, *node.output])
        self.nodes.append(node)
        self._dirty = True
        return node

    def remove_node(self, node: onnx.NodeProto) -> None:
        self.nodes = [n for n in self.nodes if n is not node]
        self._dirty = True

    def replace_uses(self, old: str, new: str) -> None:
        """Every consumer (and graph output) of `old` reads `new` instead."""
        for n in self.nodes:
            for k, i in enumerate(n.input):
                if i == old:
                    n.input[k] = new
        for o in self.outputs:
            if o.name == old:
                # keep the graph output's name stable: rename the producer's output instead
                p = self.producer(new)
                if p is not None:
                    for k, out in enumerate(p.output):
                        if out == new:
                            p.output[k] = old
                    for n in self.nodes:
                        for k, i in enumerate(n.input):
                            if i == new:
                                n.input[k] = old
        self._dirty = True

    def bypass(self, node: onnx.NodeProto) -> None:
        """Remove a single-input pass-through node, wiring its consumers to its input."""
        src, dst = node.input[0], node.output[0]
        self.remove_node(node)
        if self.is_graph_output(dst):
            p = self.producer(src)
            if p is not None and not self.is_graph_output(src) and len(self.consumers(src)) == 0:
                for k, out in enumerate(p.output):
                    if out == src:
                        p.output[k] = dst
                self._dirty = True
                return
            self.add_node("Identity", [src], [dst])
            return
        self.replace_uses(dst, src)

    def toposort(self) -> None:
        """Order nodes so that every input is produced before it is read (stable)."""
        self._index()
        ready = {i.name for i in self.inputs} | set(self.initializers) | {""}
        pending, order = list(self.nodes), []
        while pending:
            rest = []
            for n in pending:
                if all(i in ready for i in n.input):
                    order.append(n)
                    ready.update(n.output)
                else:
                    rest.append(n)
            if len(rest) == len(pending):
                raise ValueError(f"graph has a cycle or a dangling input at node {rest[0].name!r}")
            pending = rest
        self.nodes = order

    def cleanup(self) -> None:
        """Drop nodes that no graph output depends on, and unused initializers."""
        self.toposort()
        live: set[str] = {o.name for o in self.outputs}
        keep: list[onnx.NodeProto] = []
        for n in reversed(self.nodes):
            if any(o in live for o in n.output):
                keep.append(n)
                live.update(i for i in n.input if i)
        self.nodes = keep[::-1]
        self.initializers = {k: v for k, v in self.initializers.items() if k in live}
        self._value_info = {k: v for k, v in self._value_info.items() if k in live}
        self._dirty = True

    def clear_value_info(self) -> None:
        self._value_info = {}

    def copy(self) -> Graph:
        """An independent graph: nodes and value infos copied, initializer arrays shared
        (passes never modify an array in place; they add new ones)."""
        g = Graph.__new__(Graph)
        g.model = onnx.ModelProto()
        g.model.CopyFrom(_header(self.model))
        g.nodes = [_copy(n) for n in self.nodes]
        g.initializers = dict(self.initializers)
        g.inputs, g.outputs = [_copy(i) for i in self.inputs], [_copy(o) for o in self.outputs]
        g._value_info = {k: _copy(v) for k, v in self._value_info.items()}
        g._names, g._dirty, g._producer, g._consumers = itertools.count(), True, {}, {}
        g._taken = None
        return g

    # ---- back to ONNX --------------------------------------------------------------
    def to_model(self) -> onnx.ModelProto:
        g = helper.make_graph(
            self.nodes,
            self.model.graph.name or "main",
            self.inputs,
            self.outputs,
            initializer=[numpy_helper.from_array(v, k) for k, v in self.initializers.items()],
            value_info=list(self._value_info.values()),
        )
        m = helper.make_model(g, opset_imports=list(self.model.opset_import))
        m.ir_version = self.model.ir_version
        m.producer_name = "int8ptq"
        for p in self.model.metadata_props:
            m.metadata_props.append(p)
        return m


def _copy(proto):  # noqa: ANN001, ANN202
    out = type(proto)()
    out.CopyFrom(proto)
    return out


def _header(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its graph: opsets, IR version, metadata."""
    m = onnx.ModelProto()
    m.ir_version = model.ir_version
    m.opset_import.extend(model.opset_import)
    m.metadata_props.extend(model.metadata_props)
    m.producer_name = model.producer_name
    m.graph.name = model.graph.name
    return m
