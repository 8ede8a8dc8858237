"""Constant folding, including shape arithmetic on a dynamic-batch model.

torch exports TF-style "SAME" padding as Shape -> Gather/Slice -> arithmetic -> Pad. The
spatial dims are static even when the batch is not, so Shape is tracked as a partially known
vector: Gather/Slice that pick only known dims become constants, and any node whose inputs
are all constants is evaluated by onnx's reference evaluator.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import attr

# Never folded: randomness, quantization ops of already-quantized models, control flow.
_KEEP = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
    "DequantizeLinear",
    "QuantizeLinear",
    "If",
    "Loop",
    "Scan",
}
_MAX_FOLDED_ELEMENTS = 1 << 22

Partial = list[int | None]


def _shape_partial(g: Graph, n: onnx.NodeProto) -> Partial | None:
    shape = g.shape(n.input[0])
    if shape is None:
        return None
    start, end = attr(n, "start", 0), attr(n, "end", None)
    return shape[slice(start, end)]


def _pick(partial: Partial, idx: np.ndarray) -> np.ndarray | None:
    picked = [partial[int(i)] for i in idx.reshape(-1)]
    if any(v is None for v in picked):
        return None
    return np.array(picked, dtype=np.int64).reshape(idx.shape)


def _partial_gather(g: Graph, n: onnx.NodeProto, partial: Partial) -> np.ndarray | None:
    idx = g.const(n.input[1])
    if idx is None or attr(n, "axis", 0) != 0:
        return None
    return _pick(partial, idx)


def _partial_slice(g: Graph, n: onnx.NodeProto, partial: Partial) -> np.ndarray | None:
    args = [g.const(i) if i else None for i in n.input[1:]]
    starts, ends = args[0], args[1] if len(args) > 1 else None
    axes = args[2] if len(args) > 2 else None
    steps = args[3] if len(args) > 3 else None
    if starts is None or ends is None or (axes is not None and axes.reshape(-1)[0] not in (0, -1)):
        return None
    step = int(steps.reshape(-1)[0]) if steps is not None else 1
    rng = range(len(partial))[slice(int(starts[0]), int(ends[0]), step)]
    return _pick(partial, np.array(list(rng), dtype=np.int64))


def _evaluate(g: Graph, n: onnx.NodeProto) -> list[np.ndarray] | None:
    inputs = [g.const(i) if i else None for i in n.input]
    node = onnx.NodeProto()
    node.CopyFrom(n)
    feeds = {name: v for name, v in zip(n.input, inputs, strict=True) if name and v is not None}
    graph = helper.make_graph(
        [node],
        "fold",
        [
            helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for k, v in feeds.items()
        ],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in n.output if o],
    )
    model = helper.make_model(graph, opset_imports=list(g.model.opset_import))
    try:
        outs = ReferenceEvaluator(model).run(None, feeds)
    except Exception:  # noqa: BLE001 - an op the evaluator cannot run simply stays unfolded
        return None
    return [np.asarray(o) for o in outs]


def _constant_value(n: onnx.NodeProto) -> np.ndarray | None:
    for a in n.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.array(
                helper.get_attribute_value(a), dtype=np.float32 if "float" in a.name else np.int64
            )
        if a.name in ("value_floats", "value_ints"):
            return np.array(
                helper.get_attribute_value(a), dtype=np.float32 if "float" in a.name else np.int64
            )
    return None


def fold_constants(graph: Graph) -> int:
    """Replace every node computable at compile time by an initializer.

    Repeats until nothing folds: each round's constants give shape inference more to know.
    """
    total = 0
    while (n := _fold_once(graph)) > 0:
        total += n
    return total


def _fold_once(graph: Graph) -> int:
    graph.toposort()
    _infer(graph)
    partial: dict[str, Partial] = {}
    folded = 0
    for n in list(graph.nodes):
        if n.domain not in ("", "ai.onnx") or n.op_type in _KEEP:
            continue
        values: list[np.ndarray] | None = None
        if n.op_type == "Constant":
            v = _constant_value(n)
            values = None if v is None else [v]
        elif n.op_type == "Shape":
            p = _shape_partial(graph, n)
            if p is not None and all(d is not None for d in p):
                values = [np.array(p, dtype=np.int64)]
            elif p is not None:
                partial[n.output[0]] = p
        elif n.op_type in ("Gather", "Slice") and n.input[0] in partial:
            fn = _partial_gather if n.op_type == "Gather" else _partial_slice
            v = fn(graph, n, partial[n.input[0]])
            values = None if v is None else [v]
        elif n.input and all(graph.const(i) is not None for i in n.input if i):
            values = _evaluate(graph, n)
        if values is None or sum(v.size for v in values) > _MAX_FOLDED_ELEMENTS:
            continue
        for name, v in zip(n.output, values, strict=False):
            if name:
                graph.add_initializer(name, v)
        graph.remove_node(n)
        folded += 1
    graph.cleanup()
    return folded


def _infer(graph: Graph) -> None:
    from int8ptq.passes.shape_inference import infer_shapes

    infer_shapes(graph)
