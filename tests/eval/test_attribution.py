"""`compare --attribute`: each tensor's share of the output error, measured with that tensor
alone back in float, names the tensor the output pays for (not the one with the worst SQNR)
and the layers to keep in FP32 for it."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from int8ptq.eval.compare import compare
from tests.conftest import hotspot_model


def _quantized(tmp_path):  # noqa: ANN001, ANN202
    """The hotspot model of tests/test_hotspots.py, quantized with its hotspot left INT8: the
    step of `t` rounds its small channel away, and `b` amplifies that by 1000."""
    src, out = tmp_path / "m.onnx", tmp_path / "q.onnx"
    onnx.save(hotspot_model(), src)
    x = np.random.default_rng(1).standard_normal((32, 1, 24, 24)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    quantize(src, out, x, config=QuantConfig(float_hotspots=False))
    return src, out, x


def test_the_tensor_the_output_pays_for_takes_the_share(tmp_path):
    src, out, x = _quantized(tmp_path)
    r = compare(src, out, [x], limit=32, attributed=True)
    shares = {t.tensor: t for t in r.tensors}
    assert set(shares) >= {"x", "t", "r", "v"}
    t = shares["t"]
    assert t.error_share is not None and t.error_share > 0.9
    assert sorted(t.exclude) == ["a", "b"]  # its producer and its reader
    assert t.compute_share is not None and t.compute_share < 0.02  # two 1x1 Convs of few channels
    others = [s.error_share for s in r.tensors if s.tensor != "t"]
    assert all(s is not None and s < 0.1 for s in others)
    assert shares["r"].exclude == ("b", "c")  # through the Relu folded into b's output range
    assert compare(src, out, [x], limit=32).tensors[0].error_share is None  # measured only if asked


def test_cli_prints_the_shares_and_the_exclude_that_keeps_the_largest_in_fp32(tmp_path):
    src, out, _ = _quantized(tmp_path)
    env = {"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "int8ptq", "compare", str(src), str(out), "--data", str(tmp_path / "x.npy")]
    cmd += ["--attribute", "--json", str(tmp_path / "c.json"), "--report", str(tmp_path / "rep")]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "--exclude a,b" in r.stdout.replace("\n", "")
    rows = json.loads((tmp_path / "c.json").read_text())["tensors"]
    assert max(rows, key=lambda t: t["error_share"])["tensor"] == "t"
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| 1 | `t` |" in report.split("## Where the output error comes from")[1]
