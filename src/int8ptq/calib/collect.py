"""One calibration pass: run the FP32 model once over the data, feed every observer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx

from int8ptq.calib.observers import Observer
from int8ptq.ir.graph import Graph
from int8ptq.runtime.ort import OrtRunner
from int8ptq.util.progress import progress


def with_outputs(g: Graph, tensors: Iterable[str]) -> onnx.ModelProto:
    """A copy of the model that also outputs `tensors`."""
    model = g.to_model()
    have = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    infos = {v.name: v for v in model.graph.value_info}
    infos.update({i.name: i for i in model.graph.input})
    for t in tensors:
        if t not in have:
            # without a known type, a bare name: onnxruntime infers the type itself
            model.graph.output.append(infos.get(t) or onnx.ValueInfoProto(name=t))
            have.add(t)
    return model


def collect(
    g: Graph,
    requests: Mapping[str, tuple[str, Observer]],
    batches: Iterable[np.ndarray],
    threads: int | None = None,
    total: int | None = None,
) -> None:
    """One pass over the data: each observer in `requests` (key -> (tensor, observer)) sees
    its tensor in every batch. Memory is that of the observers, whatever the image count."""
    tensors = sorted({t for t, _ in requests.values()})
    runner = OrtRunner(with_outputs(g, tensors), threads)
    index = {n: i for i, n in enumerate(runner.output_names)}
    for x in progress(batches, "calibrating", total=total, unit="batch"):
        outs = runner.run_all(x)
        for t, obs in requests.values():
            obs.update(x if t == runner.input_name else outs[index[t]])
