"""Write the QDQ model: QuantizeLinear/DequantizeLinear around every planned tensor,
int8 per-channel weights, int32 biases, folded Relu/Clip. onnxruntime fuses each
DQ -> op -> Q unit into its integer kernel; OpenVINO reads the same graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.quant.float_layers import keep_float_weights
from int8ptq.quant.plan import QuantPlan
from int8ptq.quant.qmath import (
    BIAS_LIMIT,
    QParams,
    activation_qparams,
    quantize_bias,
    weight_qparams,
)
from int8ptq.quant.rounding import Rounded
from int8ptq.quant.rules import RULES
from int8ptq.quant.saturation import PairConstraint


class WeightGuard(Protocol):
    """Keeps weights inside what the target CPU's kernels compute exactly (saturation.py)."""

    def qmax(self, node: onnx.NodeProto, w: np.ndarray) -> np.ndarray: ...

    def constraint(self, node: onnx.NodeProto, shape: tuple[int, ...]) -> PairConstraint | None: ...


class Rounder(Protocol):
    """Error-compensating rounding (rounding.py): weights as (out channels, K)."""

    def __call__(
        self, node: str, w: np.ndarray, scale: np.ndarray, qmax: np.ndarray, pairs: PairConstraint | None
    ) -> Rounded: ...

    def bias_delta(
        self, node: str, w: np.ndarray, q: np.ndarray, scale: np.ndarray
    ) -> tuple[np.ndarray | None, str | None]: ...


NEAREST = "nearest rounding: no input statistics collected"
NO_BIAS_INPUT = "the op has no bias input"
BIAS_SHAPE = "the bias is not one value per output channel"
DISABLED = "disabled by the user"


@dataclass
class WeightReport:
    """What happened to each weighted layer: reason -> layers, for the summary and --json."""

    rounding_fallbacks: dict[str, list[str]] = field(default_factory=dict)  # kept nearest rounding
    bias_fallbacks: dict[str, list[str]] = field(default_factory=dict)  # no bias correction
    bias_corrected: list[str] = field(default_factory=list)
    float_guarded: list[str] = field(default_factory=list)  # float layers shielded (float_layers.py)

    @staticmethod
    def add(table: dict[str, list[str]], reason: str, node: str) -> None:
        table.setdefault(reason, []).append(node)


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
        g.set_output(producer, 0, act.output[0])
        g.remove_node(act)


def _weight_scale(w: np.ndarray, axis: int, qmax: np.ndarray, per_channel: bool) -> np.ndarray:
    qp = weight_qparams(w, axis, qmax)
    if per_channel:
        return qp.scale
    # one scale from the whole tensor (not the max of per-channel scales: a dead channel's
    # placeholder scale of 1.0 would zero every weight)
    return np.full_like(qp.scale, weight_qparams(w, None, float(np.min(qmax))).scale)


def _fit_bias(
    scale: np.ndarray, bias: np.ndarray | None, input_scale: float | None, margin: float = 1.0
) -> np.ndarray:
    """Raise a channel's weight scale where bias / (sx * sw) would overflow the int32 bound
    (to `margin` times what it needs)."""
    if bias is None or input_scale is None or bias.size != scale.size:
        return scale
    need = np.abs(bias.reshape(-1).astype(np.float64)) / (input_scale * BIAS_LIMIT)
    return np.where(need > scale, need * margin, scale).astype(np.float32)


def _round(
    name: str,
    w: np.ndarray,
    scale: np.ndarray,
    qmax: np.ndarray,
    pairs: PairConstraint | None,
    opts: _WeightOptions,
) -> tuple[np.ndarray, str | None]:
    """int8 (O, K) weights, and why compensating rounding was not used (None: it was)."""
    reason = None  # nearest rounding was asked for: not a fallback
    if opts.rounder is not None:
        r = opts.rounder(name, w, scale, qmax, pairs)
        if r.q is not None:
            return r.q, None
        reason = r.reason or "unknown"
    if pairs is not None:
        q = np.empty(w.shape, np.int8)
        q[:, pairs.perm] = pairs.round_nearest(w[:, pairs.perm], scale, qmax)
        return q, reason
    lim = qmax.astype(np.float32)[:, None]
    return np.clip(np.rint(w.astype(np.float32) / scale[:, None]), -lim, lim).astype(np.int8), reason


def _bias_delta(
    name: str, w: np.ndarray, q: np.ndarray, scale: np.ndarray, opts: _WeightOptions, bias: _Bias
) -> tuple[np.ndarray | None, str | None]:
    if not opts.bias_correction:
        return None, DISABLED
    if bias.slot is None:
        return None, NO_BIAS_INPUT
    if bias.value is not None and bias.value.size != len(w):
        return None, BIAS_SHAPE
    if opts.rounder is None:
        return None, NEAREST
    return opts.rounder.bias_delta(name, w, q, scale)


@dataclass(frozen=True)
class _Bias:
    slot: int | None  # the op's bias input slot, None: it has none (MatMul)
    value: np.ndarray | None  # the constant bias, None: absent

    def plus(self, delta: np.ndarray | None) -> np.ndarray | None:
        """The corrected bias (per output channel), or None: leave the bias as it is."""
        if delta is None:
            return None
        return (0.0 if self.value is None else self.value.reshape(-1).astype(np.float64)) + delta


