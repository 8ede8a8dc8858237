"""Grouped convolutions that onnxruntime runs faster in FP32.

onnxruntime has a dedicated integer kernel for depthwise convolutions, but computes any other
grouped QLinearConv with a spatial kernel as an im2col copy and one small integer GEMM per
group. With few products per output value (ResNeXt's first stages: 4 or 8 channels per group,
3x3) that runs slower than FP32 even between INT8 neighbours (BENCHMARKS.md, "Placement by
speed": 36 products per output about 2x slower, 72 products 1.2x slower, 144 and more faster
in INT8; grouped 1x1 Convs, which need no im2col, are faster in INT8). Such layers stay FP32
on the onnxruntime layout; OpenVINO's layout keeps them INT8.
"""

from __future__ import annotations

from int8ptq.ir.graph import Graph
from int8ptq.ir.ops import group, is_depthwise, reduction_length
from int8ptq.quant.plan import QuantPlan

# products per output value below which a grouped Conv (not depthwise, not 1x1) runs faster in FP32
GROUPED_MIN_PRODUCTS = 100
SLOW_GROUPED = f"grouped k x k Conv under {GROUPED_MIN_PRODUCTS} products per output (a GEMM per group)"


def find_slow_grouped(g: Graph, plan: QuantPlan) -> dict[str, str]:
    """Planned grouped Convs with too few products per output: name -> why FP32."""
    planned = set(plan.nodes)
    found: dict[str, str] = {}
    for n in g.nodes:
        if n.name not in planned or n.op_type != "Conv" or group(n) == 1:
            continue
        w = g.const(n.input[1])
        if w is None or is_depthwise(n, w.shape) or w.shape[2:] == (1, 1):
            continue
        if reduction_length(n, w.shape) < GROUPED_MIN_PRODUCTS:
            found[n.name] = SLOW_GROUPED
    return found
