"""onnxruntime CPU runner."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from int8ptq.errors import UserError
from int8ptq.runtime.base import Inputs, ModelLike, feeds_for, model_source


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
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_name = self.input_names[0]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: Inputs) -> np.ndarray:
        return self.session.run(self.output_names[:1], feeds_for(x, self.input_names))[0]

    def run_all(self, x: Inputs) -> list[np.ndarray]:
        return self.session.run(None, feeds_for(x, self.input_names))


_ORT_TYPES = {
    "tensor(float)": onnx.TensorProto.FLOAT,
    "tensor(float16)": onnx.TensorProto.FLOAT16,
    "tensor(int64)": onnx.TensorProto.INT64,
    "tensor(int32)": onnx.TensorProto.INT32,
    "tensor(bool)": onnx.TensorProto.BOOL,
    "tensor(uint8)": onnx.TensorProto.UINT8,
    "tensor(int8)": onnx.TensorProto.INT8,
    "tensor(double)": onnx.TensorProto.DOUBLE,
}


def output_types(model: onnx.ModelProto, names: list[str]) -> dict[str, int]:
    """See runtime.base.output_types: onnxruntime's own type inference, graph unoptimized."""
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 4
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - ops nobody knows: the types stay unknown
        return {}
    outs = sess.get_outputs()
    return {o.name: _ORT_TYPES[o.type] for o in outs if o.name in names and o.type in _ORT_TYPES}
