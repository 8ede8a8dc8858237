"""Bad data is handled or skipped and counted, never fatal."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from int8ptq.api import evaluate, quantize
from int8ptq.data import PRESETS, open_dataset
from tests.conftest import make_model


def _write_images(folder):
    folder.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(folder / "rgb.jpg")
    Image.new("L", (64, 48), 90).save(folder / "gray.png")
    Image.new("CMYK", (64, 48), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.full((48, 64), 40000, np.uint16)).save(folder / "deep16.png")
    Image.new("1", (9000, 9000)).save(folder / "bomb.png")  # 81 Mpixel: over the limit
    (folder / "empty.jpg").write_bytes(b"")
    good = (folder / "rgb.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))


def test_odd_images_are_decoded_or_skipped_and_counted(tmp_path):
    _write_images(tmp_path / "imgs")
    ds = open_dataset(tmp_path / "imgs")
    skipped: list[str] = []
    xs = {
        n: x
        for b in ds.batches(3, PRESETS["torchvision"], skipped)
        for n, x in zip(b.names, b.x, strict=True)
    }
    assert {"rgb.jpg", "gray.png", "cmyk.jpg", "deep16.png"} <= set(xs)
    assert {s.split("/")[-1] for s in skipped} >= {"bomb.png", "empty.jpg", "garbage.png"}
    assert len(xs) + len(skipped) == 8
    # 16-bit is scaled to 8-bit (40000/65535 -> 156), not clipped to white
    deep = xs["deep16.png"] * 58.395 + 123.675  # undo the red channel's normalization
    assert 150 < float(deep[0].mean()) < 162
    cmyk = xs["cmyk.jpg"][:, 100, 100] * np.array([58.395, 57.12, 57.375]) + np.array(
        [123.675, 116.28, 103.53]
    )
    assert cmyk[0] > 200 and cmyk[1] < 60  # CMYK (0,255,255,0) is red


def test_label_file_junk_and_out_of_range_labels(tmp_path, convnet_path):
    _write_images(tmp_path / "imgs")
    lst = tmp_path / "list.txt"
    lst.write_bytes(
        b"imgs/rgb.jpg 3\nimgs/gray.png 999\n\xc3\x28bad utf8 1\nimgs/cmyk.jpg notalabel\n"
        b"imgs/deep16.png -7\n   \n# comment\nimgs/missing.jpg 2\n"
    )
    r = evaluate([convnet_path], lst)
    m = r.models[0]
    assert m.images == 2  # rgb and gray; "cmyk.jpg notalabel" is no file, missing.jpg neither
    assert m.labelled == 1  # 999 is out of range for the 10-class model
    joined = " ".join(r.skipped_images)
    assert "not UTF-8" in joined and "-7 out of range" in joined and "10-class model" in joined
    assert "notalabel" in joined and "missing.jpg" in joined


def test_nan_and_inf_activations_are_reported_never_a_nan_scale(tmp_path):
    f = np.float32
    # Log of x: -inf for x = 0, NaN for x < 0
    nodes = [
        helper.make_node("Log", ["x"], ["l"], name="log"),
        helper.make_node("Conv", ["l", "w"], ["y"], name="conv"),
    ]
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 64, 1, 1], np.ones(128, f))  # 64: not an island
    m = make_model(
        nodes,
        [w],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4, 4])],
    )
    x = np.random.default_rng(0).standard_normal((4, 64, 4, 4)).astype(f)
    x[0, 0, 0, 0] = 0.0
    with pytest.warns(UserWarning, match="'l' had .* NaN/Inf"):
        r = quantize(m, tmp_path / "q.onnx", [x])
    assert r.nonfinite["l"] > 0
    scales = [
        onnx.numpy_helper.to_array(t)
        for t in onnx.load(str(tmp_path / "q.onnx")).graph.initializer
        if t.name.endswith(tuple(f"_scale_{i}" for i in range(100)))
    ]
    assert scales and all(np.isfinite(s).all() and (s > 0).all() for s in scales)
