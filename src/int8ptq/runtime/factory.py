"""Making a runner for a backend (or the faster one), and what the runtime infers of a model."""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.runtime.base import Backend, ModelLike, Runner
from int8ptq.runtime.timing import input_for, time_runner


def make_runner(model: ModelLike, backend: Backend | str = Backend.ORT, threads: int | None = None) -> Runner:
    b = Backend(backend)
    if b is Backend.AUTO:
        b = fastest_backend(model, threads)
    if b is Backend.OPENVINO:
        from int8ptq.runtime.openvino import OpenVinoRunner

        return OpenVinoRunner(model, threads)
    from int8ptq.runtime.ort import OrtRunner

    return OrtRunner(model, threads)


def output_types(model: onnx.ModelProto, names: list[str]) -> dict[str, int]:
    """Element types (onnx.TensorProto enums) the runtime infers for `names`, which must be
    outputs of `model`; names it cannot type (or a model it cannot load) are left out."""
    from int8ptq.runtime import ort

    return ort.output_types(model, names)


def fastest_backend(model: ModelLike, threads: int | None) -> Backend:
    """Time both backends briefly at batch 1; the faster wins (ORT if OpenVINO is missing)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return Backend.ORT
    best, best_t = Backend.ORT, float("inf")
    x = input_for(model, 1)
    for b in (Backend.ORT, Backend.OPENVINO):
        r = make_runner(model, b, threads)
        t = float(np.median(time_runner(r.run, x, 2, 5)))
        if t < best_t:
            best, best_t = b, t
    return best
