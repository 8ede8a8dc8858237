"""onnxruntime's own static quantization at the settings the issue compares against:
QDQ, per-channel weights, reduce_range, MinMax calibration, on the same calibration samples.
benchmarks/realworld.py sweeps the other settings (keyword arguments)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np


def quantize_ort(
    model: Path,
    output: Path,
    samples: list[np.ndarray],
    *,
    per_channel: bool = True,
    reduce_range: bool = True,
    method: str = "MinMax",
) -> Path:
    """`method`: an onnxruntime CalibrationMethod name (MinMax, Percentile, Entropy)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = onnx.load(str(model), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {name: x[None]}

    model, output = model.resolve(), output.resolve()
    # onnxruntime's shape inference may write uuid-named external data into the working
    # directory: keep it inside the temporary folder.
    with tempfile.TemporaryDirectory() as d, contextlib.chdir(d):
        pre = Path(d) / "pre.onnx"
        try:
            quant_pre_process(str(model), str(pre))
        except Exception:  # noqa: BLE001 - the pre-processing is optional
            pre = model
        quantize_static(
            str(pre),
            str(output),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, method),
        )
    return output
