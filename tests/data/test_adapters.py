"""Data in the peers' forms: onnxruntime CalibrationDataReader, torch DataLoader and tensors,
nncf.Dataset, dict batches. Real objects of those libraries, real calibration and inference."""

import numpy as np
import onnx
import pytest
import torch
from onnxruntime.quantization import CalibrationDataReader
from torch.utils.data import DataLoader, TensorDataset

from int8ptq.api import evaluate, quantize
from int8ptq.config import QuantConfig
from int8ptq.data.adapters import as_items, item
from tests.conftest import run, tiny_convnet


class Reader(CalibrationDataReader):
    """An onnxruntime calibration reader, as its users write them (with rewind)."""

    def __init__(self, name, x, batch):
        self.name, self.x, self.batch, self.i = name, x, batch, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        b = self.x[self.i : self.i + self.batch]
        self.i += self.batch
        return {self.name: b}

    def rewind(self):
        self.i = 0


@pytest.fixture
def images():
    rng = np.random.default_rng(5)
    return rng.standard_normal((24, 3, 16, 16)).astype(np.float32), rng.integers(0, 10, 24)


def test_item_forms():
    x = np.zeros((2, 3, 4, 4), np.float32)
    assert item(x)[1] is None and item(torch.zeros(2, 3, 4, 4))[0].shape == (2, 3, 4, 4)
    inputs, y = item([torch.zeros(2, 3, 4, 4), torch.tensor([3, 4])])  # DataLoader over (image, label)
    assert inputs.shape == (2, 3, 4, 4) and y.tolist() == [3, 4]
    inputs, y = item({"input": x, "labels": np.array([1, 2])})
    assert list(inputs) == ["input"] and y.tolist() == [1, 2]
    assert item((x, np.array([0.5, 0.7])))[1] is None  # float targets are not class labels
    assert item([torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)])[0].shape == (2, 3, 4, 4)  # two samples


def test_every_form_calibrates_to_the_same_model(tmp_path, images):
    x, y = images
    name = tiny_convnet().graph.input[0].name
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    import nncf

    forms = {
        "arrays": [x[i : i + 8] for i in range(0, 24, 8)],
        "reader": Reader(name, x, 8),
        "dicts": [{name: x[i : i + 8]} for i in range(0, 24, 8)],
        "loader": loader,
        "tensor": torch.from_numpy(x),
        "nncf": nncf.Dataset(loader, lambda b: b[0]),
    }
    cfg = QuantConfig(batch_size=8)
    models = {}
    for k, data in forms.items():
        out = tmp_path / f"{k}.onnx"
        r = quantize(tiny_convnet(), out, data, config=cfg)
        assert r.calib_images == 24, k
        models[k] = out.read_bytes()
    assert len(set(models.values())) == 1  # the same images in the same batches: the same model


def test_labels_from_python_data_reach_evaluate(tmp_path, images):
    x, y = images
    fp32 = tmp_path / "m.onnx"
    onnx.save(tiny_convnet(), fp32)
    truth = run(tiny_convnet(), x).argmax(1)
    y = np.where(np.arange(24) % 3 == 0, (truth + 1) % 10, truth)  # 8 of 24 wrong on purpose
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=5)
    import nncf

    for data in (loader, nncf.Dataset(loader, lambda b: b[0]), [{"x": x, "labels": y}]):
        m = evaluate([fp32], data).models[0]
        assert m.labelled == 24 and m.top1 == pytest.approx(16 / 24)


def test_reader_is_read_twice_when_equalization_needs_it(tmp_path, images):
    x, _ = images
    name = tiny_convnet().graph.input[0].name
    r = quantize(tiny_convnet(), tmp_path / "q.onnx", Reader(name, x, 8), config=QuantConfig(equalize=True))
    assert r.calib_images == 24 and r.settings["equalized_layers"] > 0


def test_unreadable_data_is_a_one_line_error():
    from int8ptq.errors import UserError

    with pytest.raises(UserError, match="cannot read data of type int"):
        list(as_items(3))
