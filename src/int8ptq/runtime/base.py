"""The runner interface and the factory that picks a backend."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx

ModelLike = str | os.PathLike[str] | bytes | onnx.ModelProto


class Backend(str, enum.Enum):
    ORT = "ort"
    OPENVINO = "openvino"
    AUTO = "auto"


class Runner(Protocol):
    backend: str
    input_name: str
    output_names: list[str]

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one batch (NCHW float32) and return the first output."""
        ...

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        """Run one batch and return every output."""
        ...


_TWO_GB = 2**31 - 1


def model_source(model: ModelLike) -> str | bytes:
    """What a backend can load: a path, or serialized bytes. An in-memory model over 2 GB
    (which protobuf cannot serialize) is written with external data to a temporary folder."""
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    if isinstance(model, bytes):
        return model
    from int8ptq.ir.io import proto_size, save_model

    if proto_size(model) <= _TWO_GB - (1 << 20):
        return model.SerializeToString()
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="int8ptq-big-")
    atexit.register(shutil.rmtree, folder, True)
    return str(save_model(model, Path(folder) / "model.onnx"))


def model_bytes(model: ModelLike) -> bytes:
    if isinstance(model, onnx.ModelProto):
        return model.SerializeToString()
    if isinstance(model, bytes):
        return model
    return Path(model).read_bytes()
