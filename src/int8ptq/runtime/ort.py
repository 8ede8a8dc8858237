"""onnxruntime CPU runner."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from int8ptq.errors import UserError
from int8ptq.runtime.base import ModelLike, model_source


def session_options(threads: int | None, optimized_path: str | None = None) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    return so


class OrtRunner:
    backend = "ort"

    def __init__(
        self, model: ModelLike, threads: int | None = None, optimized_path: str | None = None
    ) -> None:
        try:
            self.session = ort.InferenceSession(
                model_source(model),
                session_options(threads, optimized_path),
                providers=["CPUExecutionProvider"],
            )
        except (
            ort.capi.onnxruntime_pybind11_state.Fail,
            ort.capi.onnxruntime_pybind11_state.NotImplemented,
            ort.capi.onnxruntime_pybind11_state.InvalidGraph,
            ort.capi.onnxruntime_pybind11_state.InvalidArgument,
        ) as e:
            first = str(e).strip().splitlines()[0][:300]
            raise UserError(f"onnxruntime cannot run this model: {first}") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(self.output_names[:1], {self.input_name: x})[0]

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: x})
