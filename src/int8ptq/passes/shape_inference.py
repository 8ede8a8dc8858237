"""Shape inference: fill value_info so later passes know static shapes."""

from __future__ import annotations

import onnx

from int8ptq.ir.graph import Graph


def infer_shapes(graph: Graph) -> int:
    graph.clear_value_info()
    model = graph.to_model()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError):
        return 0  # a model too large or unknown ops: keep going without shapes
    graph._value_info = {v.name: v for v in inferred.graph.value_info}  # noqa: SLF001
    return len(graph._value_info)  # noqa: SLF001
