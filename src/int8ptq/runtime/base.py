"""The runner interface and the factory that picks a backend."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx

ModelLike = str | os.PathLike[str] | bytes | onnx.ModelProto


class Backend(str, enum.Enum):
    ORT = "ort"
    OPENVINO = "openvino"
    AUTO = "auto"


Inputs = np.ndarray | Mapping[str, np.ndarray]  # one array (the first input), or every input by name


class Runner(Protocol):
    backend: str
    input_name: str  # the first input
    input_names: list[str]
    output_names: list[str]

    def run(self, x: Inputs) -> np.ndarray:
        """Run one batch (`{input_name: array}`, or one array for the first input) and
        return the first output."""
        ...

    def run_all(self, x: Inputs) -> list[np.ndarray]:
        """Run one batch and return every output."""
        ...


def feeds_for(x: Inputs, names: list[str]) -> dict[str, np.ndarray]:
    """`{input_name: array}` for a backend: a bare array feeds the first input."""
    if isinstance(x, Mapping):
        return {k: v for k, v in x.items() if k in names}
    return {names[0]: x}


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
