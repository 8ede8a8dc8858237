"""The peers, each at its documented settings: onnxruntime's quantize_static and NNCF."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ort_quantize(fp32: Path, out: Path, calib: np.ndarray, best: bool) -> Path:
    """quantize_static. best: the README's most accurate setting (QDQ, uint8 activations,
    per-channel, reduce_range, Percentile); else its current default (QDQ, int8 activations)."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": calib[i : i + 10]} for i in range(0, len(calib), 10)])

        def get_next(self):  # noqa: ANN201
            return next(self.it, None)

    if best:
        quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile)
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
