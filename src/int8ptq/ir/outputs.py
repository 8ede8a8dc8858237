"""A copy of a model that also outputs some of its intermediate tensors."""

from __future__ import annotations

from collections.abc import Iterable

import onnx

from int8ptq.ir.graph import Graph


def with_outputs(g: Graph, tensors: Iterable[str]) -> onnx.ModelProto:
    """A copy of the model that also outputs `tensors`."""
    model = g.to_model()
    add_outputs(model, tensors)
    return model


def add_outputs(model: onnx.ModelProto, tensors: Iterable[str]) -> None:
    """Append `tensors` to the model's outputs (those not already inputs or outputs)."""
    have = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    infos = {v.name: v for v in model.graph.value_info}
    for t in tensors:
        if t not in have:
            # without a known type, a bare name: the runtime infers the type itself
            model.graph.output.append(infos.get(t) or onnx.ValueInfoProto(name=t))
            have.add(t)
