"""Placement by speed: the plan of quant/plan.py, with the layers onnxruntime runs faster in
FP32 left there. Each rule is a function of the graph and the plan so far that names such
layers and says why (quant/islands.py, quant/grouped.py); OpenVINO's layout keeps every layer
INT8, since it fuses the conversions and has fast grouped kernels."""

from __future__ import annotations

from collections.abc import Callable

from int8ptq.ir.graph import Graph
from int8ptq.quant.grouped import find_slow_grouped
from int8ptq.quant.islands import find_islands
from int8ptq.quant.plan import QuantPlan, build_plan
from int8ptq.quant.rules import Runtime

SpeedRule = Callable[[Graph, QuantPlan], dict[str, str]]  # (graph, plan) -> node -> why FP32

SPEED_RULES: dict[Runtime, tuple[SpeedRule, ...]] = {
    Runtime.ONNXRUNTIME: (find_slow_grouped, find_islands),
    Runtime.OPENVINO: (),
}


def place(
    g: Graph, exclude: frozenset[str] = frozenset(), runtime: Runtime = Runtime.ONNXRUNTIME
) -> QuantPlan:
    """The plan with the runtime's speed rules applied. Leaving one layer in FP32 can make a
    neighbour an island: repeated until no rule names a new layer."""
    keep_float: dict[str, str] = {}
    while True:
        plan = build_plan(g, exclude, runtime, keep_float)
        new: dict[str, str] = {}
        for rule in SPEED_RULES[runtime]:
            new.update((name, why) for name, why in rule(g, plan).items() if name not in new)
        if not new:
            return plan
        keep_float.update(new)
