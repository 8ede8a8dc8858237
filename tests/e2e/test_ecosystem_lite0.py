"""Done-when of the ecosystem issue: in Python, EfficientNet-Lite0 (real weights) calibrated from an
onnxruntime CalibrationDataReader and from a torch DataLoader of (images, labels) over the shared
calibration images; both INT8 models agree with FP32 on >= 98% of 300 held-out images."""

import numpy as np
import pytest
import torch
from onnxruntime.quantization import CalibrationDataReader
from torch.utils.data import DataLoader, TensorDataset

from int8ptq.api import evaluate, quantize
from int8ptq.data import PRESETS, open_dataset
from int8ptq.zoo.export import export

EVAL_IMAGES = 300


class ImageReader(CalibrationDataReader):
    def __init__(self, x: np.ndarray, batch: int) -> None:
        self.batches = iter([{"input": x[i : i + batch]} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self.batches, None)


def _decoded(path, limit=None):
    ds = open_dataset(path)
    if limit:
        ds = ds.subset(0, limit)
    xs, ys = zip(*[(b.x, b.labels) for b in ds.batches(32, PRESETS["efficientnet-lite"])], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def lite0(tmp_path_factory, imagenet):
    d = tmp_path_factory.mktemp("eco_lite0")
    export("efficientnet_lite0", d / "fp32.onnx")
    return d


def test_reader_and_dataloader_calibrate_lite0(lite0, imagenet):
    fp32 = lite0 / "fp32.onnx"
    x, y = _decoded(imagenet / "calib.txt")
    assert len(x) == 100 and (y >= 0).all()
    from_reader = quantize(fp32, lite0 / "reader.onnx", ImageReader(x, 10))
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=16)
    from_loader = quantize(fp32, lite0 / "loader.onnx", loader)
    assert from_reader.calib_images == from_loader.calib_images == 100

    ex, ey = _decoded(imagenet / "eval.txt", EVAL_IMAGES)
    held_out = DataLoader(TensorDataset(torch.from_numpy(ex), torch.from_numpy(ey)), batch_size=32)
    r = evaluate([fp32, lite0 / "reader.onnx", lite0 / "loader.onnx"], held_out)
    ref, *int8 = r.models
    assert ref.images == EVAL_IMAGES and ref.labelled == EVAL_IMAGES  # labels came with the DataLoader
    assert ref.top1 is not None and ref.top1 > 0.7
    for m in int8:
        assert m.agreement >= 0.98, (m.model, m.agreement)
        assert m.top1_drop is not None
