"""Preprocessing flags: a preset overridden one field at a time (CLI, YAML, Python), recorded in
the INT8 model's metadata and reused by evaluate and compare."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from int8ptq.config_yaml import load_run_config
from int8ptq.data.model_input import image_input, resolve_input
from int8ptq.data.presets import PRESETS, Preprocessing
from int8ptq.errors import UserError
from tests.conftest import tiny_convnet


def cli(*args):
    env = {"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "int8ptq", *map(str, args)], capture_output=True, text=True, env=env
    )


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(6):
        rgb = np.random.default_rng(i).integers(0, 255, (30 + i, 40, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(d / f"{i}.png")
    return d


def test_one_field_overrides_only_itself():
    base = PRESETS["caffe"]
    p = Preprocessing(preset="caffe", std=(2, 2, 2)).apply(base, None)
    assert p.std == (2.0, 2.0, 2.0) and (p.mean, p.bgr, p.resize, p.crop) == (base.mean, True, 256, 224)
    p = Preprocessing(bgr=False, size=112).apply(base, None)
    assert not p.bgr and p.crop == 112 and p.resize == 128  # resize keeps its ratio to the crop
    assert Preprocessing(resize=0).apply(base, None).resize is None
    with pytest.raises(UserError, match="does not match the model's 16x16"):
        Preprocessing(size=32).apply(base, 16)
    with pytest.raises(UserError, match="std must be positive"):
        Preprocessing(std=(1, 0, 1))


def test_flags_are_recorded_and_evaluate_reuses_them(tmp_path, photos):
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "q.onnx"
    onnx.save(tiny_convnet(), fp32)
    flags = ["--preset", "caffe", "--std", "58,57,57", "--resize", "20", "--no-bgr"]
    r = cli("quantize", fp32, "-o", int8, "--calib", photos, *flags, "--json", "-")
    assert r.returncode == 0, r.stderr
    used = json.loads(r.stdout)["settings"]["preprocessing"]
    want = {"resize": 20, "size": 16, "mean": list(PRESETS["caffe"].mean), "std": [58.0, 57.0, 57.0]}
    assert used == {**want, "bgr": False, "layout": "NCHW", "preset": "caffe"}
    q = onnx.load(str(int8))
    _, p = resolve_input(q, None, image_input(q))  # what any later command reads from the model
    assert (p.resize, p.crop, p.std, p.bgr) == (20, 16, (58.0, 57.0, 57.0), False)
    r = cli("evaluate", fp32, int8, "--data", photos, "--json", "-")  # no flags: the recorded values
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)["preprocessing"]
    assert (e["resize"], e["size"], e["std"], e["bgr"]) == (20, 16, [58.0, 57.0, 57.0], False)
    r = cli("evaluate", fp32, int8, "--data", photos, "--mean", "1,2,3", "--json", "-")  # one field changed
    e = json.loads(r.stdout)["preprocessing"]
    assert e["mean"] == [1.0, 2.0, 3.0] and e["std"] == [58.0, 57.0, 57.0] and e["resize"] == 20


def test_yaml_preset_mapping(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text(
        "model: m.onnx\noutput: q.onnx\ncalib: c\nquantization:\n"
        "  preset: {preset: inception, mean: [1, 2, 3], layout: NHWC}\n"
    )
    pre = load_run_config(cfg).quantization.preset
    assert pre == Preprocessing(preset="inception", mean=(1.0, 2.0, 3.0), layout="NHWC")
    cfg.write_text("model: m.onnx\noutput: q.onnx\nquantization:\n  preset: {mena: [1, 2, 3]}\n")
    with pytest.raises(UserError, match="did you mean 'mean'"):
        load_run_config(cfg)


def test_layout_flag_feeds_an_ambiguous_model(tmp_path, photos):
    """All four input dimensions dynamic: read as NCHW unless --layout NHWC says otherwise."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "a", "b", "c"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h", "w"])
    w = onnx.numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w"
    )
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w"], ["y"], pads=[1, 1, 1, 1]),
    ]
    m = helper.make_model(
        helper.make_graph(nodes, "nhwc", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 17)]
    )
    src = tmp_path / "nhwc.onnx"
    onnx.save(m, src)
    flags = ["--preset", "efficientnet-lite", "--size", "24"]
    assert cli("quantize", src, "-o", tmp_path / "a.onnx", "--calib", photos, *flags).returncode != 0
    r = cli(
        "quantize",
        src,
        "-o",
        tmp_path / "b.onnx",
        "--calib",
        photos,
        *flags,
        "--layout",
        "nhwc",
        "--json",
        "-",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["settings"]["preprocessing"]["layout"] == "NHWC"
