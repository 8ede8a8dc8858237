"""Timing a runner on random input of the model's shape."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from int8ptq.data.model_input import model_inputs
from int8ptq.ir.io import load_model
from int8ptq.runtime.base import ModelLike


def input_for(model: ModelLike, batch: int, seed: int = 0, size: int = 224) -> dict[str, np.ndarray]:
    """Random inputs for timing: every input by name, dynamic dims filled (batch first, image
    height and width `size`, any other dynamic dim 1)."""
    proto = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    if not isinstance(proto, onnx.ModelProto):
        proto = onnx.load_from_string(proto)
    inputs = model_inputs(proto)
    rng = np.random.default_rng(seed)
    out = {}
    for t in inputs.tensors:
        dims = list(t.shape or (None, 3, size, size))
        img = inputs.image if inputs.image and t.name == inputs.image.name else None
        spatial = set() if img is None else {2, 3} if img.layout == "NCHW" else {1, 2}
        shape = [d if d else (batch if i == 0 else size if i in spatial else 1) for i, d in enumerate(dims)]
        if np.issubdtype(np.dtype(t.dtype), np.floating):
            out[t.name] = rng.standard_normal(shape).astype(t.dtype)
        else:
            out[t.name] = np.ones(shape, t.dtype)
    return out


def time_runner(
    run: Callable[[Any], object], x: Any, warmup: int, repeat: int, min_seconds: float = 0.0
) -> list[float]:
    """Seconds per call of `run(x)` after `warmup` calls: at least `repeat` calls and `min_seconds`."""
    for _ in range(warmup):
        run(x)
    times: list[float] = []
    t_end = time.perf_counter() + min_seconds
    while len(times) < repeat or time.perf_counter() < t_end:
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return times
