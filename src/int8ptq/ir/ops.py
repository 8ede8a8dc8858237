"""What the code knows about individual ops, in one place: attribute values, weight layouts
(Conv, Gemm with transA/transB, MatMul) and which convolutions are depthwise.

Depthwise, here and everywhere: a Conv with group == input channels == output channels,
weight (C, 1, kh, kw). Each output channel reads exactly one input channel, and each input
channel feeds exactly one output. That is what every user needs:
- onnxruntime runs exactly these in its depthwise kernel, accumulating in int32 (no int16
  pairs: the AVX2 pair guard leaves them alone). A channel multiplier (group == C_in but
  C_out = m * C_in, m > 1) runs as a grouped GEMM, whose K pairs can saturate.
- cross-layer equalization scales channel i of one layer against channel i of the next,
  a one-to-one map only with multiplier 1;
- the rounding's statistics are then per channel (one k*k patch covariance per channel).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import onnx


def attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    """An attribute's Python value (int, float, bytes, list, tensor...: what the op defines), or
    `default`."""
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def group(node: onnx.NodeProto) -> int:
    """A Conv's or ConvTranspose's group count (1 for every other op)."""
    return int(attr(node, "group", 1)) if node.op_type in ("Conv", "ConvTranspose") else 1


def is_depthwise(node: onnx.NodeProto, weight_shape: tuple[int, ...] | list[int]) -> bool:
    """A Conv with group == C_in == C_out > 1: weight (group, 1, ...). See the module doc."""
    g = group(node)
    return (
        node.op_type == "Conv"
        and len(weight_shape) >= 3
        and g > 1
        and weight_shape[1] == 1
        and weight_shape[0] == g
    )


def trans_a(node: onnx.NodeProto) -> bool:
    """Gemm reads its first input transposed (A^T @ B)."""
    return node.op_type == "Gemm" and bool(attr(node, "transA", 0))


def trans_b(node: onnx.NodeProto) -> bool:
    """Gemm reads its weight transposed: stored (N, K) instead of (K, N)."""
    return node.op_type == "Gemm" and bool(attr(node, "transB", 0))


def weight_out_axis(node: onnx.NodeProto) -> int:
    """The weight's output-channel axis: Conv (O, C/g, kh, kw) -> 0; ConvTranspose
    (C, O/g, kh, kw) -> 1; Gemm (K, N) -> 1 or, with transB, (N, K) -> 0; MatMul (K, N) -> 1."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1
    return 0 if trans_b(node) else 1


def reduction_length(node: onnx.NodeProto, weight_shape: tuple[int, ...] | list[int]) -> int:
    """K, the number of products summed into each output: C/g * kh * kw for Conv, the
    weight's input axis for Gemm/MatMul."""
    if node.op_type == "Conv":
        k = 1
        for d in weight_shape[1:]:
            k *= int(d)
        return k
    return int(weight_shape[1 - weight_out_axis(node)])


# ops that only a quantized model holds: QDQ pairs, and the integer ops of the QOperator and
# dynamic formats (onnxruntime's com.microsoft ones among them)
QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "QLinearAdd",
        "QLinearMul",
        "QLinearConcat",
        "QLinearAveragePool",
        "QLinearGlobalAveragePool",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QGemm",
        "QAttention",
        "DynamicQuantizeMatMul",
        "DynamicQuantizeLSTM",
        "MatMulIntegerToFloat",
    }
)


def quantized_ops(graph: onnx.GraphProto) -> dict[str, int]:
    """op type -> count of the ops of `graph` (not its subgraphs) that only quantized models hold."""
    return dict(Counter(n.op_type for n in graph.node if n.op_type in QUANTIZED_OPS))
