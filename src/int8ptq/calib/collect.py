"""One calibration pass: run the FP32 model once over the data, feed every observer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx
from onnx import helper

from int8ptq.calib.observers import HistogramObserver, MinMaxObserver
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
            model.graph.output.append(
                infos.get(t) or helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
            )
            have.add(t)
    return model


def collect(
    g: Graph,
    tensors: list[str],
    batches: Iterable[np.ndarray],
    histogram: bool,
    threads: int | None = None,
    total: int | None = None,
    bins: int = 2048,
) -> Mapping[str, MinMaxObserver]:
    """Observe `tensors` over all batches; memory is O(tensors x bins)."""
    runner = OrtRunner(with_outputs(g, tensors), threads)
    index = {n: i for i, n in enumerate(runner.output_names)}
    observers: dict[str, MinMaxObserver] = {
        t: HistogramObserver(bins) if histogram else MinMaxObserver() for t in tensors
    }
    for x in progress(batches, "calibrating", total=total, unit="batch"):
        outs = runner.run_all(x)
        for t, obs in observers.items():
            obs.update(x if t == runner.input_name else outs[index[t]])
    return observers
