"""Write the QDQ model: QuantizeLinear/DequantizeLinear around every planned tensor,
int8 per-channel weights, int32 biases, folded Relu/Clip. onnxruntime fuses each
DQ -> op -> Q unit into its integer kernel; OpenVINO reads the same graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.quant.plan import QuantPlan
from int8ptq.quant.qmath import (
    BIAS_LIMIT,
    QParams,
    activation_qparams,
    quantize,
    quantize_bias,
    weight_qparams,
)
from int8ptq.quant.rules import RULES


class WeightGuard(Protocol):
    """Keeps weights inside what the target CPU's kernels compute exactly (saturation.py)."""

    def qmax(self, node: onnx.NodeProto, w: np.ndarray, axis: int) -> np.ndarray: ...

    def enforce(self, node: onnx.NodeProto, q: np.ndarray, axis: int) -> np.ndarray: ...


# Weight rounding: (node name, weight as (out channels, K), scale, qmax) -> (int8 (O, K) or
# None for plain round-to-nearest, bias change per output channel or None).
Rounder = Callable[[str, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]


def group_ranges(
    plan: QuantPlan, ranges: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Tensors that share a scale get the union of their ranges."""
    out = {t: ranges[t] for t in plan.activations}
    for group in plan.groups:
        lo = min(ranges[t][0] for t in group)
        hi = max(ranges[t][1] for t in group)
        for t in group:
            out[t] = (lo, hi)
    return out


def _scalar(g: Graph, base: str, value: np.ndarray) -> str:
    return g.add_initializer(g.fresh(base), np.asarray(value))


def _fold_activations(g: Graph, plan: QuantPlan) -> None:
    fused = set(plan.fused)
    for act in [n for n in g.nodes if n.name in fused]:
        producer = g.producer(act.input[0])
        assert producer is not None
        producer.output[0] = act.output[0]
        g.remove_node(act)


def _quantize_weight(
    g: Graph,
    node: onnx.NodeProto,
    slot: int,
    axis: int,
    opts: _WeightOptions,
    input_scale: float | None,
    bias: np.ndarray | None,
) -> tuple[QParams, np.ndarray | None]:
    """int8 weights behind a per-channel DequantizeLinear; returns qparams and a bias change."""
    w = g.initializers[node.input[slot]].astype(np.float32)
    qmax = opts.guard.qmax(node, w, axis) if opts.guard is not None else np.full(w.shape[axis], 127.0)
    qp = weight_qparams(w, axis, qmax)
    if not opts.per_channel:  # one scale from the whole tensor (not the max of per-channel
        # scales: a dead channel's placeholder scale of 1.0 would zero every weight)
        scale = np.full_like(qp.scale, weight_qparams(w, None, float(np.min(qmax))).scale)
    else:
        scale = qp.scale
    if bias is not None and input_scale is not None and bias.size == scale.size:
        # int32 bias must fit: raise a channel's weight scale when bias / (sx * sw) overflows
        need = np.abs(bias.reshape(-1).astype(np.float64)) / (input_scale * BIAS_LIMIT)
        scale = np.maximum(scale, need.astype(np.float32))
    qp = QParams(scale.astype(np.float32), qp.zero_point, axis)
    q, delta = None, None
    if opts.rounder is not None:
        moved = np.moveaxis(w, axis, 0)
        q2, delta = opts.rounder(node.name, moved.reshape(len(moved), -1), qp.scale, np.asarray(qmax))
        q = None if q2 is None else np.moveaxis(q2.reshape(moved.shape), 0, axis)
    if q is None:
        q = quantize(w, qp)
    if opts.guard is not None:
        q = opts.guard.enforce(node, q, axis)
    base = node.input[slot]
    qn = g.add_initializer(g.fresh(f"{base}_quantized"), q)
    s = _scalar(g, f"{base}_scale", qp.scale)
    z = _scalar(g, f"{base}_zero_point", qp.zero_point)
    out = g.fresh(f"{base}_dequantized")
    g.add_node("DequantizeLinear", [qn, s, z], [out], name=g.fresh(f"{base}_DQ"), axis=axis)
    node.input[slot] = out
    return qp, delta


def _set_bias(g: Graph, node: onnx.NodeProto, slot: int, value: np.ndarray) -> np.ndarray:
    name = g.add_initializer(g.fresh(f"{node.name}_bias"), value.astype(np.float32))
    while len(node.input) <= slot:
        node.input.append("")
    node.input[slot] = name
    return value.astype(np.float32)


def _quantize_bias(g: Graph, node: onnx.NodeProto, slot: int, input_scale: float, wq: QParams) -> None:
    b = g.initializers[node.input[slot]]
    q, scale = quantize_bias(b.reshape(-1), input_scale, wq.scale.reshape(-1))
    base = node.input[slot]
    qn = g.add_initializer(g.fresh(f"{base}_quantized"), q)
    s = _scalar(g, f"{base}_scale", scale)
    z = _scalar(g, f"{base}_zero_point", np.zeros(scale.shape, np.int32))
    out = g.fresh(f"{base}_dequantized")
    g.add_node("DequantizeLinear", [qn, s, z], [out], name=g.fresh(f"{base}_DQ"), axis=0)
    node.input[slot] = out


def _insert_qdq(g: Graph, tensor: str, qp: QParams) -> None:
    consumers = g.consumers(tensor)
    s = _scalar(g, f"{tensor}_scale", qp.scale)
    z = _scalar(g, f"{tensor}_zero_point", qp.zero_point)
    q, dq = g.fresh(f"{tensor}_quantized"), g.fresh(f"{tensor}_dequantized")
    g.add_node("QuantizeLinear", [tensor, s, z], [q], name=g.fresh(f"{tensor}_Q"))
    g.add_node("DequantizeLinear", [q, s, z], [dq], name=g.fresh(f"{tensor}_DQ"))
    for c in consumers:
        for k, i in enumerate(c.input):
            if i == tensor:
                c.input[k] = dq


@dataclass(frozen=True)
class _WeightOptions:
    guard: WeightGuard | None
    per_channel: bool
    rounder: Rounder | None


def insert_qdq(
    g: Graph,
    plan: QuantPlan,
    ranges: Mapping[str, tuple[float, float]],
    guard: WeightGuard | None = None,
    per_channel: bool = True,
    rounder: Rounder | None = None,
) -> dict[str, QParams]:
    """Rewrite `g` in place into a QDQ model. Returns the activation qparams used."""
    act_q = {t: activation_qparams(*r) for t, r in group_ranges(plan, ranges).items()}
    opts = _WeightOptions(guard, per_channel, rounder)
    _fold_activations(g, plan)
    by_name = {n.name: n for n in g.nodes}
    for name in plan.nodes:
        node = by_name[name]
        rule = RULES[node.op_type]
        if rule.weight is None:
            continue
        axis = rule.weight_axis(node) if rule.weight_axis else 0
        in_scale = float(act_q[node.input[0]].scale) if node.input[0] in act_q else None
        slot = rule.bias
        bias = (
            g.const(node.input[slot])
            if slot is not None and len(node.input) > slot and node.input[slot]
            else None
        )
        wq, delta = _quantize_weight(g, node, rule.weight, axis, opts, in_scale, bias)
        if delta is not None and slot is not None and (bias is None or bias.size == delta.size):
            bias = _set_bias(g, node, slot, (0 if bias is None else bias.astype(np.float64)) + delta)
        if bias is not None and in_scale is not None and bias.ndim == 1 and bias.size == wq.scale.size:
            _quantize_bias(g, node, slot, in_scale, wq)  # type: ignore[arg-type]
    for tensor in plan.activations:
        _insert_qdq(g, tensor, act_q[tensor])
    g.toposort()
    g.cleanup()
    return act_q
