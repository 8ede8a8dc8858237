"""onnxruntime CPU runner."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort

from int8ptq.runtime.base import ModelLike, model_bytes


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
        src = str(model) if isinstance(model, (str, os.PathLike)) else model_bytes(model)
        self.session = ort.InferenceSession(
            src, session_options(threads, optimized_path), providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(self.output_names[:1], {self.input_name: x})[0]

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: x})
