"""Shape inference: fill value_info so later passes know shapes and element types.

onnx's inference cannot see through ops of custom domains (com.microsoft...); the types it
leaves unknown are then asked of the runtime (onnxruntime), which knows its own ops.
"""

from __future__ import annotations

import onnx
from onnx import helper

from int8ptq.ir.graph import Graph
from int8ptq.ir.outputs import with_outputs
from int8ptq.runtime import output_types

_SMALL = 4096  # initializers up to this many elements stay (shape arithmetic reads them)


def _skeleton(graph: Graph) -> onnx.ModelProto:
    """The model with large initializers declared as inputs instead: same shapes, no data,
    so inference does not copy and serialize hundreds of megabytes."""
    from onnx import numpy_helper

    small = [numpy_helper.from_array(v, k) for k, v in graph.initializers.items() if v.size <= _SMALL]
    big = [
        helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
        for k, v in graph.initializers.items()
        if v.size > _SMALL
    ]
    g = helper.make_graph(graph.nodes, "skeleton", list(graph.inputs) + big, graph.outputs, initializer=small)
    m = helper.make_model(g, opset_imports=list(graph.model.opset_import))
    m.ir_version = graph.model.ir_version
    return m


def infer_shapes(graph: Graph) -> int:
    graph.clear_value_info()
    model = _skeleton(graph)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError):
        inferred = model  # too large or unknown ops: keep going with what we have
    infos = {v.name: v for v in inferred.graph.value_info if v.type.tensor_type.elem_type}
    known = (
        set(infos)
        | {i.name for i in graph.inputs}
        | set(graph.initializers)
        | {o.name for o in graph.outputs}
    )
    missing = [o for n in graph.nodes for o in n.output if o and o not in known]
    if missing:
        infos.update(_types_from_runtime(graph, missing))
    graph.set_value_infos(infos)
    return len(infos)


def _types_from_runtime(graph: Graph, names: list[str]) -> dict[str, onnx.ValueInfoProto]:
    types = output_types(with_outputs(graph, names), names)
    return {n: helper.make_tensor_value_info(n, t, None) for n, t in types.items()}
