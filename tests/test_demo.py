"""The README's first command: `int8ptq demo` runs offline, calibrates on sample images and
checks the INT8 model on other photos, each photo's FP32 and INT8 top-1 side by side."""

import json

from int8ptq.demo import CALIB_PHOTOS, EVAL_PHOTOS
from tests.cli.test_app import cli


def test_demo_photos_are_held_out():
    assert not set(CALIB_PHOTOS) & set(EVAL_PHOTOS)


def test_demo_runs_offline(tmp_path):
    r = cli("demo", "-o", tmp_path / "demo", "--json", tmp_path / "d.json")
    assert r.returncode == 0, r.stderr
    for word in ("INT8 model", "speed-up", "agreement", "cosine", "held"):
        assert word in r.stdout
    d = json.loads((tmp_path / "d.json").read_text())
    assert d["quantize"]["int8_bytes"] < 0.3 * d["quantize"]["fp32_bytes"]
    assert d["quantize"]["calib_images"] >= 10
    # evaluated on the held-out photos only, one row per photo with both classes
    assert d["evaluate"]["models"][1]["images"] == len(EVAL_PHOTOS)
    assert [p["photo"] for p in d["photos"]] == EVAL_PHOTOS
    for p in d["photos"]:
        assert 0 <= p["fp32_class"] < 1000 and 0 <= p["int8_class"] < 1000
        assert p["photo"] in r.stdout
    agree = sum(p["fp32_class"] == p["int8_class"] for p in d["photos"]) / len(d["photos"])
    assert abs(agree - d["evaluate"]["models"][1]["agreement"]) < 1e-9
    assert d["evaluate"]["models"][1]["cosine"] > 0.95
    assert (tmp_path / "demo" / "efficientnet_lite0.int8.onnx").exists()
