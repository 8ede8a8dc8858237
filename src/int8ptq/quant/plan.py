"""The quantization plan: which nodes run in INT8, which tensors get Q/DQ, which activations
fold away, and which tensors must share one scale. Pure analysis: the graph is not changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import attr, sole_consumer
from int8ptq.quant.rules import ALL, CURVES, FUSABLE_ACTIVATIONS, HARD_SIGMOID_CURVES, RULES, OpRule, Runtime

FLOAT_TYPES = {onnx.TensorProto.FLOAT}


@dataclass(frozen=True)
class QuantPlan:
    nodes: tuple[str, ...]  # node names quantized, in graph order
    activations: tuple[str, ...]  # tensors that get QuantizeLinear -> DequantizeLinear
    fused: tuple[str, ...]  # Relu/Clip node names folded into their producer's range
    groups: tuple[tuple[str, ...], ...]  # tensors that must share one scale
    skipped: dict[str, str] = field(default_factory=dict)  # node name -> why it stays float
    curves: dict[str, str] = field(default_factory=dict)  # tensor -> function all readers apply
    slow: dict[str, str] = field(default_factory=dict)  # node -> why it runs faster in FP32 (placement.py)


def planned_inputs(node: onnx.NodeProto, rule: OpRule) -> list[str]:
    """The tensors `node` reads as activations under `rule`."""
    if ALL in rule.activations:
        return list(node.input)
    return [node.input[s] for s in rule.activations if s < len(node.input) and node.input[s]]


def _is_float(g: Graph, name: str) -> bool:
    if name in g.initializers:
        return g.initializers[name].dtype == np.float32
    vi = g.value_info(name)
    return vi is not None and vi.type.tensor_type.elem_type in FLOAT_TYPES  # unknown: do not touch


def fusable_activation(g: Graph, node: onnx.NodeProto) -> onnx.NodeProto | None:
    """The Relu or Clip(min=0) that alone reads `node`'s output, if any."""
    nxt = sole_consumer(g, node.output[0])
    if nxt is None or nxt.op_type not in FUSABLE_ACTIVATIONS:
        return None
    if nxt.op_type == "Relu":
        return nxt
    lo = g.const(nxt.input[1]) if len(nxt.input) > 1 and nxt.input[1] else attr(nxt, "min", None)
    hi_name = nxt.input[2] if len(nxt.input) > 2 else ""
    if lo is None or float(np.asarray(lo)) != 0.0 or (hi_name and g.const(hi_name) is None):
        return None
    return nxt


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def build_plan(
    g: Graph,
    exclude: frozenset[str] = frozenset(),
    runtime: Runtime = Runtime.ONNXRUNTIME,
    keep_float: Mapping[str, str] | None = None,
) -> QuantPlan:
    """Decide placement on a prepared graph (topologically sorted, shapes inferred).
    `keep_float`: node -> why it stays FP32 (a speed rule's verdict, quant/placement.py)."""
    quantized: set[str] = set()  # tensors that will carry uint8 values
    nodes: list[str] = []
    skipped: dict[str, str] = {}
    outputs: dict[str, str] = {}  # quantized node -> the tensor it writes (after a fused act)
    fused_by: dict[str, str] = {}  # fused activation -> the node whose range absorbs it
    shares: list[tuple[str, str]] = []  # (input, output) of a node that keeps its input's scale
    movers: set[str] = set()  # quantized nodes that only move data (rule.shares_scale)
    for n in g.nodes:
        rule = RULES.get(n.op_type)
        if rule is None or n.domain not in ("", "ai.onnx") or (rule.applies and not rule.applies(n)):
            continue
        if n.name in exclude or n.op_type in exclude:
            skipped[n.name] = "excluded by the user"
            continue
        if keep_float and n.name in keep_float:
            skipped[n.name] = keep_float[n.name]
            continue
        if runtime not in rule.runtimes:
            skipped[n.name] = f"no integer kernel on {runtime.value}"
            continue
        if rule.weight is not None and (len(n.input) <= rule.weight or g.const(n.input[rule.weight]) is None):
            skipped[n.name] = "weight is not a constant"
            continue
        acts = planned_inputs(n, rule)
        if not acts or not all(_is_float(g, a) for a in acts) or any(g.const(a) is not None for a in acts):
            skipped[n.name] = "inputs are not float activations"
            continue
        if rule.shares_scale and not all(a in quantized for a in acts):
            continue  # moving float data around: nothing to gain
        nodes.append(n.name)
        quantized.update(acts)
        out = n.output[0]
        act = fusable_activation(g, n) if rule.fuses_activation else None
        if act is not None and g.is_graph_output(act.output[0]):
            act = None  # a float graph output: the activation must stay
        if act is not None:
            fused_by[act.name] = n.name
            out = act.output[0]
        if not g.is_graph_output(out):
            quantized.add(out)
            outputs[n.name] = out
        if rule.shares_scale:
            shares.extend((a, out) for a in acts)
            movers.add(n.name)
    unread = _read_only_as_float(g, nodes, outputs)
    if runtime is Runtime.ONNXRUNTIME:
        unread = _float_output_chains(g, nodes, outputs, movers, unread)
    if unread:
        quantized -= unread
        nodes = [n for n in nodes if n not in movers or outputs.get(n) in quantized]
        fused_by = {f: by for f, by in fused_by.items() if outputs[by] in quantized}
        shares = [(a, o) for a, o in shares if a in quantized and o in quantized]
    uf = _UnionFind()
    for a, o in shares:
        uf.union(a, o)
    groups: dict[str, list[str]] = {}
    for t in quantized:
        groups.setdefault(uf.find(t), []).append(t)
    order = {name: i for i, name in enumerate(_tensor_order(g))}
    acts_sorted = sorted(quantized, key=lambda t: order.get(t, -1))
    shared = tuple(sorted(tuple(sorted(v)) for v in groups.values() if len(v) > 1))
    curves = {t: c for t in acts_sorted if (c := reader_curve(g, t)) is not None}
    slow = {n: why for n, why in (keep_float or {}).items() if skipped.get(n) == why}
    return QuantPlan(tuple(nodes), tuple(acts_sorted), tuple(fused_by), shared, skipped, curves, slow)


