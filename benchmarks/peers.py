"""The peers, each at its documented settings: onnxruntime's quantize_static and NNCF."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ort_quantize(fp32: Path, out: Path, calib: np.ndarray, best: bool, reduce_range: bool = True) -> Path:
    """quantize_static after its recommended pre-processing (quant_pre_process). best: uint8
    activations, per-channel int8 weights, Percentile (the README's most accurate setting, with
    reduce_range); else its current default (QDQ, int8 activations, MinMax)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_name(out.stem + ".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    fp32 = pre

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": calib[i : i + 1]} for i in range(len(calib))])

        def get_next(self):  # noqa: ANN201
            return next(self.it, None)

    if best:
        quantize_static(
            str(fp32),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
        )
    else:
        quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ)
    return out


def nncf_quantize(fp32: Path, calib: np.ndarray):  # noqa: ANN201
    """NNCF + OpenVINO, preset performance (its default), on the OpenVINO model read from ONNX."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32))
    ds = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    return nncf.quantize(model, ds, preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(calib))
