"""INT8 islands: quantized ops that onnxruntime runs faster in FP32.

An op between float neighbours (a HardSwish before and after a depthwise Conv, say) pays for
its integer kernel with conversions of its own: a QuantizeLinear pass over every input that
nothing else quantizes and a DequantizeLinear pass over its output that no quantized op reads.
Those passes cost about as much as an op that does little arithmetic per output value
(a depthwise or narrow Conv, an elementwise Add or Mul, a pooling), so such an island is
left in FP32 on the onnxruntime layout (quant/placement.py). Measured in BENCHMARKS.md
("Placement by speed"): a 5x5 depthwise Conv between two HardSwish ran 1.2x faster in FP32,
while dense Convs (hundreds of products per output) stay faster in INT8 even as islands.

OpenVINO fuses the conversions into its neighbours, so its layout keeps every island.
"""

from __future__ import annotations

import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.ops import reduction_length
from int8ptq.quant.plan import QuantPlan, fusable_activation, planned_inputs
from int8ptq.quant.rules import RULES

# products per output value below which an island runs faster in FP32 (BENCHMARKS.md: 8-36
# products ran as fast or faster in FP32, 64 and more faster in INT8)
ISLAND_MIN_PRODUCTS = 48
ISLAND = f"INT8 island (float neighbours, under {ISLAND_MIN_PRODUCTS} products per output)"


def products_per_output(g: Graph, node: onnx.NodeProto) -> int | None:
    """The multiply-adds behind each output value: K for Conv/Gemm/MatMul (None where K is
    unknown), 1 for elementwise ops and pooling."""
    rule = RULES[node.op_type]
    if rule.weight is not None:
        w = g.const(node.input[rule.weight])
        return None if w is None else reduction_length(node, w.shape)
    if node.op_type == "MatMul":  # two activations: K is the first one's last axis
        shape = g.shape(node.input[0])
        return shape[-1] if shape and isinstance(shape[-1], int) else None
    return 1


def _quantized_anyway(g: Graph, tensor: str, node: onnx.NodeProto, int8: set[str]) -> bool:
    """Whether `tensor` carries uint8 values for some reason other than `node` reading it: an
    op of `int8` (planned, or an activation folded into one) writes it, or another reads it."""
    producer = g.producer(tensor)
    if producer is not None and producer.name in int8:
        return True
    return any(r.name in int8 and r.name != node.name for r in g.consumers(tensor))


def find_islands(g: Graph, plan: QuantPlan) -> dict[str, str]:
    """Planned nodes that would be INT8 islands doing little arithmetic: name -> why FP32."""
    planned = set(plan.nodes)
    int8 = planned | set(plan.fused)
    found: dict[str, str] = {}
    for n in g.nodes:
        if n.name not in planned or RULES[n.op_type].shares_scale:
            continue
        products = products_per_output(g, n)
        if products is None or products >= ISLAND_MIN_PRODUCTS:
            continue
        if any(_quantized_anyway(g, t, n, int8) for t in planned_inputs(n, RULES[n.op_type])):
            continue
        act = fusable_activation(g, n)
        out = act.output[0] if act is not None and act.name in plan.fused else n.output[0]
        if any(r.name in planned for r in g.consumers(out)):
            continue
        found[n.name] = ISLAND
    return found
