"""The README's first command: `int8ptq demo` runs offline and prints size, speed and agreement."""

import json

from tests.test_cli import cli


def test_demo_runs_offline(tmp_path):
    r = cli("demo", "-o", tmp_path / "demo", "--json", tmp_path / "d.json")
    assert r.returncode == 0, r.stderr
    for word in ("INT8 model", "speed-up", "agreement", "cosine"):
        assert word in r.stdout
    d = json.loads((tmp_path / "d.json").read_text())
    assert d["quantize"]["int8_bytes"] < 0.3 * d["quantize"]["fp32_bytes"]
    assert d["quantize"]["calib_images"] >= 5 and d["evaluate"]["models"][1]["cosine"] > 0.95
    assert (tmp_path / "demo" / "efficientnet_lite0.int8.onnx").exists()
