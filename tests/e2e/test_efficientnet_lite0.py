"""End to end through the CLI on the shared ImageNet subset, with the real Lite0 weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "int8ptq.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )


@pytest.fixture(scope="module")
def lite0(tmp_path_factory, imagenet) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lite0")
    fp32, int8 = d / "fp32.onnx", d / "int8.onnx"
    r = cli("zoo", "export", "efficientnet_lite0", "-o", fp32)
    assert r.returncode == 0, r.stderr
    r = cli("quantize", fp32, "-o", int8, "--calib", imagenet / "calib.txt", "--json", d / "q.json")
    assert r.returncode == 0, r.stderr
    r = cli("evaluate", fp32, int8, "--data", imagenet / "eval.txt", "--threads", "2", "--json", d / "e.json")
    assert r.returncode == 0, r.stderr
    return {"fp32": fp32, "int8": int8, "q": d / "q.json", "e": d / "e.json"}


def test_int8_accuracy_close_to_fp32(lite0):
    e = json.loads(lite0["e"].read_text())
    fp32, int8 = e["models"]
    assert fp32["images"] == 1200
    assert abs(fp32["top1"] - 0.8275) < 0.005  # the reference figure for this preprocessing
    assert int8["top1_drop"] <= 0.01
    assert int8["agreement"] >= 0.97 and int8["cosine"] >= 0.99


def test_int8_file_is_small_and_fully_quantized(lite0):
    q = json.loads(lite0["q"].read_text())
    assert q["int8_bytes"] <= 0.30 * lite0["fp32"].stat().st_size
    assert q["calib_images"] == 100 and q["float_nodes"] == {}
    m = onnx.load(str(lite0["int8"]))
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    assert len(convs) == 49
    assert all("dequantized" in n.input[1] for n in convs)  # every Conv reads int8 weights
