"""Timing a runner on random input of the model's shape."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from int8ptq.data.model_input import image_input
from int8ptq.ir.io import load_model
from int8ptq.runtime.base import ModelLike


def input_for(model: ModelLike, batch: int, seed: int = 0) -> np.ndarray:
    """Random input of the model's image shape at `batch` (224 when the size is symbolic)."""
    proto = load_model(model) if isinstance(model, (str, os.PathLike)) else None
    spec = image_input(proto) if proto is not None else None
    size = (spec.size if spec else None) or 224
    shape = (batch, size, size, 3) if spec and spec.layout == "NHWC" else (batch, 3, size, size)
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def time_runner(
    run: Callable[[np.ndarray], object], x: np.ndarray, warmup: int, repeat: int, min_seconds: float = 0.0
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
