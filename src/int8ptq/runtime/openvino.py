"""OpenVINO CPU runner (oneDNN: the successor of MKL-DNN). Reads QDQ ONNX directly."""

from __future__ import annotations

import numpy as np

from int8ptq.errors import UserError
from int8ptq.runtime.base import Inputs, ModelLike, feeds_for, model_source


def _openvino():
    try:
        import openvino as ov
    except ImportError:
        raise UserError("the openvino backend needs OpenVINO: pip install 'int8ptq[openvino]'") from None
    return ov


class OpenVinoRunner:
    backend = "openvino"

    def __init__(self, model: ModelLike, threads: int | None = None) -> None:
        ov = _openvino()
        core = ov.Core()
        src = model_source(model)
        m = core.read_model(src) if isinstance(src, str) else core.read_model(src, b"")
        cfg: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            cfg["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(m, "CPU", cfg)
        self.request = self.compiled.create_infer_request()
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self.input_name = self.input_names[0]
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]

    def run(self, x: Inputs) -> np.ndarray:
        res = self.request.infer(feeds_for(x, self.input_names))
        return np.asarray(res[self.compiled.outputs[0]]).copy()

    def run_all(self, x: Inputs) -> list[np.ndarray]:
        res = self.request.infer(feeds_for(x, self.input_names))
        return [np.asarray(res[o]).copy() for o in self.compiled.outputs]