def _quantize_weight(
    g: Graph,
    node: onnx.NodeProto,
    slot: int,
    axis: int,
    opts: _WeightOptions,
    input_scale: float | None,
    bias: _Bias,
) -> tuple[QParams, np.ndarray | None]:
    """int8 weights behind a per-channel DequantizeLinear; returns qparams and the corrected
    bias (None: keep the node's bias as it is). Bias correction sees the final weights, and
    the corrected bias fits int32 (a channel whose bias would not gets a larger scale)."""
    w = g.initializers[node.input[slot]].astype(np.float32)
    moved = np.moveaxis(w, axis, 0)
    wm = moved.reshape(len(moved), -1)
    guard = opts.guard
    pairs = guard.constraint(node, moved.shape) if guard is not None else None
    qmax = guard.qmax(node, moved) if guard is not None else np.full(len(moved), 127.0)
    fit_now = bias.value if bias.value is not None and bias.value.size == len(moved) else None
    scale = _fit_bias(_weight_scale(w, axis, qmax, opts.per_channel), fit_now, input_scale)
    for _ in range(4):  # a corrected bias can pass the int32 bound: larger scale, round again
        q, why = _round(node.name, wm, scale, qmax, pairs, opts)
        delta, no_bc = _bias_delta(node.name, wm, q, scale, opts, bias)
        new_bias = bias.plus(delta)
        fitted = _fit_bias(scale, new_bias, input_scale, margin=1.01)  # room for the next delta
        if (fitted == scale).all():
            break
        scale = fitted
    if pairs is not None and (pairs.excess(q[:, pairs.perm]) > 0).any():  # the rounding keeps it
        raise AssertionError(f"{node.name}: a weight pair is over the int16 bound after rounding")
    report = opts.report
    if why is not None:
        report.add(report.rounding_fallbacks, why, node.name)
    if no_bc is not None:
        report.add(report.bias_fallbacks, no_bc, node.name)
    else:
        report.bias_corrected.append(node.name)
    qp = QParams(scale.astype(np.float32), np.zeros(scale.shape, np.int8), axis)
    qn = g.add_initializer(
        g.fresh(f"{node.input[slot]}_quantized"), np.moveaxis(q.reshape(moved.shape), 0, axis)
    )
    _add_dq(g, node, slot, qn, qp, axis)
    return qp, new_bias


def _add_dq(g: Graph, node: onnx.NodeProto, slot: int, qn: str, qp: QParams, axis: int) -> None:
    base = node.input[slot]
    s = _scalar(g, f"{base}_scale", qp.scale)
    z = _scalar(g, f"{base}_zero_point", qp.zero_point)
    out = g.fresh(f"{base}_dequantized")
    g.add_node("DequantizeLinear", [qn, s, z], [out], name=g.fresh(f"{base}_DQ"), axis=axis)
    g.set_input(node, slot, out)


def _set_bias(g: Graph, node: onnx.NodeProto, slot: int, value: np.ndarray) -> np.ndarray:
    name = g.add_initializer(g.fresh(f"{node.name}_bias"), value.astype(np.float32))
    g.set_input(node, slot, name)
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
    g.set_input(node, slot, out)


def _insert_qdq(g: Graph, tensor: str, qp: QParams) -> None:
    consumers = g.consumers(tensor)
    s = _scalar(g, f"{tensor}_scale", qp.scale)
    z = _scalar(g, f"{tensor}_zero_point", qp.zero_point)
    q, dq = g.fresh(f"{tensor}_quantized"), g.fresh(f"{tensor}_dequantized")
    g.add_node("QuantizeLinear", [tensor, s, z], [q], name=g.fresh(f"{tensor}_Q"))
    g.add_node("DequantizeLinear", [q, s, z], [dq], name=g.fresh(f"{tensor}_DQ"))
    for c in consumers:
        g.rename_input(c, tensor, dq)


@dataclass(frozen=True)
class _WeightOptions:
    guard: WeightGuard | None
    per_channel: bool
    rounder: Rounder | None
    bias_correction: bool
    report: WeightReport


def insert_qdq(
    g: Graph,
    plan: QuantPlan,
    ranges: Mapping[str, tuple[float, float]],
    guard: WeightGuard | None = None,
    per_channel: bool = True,
    rounder: Rounder | None = None,
    *,
    bias_correction: bool = True,
    report: WeightReport | None = None,
) -> dict[str, QParams]:
    """Rewrite `g` in place into a QDQ model. Returns the activation qparams used; `report`
    (if given) receives each layer's rounding and bias-correction fallbacks."""
    act_q = {t: activation_qparams(*r) for t, r in group_ranges(plan, ranges).items()}
    opts = _WeightOptions(guard, per_channel, rounder, bias_correction, report or WeightReport())
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
        value = (
            g.const(node.input[slot])
            if slot is not None and len(node.input) > slot and node.input[slot]
            else None
        )
        wq, new_bias = _quantize_weight(g, node, rule.weight, axis, opts, in_scale, _Bias(slot, value))
        if new_bias is not None and slot is not None:
            value = _set_bias(g, node, slot, new_bias)
        fits = value is not None and value.ndim == 1 and value.size == wq.scale.size
        if fits and slot is not None and in_scale is not None:
            _quantize_bias(g, node, slot, in_scale, wq)
    for tensor in plan.activations:
        _insert_qdq(g, tensor, act_q[tensor])
    opts.report.float_guarded.extend(keep_float_weights(g, set(plan.nodes)))
    g.toposort()
    g.cleanup()
    return act_q
