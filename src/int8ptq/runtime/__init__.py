"""Runners: run a model on a backend. The only place that knows about backends (the only
code that imports onnxruntime or OpenVINO)."""

from int8ptq.runtime.base import Backend, ModelLike, Runner, model_bytes
from int8ptq.runtime.factory import fastest_backend, make_runner, output_types
from int8ptq.runtime.timing import input_for, time_runner

__all__ = [
    "Backend",
    "ModelLike",
    "Runner",
    "fastest_backend",
    "input_for",
    "make_runner",
    "model_bytes",
    "output_types",
    "time_runner",
]