def _read_only_as_float(g: Graph, nodes: list[str], outputs: dict[str, str]) -> set[str]:
    """Quantized outputs that no quantized node reads (directly, or through data-moving nodes
    whose own outputs are read): only float ops read them. Walks the nodes last to first."""
    planned = set(nodes)
    unread: set[str] = set()
    for name in reversed(nodes):
        out = outputs.get(name)
        if out is None:
            continue
        readers = [r for r in g.consumers(out) if r.name in planned]
        needed = any(
            not RULES[r.op_type].shares_scale or (r.name in outputs and outputs[r.name] not in unread)
            for r in readers
        )
        if not needed:
            unread.add(out)
    return unread


def _float_output_chains(
    g: Graph, nodes: list[str], outputs: dict[str, str], movers: set[str], unread: set[str]
) -> set[str]:
    """Of the outputs only float ops read, those onnxruntime can leave float: a node's with a
    float-output kernel (rules.OpRule.float_output), and the data movers' carrying one on."""
    by_name = {n.name: n for n in g.nodes}
    keep = {outputs[n] for n in nodes if n in outputs and RULES[by_name[n].op_type].float_output} & unread
    for n in nodes:  # in graph order: a mover after the node it reads
        if n in movers and outputs.get(n) in unread and any(i in keep for i in by_name[n].input):
            keep.add(outputs[n])
    return keep


def _curve_of(node: onnx.NodeProto) -> str | None:
    """The curve `node` applies (rules.CURVES, rules.HARD_SIGMOID_CURVES)."""
    if node.op_type == "HardSigmoid":
        alpha, beta = float(attr(node, "alpha", 0.2)), float(attr(node, "beta", 0.5))
        known = [c for a, c in HARD_SIGMOID_CURVES.items() if abs(alpha - a) < 1e-4]
        return known[0] if known and abs(beta - 0.5) < 1e-6 else None
    return CURVES.get(node.op_type)


def reader_curve(g: Graph, tensor: str) -> str | None:
    """The elementwise function every reader of `tensor` applies first (rules.CURVES), or
    "SiLU" for x * Sigmoid(x); None when a reader uses the values as they are."""
    readers = g.consumers(tensor)
    if not readers or g.is_graph_output(tensor):
        return None
    kinds = {_curve_of(n) for n in readers}
    if len(kinds) == 1 and None not in kinds:
        return kinds.pop()
    sig = [n for n in readers if n.op_type == "Sigmoid"]
    if len(sig) != 1 or g.is_graph_output(sig[0].output[0]):
        return None
    gate = sig[0].output[0]
    muls = [n for n in readers if n is not sig[0]]
    silu = all(n.op_type == "Mul" and sorted(n.input) == sorted([tensor, gate]) for n in muls)
    if not muls or not silu or len(g.consumers(gate)) != len(muls):
        return None
    return "SiLU"


def _tensor_order(g: Graph) -> list[str]:
    names = [i.name for i in g.inputs]
    for n in g.nodes:
        names.extend(n.output)
    return names
