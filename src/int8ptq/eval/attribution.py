"""Where the output error comes from: each quantized tensor's share of it.

A tensor's share is the part of the INT8 model's output error that goes away when that tensor
alone is back in float, as a model that keeps it float computes it (hotspots.share_in_float: its
QuantizeLinear -> DequantizeLinear taken out, a folded Relu/Clip put back). The per-tensor
SQNR of `compare` grows along the graph and says little about what the output pays for; the
shares say it, and what keeping a tensor in FP32 (`--exclude`) would buy and cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import onnx

from int8ptq.hotspots import Feeds, float_layers, layer_costs, output_error, share_in_float
from int8ptq.ir import Graph

QDQ = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class ErrorShare:
    tensor: str
    share: float  # of the output error, gone with the tensor in float (negative: it grows)
    compute_share: float  # of the quantized layers' multiply-adds, in the layers that would run in FP32
    exclude: tuple[str, ...]  # those layers: the nodes to keep in FP32 for the tensor to stay float


def quantized_nodes(int8: onnx.ModelProto) -> set[str]:
    """Nodes of the INT8 graph that run quantized: a weighted op whose weight comes from a
    DequantizeLinear of int8 data, or any op whose output is quantized. (Float layers read
    DequantizeLinear outputs too: a float Conv guarded with an int32 bias, the float readers
    of a quantized tensor.)"""
    int8_data = {t.name for t in int8.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    int8_weights = {
        n.output[0] for n in int8.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int8_data
    }
    q_in = {n.input[0] for n in int8.graph.node if n.op_type == "QuantizeLinear"}
    return {
        n.name
        for n in int8.graph.node
        if n.op_type not in QDQ
        and ((len(n.input) > 1 and n.input[1] in int8_weights) or any(o in q_in for o in n.output))
    }


def folded_activations(g: Graph, int8: onnx.ModelProto) -> set[str]:
    """The Relu/Clip nodes of the prepared FP32 graph `g` that the INT8 graph folded into a
    quantized range: the tensor they read is gone from it."""
    tensors = {t for n in int8.graph.node for t in (*n.input, *n.output)}
    return {n.name for n in g.nodes if n.op_type in ("Relu", "Clip") and n.input[0] not in tensors}


def attribute(
    g: Graph,
    int8: onnx.ModelProto,
    feeds: list[Feeds],
    reference: list[Feeds],
    tensors: Iterable[str],
    track: Callable[[list[str]], Iterable[str]] = lambda ts: ts,
    threads: int | None = None,
) -> list[ErrorShare]:
    """Each of `tensors` (quantized in `int8`, made from the prepared FP32 graph `g`) with its
    share of the output error on `feeds` against the FP32 outputs `reference`, largest first;
    none if the INT8 outputs equal FP32's. `track` wraps the loop over the tensors (a progress
    bar); `threads`: onnxruntime's."""
    if not feeds:
        return []
    base = output_error(int8, feeds, reference, threads)
    if base <= 0:
        return []
    planned, fused = quantized_nodes(int8), folded_activations(g, int8)
    costs = layer_costs(g, planned, feeds[0], threads)
    total = sum(costs.values()) or 1.0
    out = []
    for t in track(list(tensors)):
        layers = float_layers(g, planned, fused, t)
        spent = sum(costs.get(n, 0.0) for n in layers) / total
        share = share_in_float(g, fused, int8, [t], feeds, reference, base, threads)
        out.append(ErrorShare(t, share, spent, tuple(layers)))
    out.sort(key=lambda e: -e.share)
    return out
