"""Graph: an editable view of an ONNX model with producer/consumer maps.

Nodes stay ``onnx.NodeProto`` (the format we read and write); initializers are numpy arrays
so passes can do math on them. Every edit goes through the methods here (set_input,
set_output, set_attr, add_node, remove_node, replace_uses, bypass, set_value_infos), so the
producer/consumer maps stay right; nothing outside ir/ writes a node's fields.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from int8ptq.ir.scope import outer_reads, rename_outer


def reads(node: onnx.NodeProto) -> list[str]:
    """The tensors `node` reads: its inputs, and what its subgraphs read from this graph."""
    return [*node.input, *outer_reads(node)]


def static_dims(shape: onnx.TensorShapeProto) -> list[int | None]:
    """Each dimension's size, None where dynamic: a dim_param, no value, or a value < 1 (some
    exporters, Paddle2ONNX among them, write -1 for a dynamic batch)."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in shape.dim]


class Graph:
    _nodes: list[onnx.NodeProto]
    _ids: set[int]  # id() of every node in the graph
    _gone: dict[int, onnx.NodeProto]  # removed, kept alive until the list is compacted

    def __init__(self, model: onnx.ModelProto) -> None:
        own = onnx.ModelProto()
        own.CopyFrom(model)  # edits never reach the caller's model
        self.model = own
        g = own.graph
        self.nodes = list(g.node)
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

    # ---- the node list: removal is O(1), the list is compacted when next read ----------
    @property
    def nodes(self) -> list[onnx.NodeProto]:
        """The nodes in order. Read it, or assign a new list; edit it through the methods."""
        if self._gone:
            self._nodes = [n for n in self._nodes if id(n) not in self._gone]
            self._gone = {}
        return self._nodes

    @nodes.setter
    def nodes(self, value: Iterable[onnx.NodeProto]) -> None:
        self._nodes = list(value)
        self._ids = {id(n) for n in self._nodes}
        self._gone = {}
        self._dirty = True

    def contains(self, node: onnx.NodeProto) -> bool:
        """Whether `node` (this very object) is in the graph: O(1)."""
        return id(node) in self._ids

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
            for i in reads(n):
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
        """Static shape from value_info/inputs/initializers; None dims are symbolic (or < 1:
        some exporters write -1 for a dynamic dimension)."""
        if name in self.initializers:
            return list(self.initializers[name].shape)
        for vi in itertools.chain(self._value_info.values(), self.inputs, self.outputs):
            if vi.name == name and vi.type.HasField("tensor_type"):
                tt = vi.type.tensor_type
                if not tt.HasField("shape"):
                    return None
                return static_dims(tt.shape)
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
        return name

    # ---- edits: each keeps the producer/consumer maps right, in time O(the node's edges) ----
    def _link(self, node: onnx.NodeProto) -> None:
        if self._dirty:
            return  # rebuilt in full on the next lookup
        for o in node.output:
            if o:
                self._producer[o] = node
        for i in reads(node):
            if i:
                self._consumers.setdefault(i, []).append(node)

    def _unlink(self, node: onnx.NodeProto) -> None:
        if self._dirty:
            return
        for o in node.output:
            if o and self._producer.get(o) is node:
                del self._producer[o]
        for i in reads(node):
            readers = self._consumers.get(i, [])
            for k, n in enumerate(readers):
                if n is node:
                    del readers[k]
                    break

    def _names_used(self, node: onnx.NodeProto) -> None:
        if self._taken is not None:
            self._taken.update([node.name, *node.input, *node.output])

    def add_node(
        self,
        op_type: str,
        inputs: Iterable[str],
        outputs: Iterable[str],
        name: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> onnx.NodeProto:
        """Append a new node (toposort or cleanup puts it in order)."""
        node = helper.make_node(
            op_type,
            list(inputs),
            list(outputs),
            name=name or self.fresh(op_type),
            domain=domain,
            **attrs,
        )
        self._names_used(node)
        self._nodes.append(node)
        self._ids.add(id(node))
        self._link(node)
        return node

    def remove_node(self, node: onnx.NodeProto) -> None:
        if id(node) in self._ids:
            self._unlink(node)
            self._ids.discard(id(node))
            self._gone[id(node)] = node

    def replace_node(self, old: onnx.NodeProto, new: onnx.NodeProto) -> None:
        """`new` takes `old`'s place (position and identity: `old` now holds `new`'s fields)."""
        self._unlink(old)
        old.CopyFrom(new)
        self._names_used(old)
        self._link(old)

    def set_input(self, node: onnx.NodeProto, slot: int, name: str) -> None:
        """Input `slot` of `node` reads `name` (missing optional inputs before it stay empty)."""
        self._unlink(node)
        while len(node.input) <= slot:
            node.input.append("")
        node.input[slot] = name
        self._names_used(node)
        self._link(node)

    def set_output(self, node: onnx.NodeProto, slot: int, name: str) -> None:
        self._unlink(node)
        node.output[slot] = name
        self._names_used(node)
        self._link(node)

    def set_attr(self, node: onnx.NodeProto, name: str, value: object) -> None:
        """Set an attribute of `node`; one that existed is replaced and moves to the end."""
        for k, a in enumerate(node.attribute):
            if a.name == name:
                del node.attribute[k]
                break
        node.attribute.append(helper.make_attribute(name, value))

    def rename_input(self, node: onnx.NodeProto, old: str, new: str) -> None:
        """Every input of `node` that reads `old` reads `new` instead."""
        self._unlink(node)
        for k, i in enumerate(node.input):
            if i == old:
                node.input[k] = new
        rename_outer(node, old, new)
        self._link(node)

    def replace_uses(self, old: str, new: str) -> None:
        """Every consumer (and graph output) of `old` reads `new` instead."""
        for n in self.consumers(old):
            self.rename_input(n, old, new)
        if self.is_graph_output(old):
            # keep the graph output's name stable: rename the producer's output instead
            p = self.producer(new)
            if p is not None:
                self._rename_output(p, new, old)
                for n in self.consumers(new):
                    self.rename_input(n, new, old)

    def _rename_output(self, node: onnx.NodeProto, old: str, new: str) -> None:
        self._unlink(node)
        for k, out in enumerate(node.output):
            if out == old:
                node.output[k] = new
        self._link(node)

    def bypass(self, node: onnx.NodeProto) -> None:
        """Remove a single-input pass-through node, wiring its consumers to its input."""
        src, dst = node.input[0], node.output[0]
        self.remove_node(node)
        if self.is_graph_output(dst):
            p = self.producer(src)
            if p is not None and not self.is_graph_output(src) and len(self.consumers(src)) == 0:
                self._rename_output(p, src, dst)
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
                if all(i in ready for i in reads(n)):
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
                live.update(i for i in reads(n) if i)
        self.nodes = keep[::-1]
        self.initializers = {k: v for k, v in self.initializers.items() if k in live}
        self._value_info = {k: v for k, v in self._value_info.items() if k in live}
        self._dirty = True

    def clear_value_info(self) -> None:
        self._value_info = {}

    def set_value_infos(self, infos: dict[str, onnx.ValueInfoProto]) -> None:
        """Replace every inferred type and shape (shape inference's result)."""
        self._value_info = dict(infos)

    def value_info(self, name: str) -> onnx.ValueInfoProto | None:
        """The declared type of `name`: inferred value info, or a graph input or output."""
        vi = self._value_info.get(name)
        if vi is not None:
            return vi
        return next((v for v in itertools.chain(self.inputs, self.outputs) if v.name == name), None)

    def elem_type(self, name: str) -> int | None:
        """onnx.TensorProto element type of `name`, or None where unknown."""
        if name in self.initializers:
            return helper.np_dtype_to_tensor_dtype(self.initializers[name].dtype)
        vi = self.value_info(name)
        return vi.type.tensor_type.elem_type if vi is not None else None

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
