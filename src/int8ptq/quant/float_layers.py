"""Layers left in float stay float on onnxruntime.

onnxruntime's graph optimizer (its `WeightBiasQuantization` transformer, level 1, on by
default) rewrites any Conv, ConvTranspose or Gemm that reads a per-tensor DequantizeLinear
and has a float weight initializer: it quantizes that weight to int8 with one scale for the
whole tensor, and the bias to int32. A layer the plan keeps in float (excluded by the user,
a tune fallback, an op without an integer kernel) would silently run with per-tensor int8
weights. On EfficientNet-Lite1 with its depthwise convolutions kept in float, that cost 4
points of top-1 agreement against the same graph with the optimizer off.

The transformer leaves a node alone when its bias is not an initializer. So each such layer
gets its bias from a DequantizeLinear of int32 mantissas with power-of-two scales, one per
element: the same float32 values exactly, in standard ONNX, read the same way by OpenVINO.
"""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.ops import attr, group

WEIGHTED = ("Conv", "ConvTranspose", "Gemm")  # the op types the transformer rewrites
MANTISSA_BITS = 24  # float32's significand, sign excluded: |m| < 2**24 fits int32 exactly
SMALLEST_EXPONENT = -149  # float32's smallest subnormal, 2**-149


def exact_int32(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 values as int32 mantissas and power-of-two float32 scales, mantissa * scale ==
    value exactly (subnormals: on float32's smallest step; zeros: 0 * 1)."""
    v = np.asarray(values, np.float32).reshape(-1).astype(np.float64)
    _, e = np.frexp(v)  # v = m * 2**e, 0.5 <= |m| < 1
    step = np.maximum(e - MANTISSA_BITS, SMALLEST_EXPONENT)
    q = np.ldexp(v, -step).astype(np.int32)  # an integer below 2**24: exact
    scale = np.where(v == 0, 1.0, np.ldexp(1.0, step)).astype(np.float32)
    return q, scale


def _channels(node: onnx.NodeProto, w: np.ndarray) -> int:
    """The number of output channels (the bias length) of `node` with weight `w`."""
    if node.op_type == "Conv":
        return int(w.shape[0])
    if node.op_type == "ConvTranspose":
        return int(w.shape[1]) * group(node)
    return int(w.shape[0] if attr(node, "transB", 0) else w.shape[1])


def _exposed(g: Graph, node: onnx.NodeProto) -> bool:
    """Whether onnxruntime's transformer would quantize `node`'s float weight."""
    if node.op_type not in WEIGHTED or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return False
    src = g.producer(node.input[0])
    if src is None or src.op_type != "DequantizeLinear":
        return False
    scale = g.const(src.input[1])
    if scale is None or scale.size != 1:  # the transformer wants a per-tensor input
        return False
    w = g.initializers.get(node.input[1])
    if w is None or w.dtype != np.float32:
        return False
    if len(node.input) < 3 or not node.input[2]:
        return True
    b = g.initializers.get(node.input[2])
    return b is not None and b.ndim == 1  # a bias from a node, or not 1-D: left alone already


def keep_float_weights(g: Graph, quantized: set[str]) -> list[str]:
    """Give every float layer (not in `quantized`) that onnxruntime would quantize a bias it
    leaves alone (module docstring). Returns the names of the layers changed."""
    changed = []
    for node in list(g.nodes):
        if node.name in quantized or not _exposed(g, node):
            continue
        w = g.initializers[node.input[1]]
        has_bias = len(node.input) > 2 and bool(node.input[2])
        b = g.initializers[node.input[2]] if has_bias else np.zeros(_channels(node, w), np.float32)
        q, scale = exact_int32(b)
        base = g.fresh(f"{node.name}_float_bias")
        qn = g.add_initializer(g.fresh(f"{base}_int32"), q)
        sn = g.add_initializer(g.fresh(f"{base}_scale"), scale)
        g.add_node("DequantizeLinear", [qn, sn], [base], name=g.fresh(f"{base}_DQ"), axis=0)
        g.set_input(node, 2, base)
        changed.append(node.name)
    return changed
