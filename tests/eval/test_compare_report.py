"""`compare --report DIR`: markdown with the per-tensor SQNR plot and the full table."""

import json
import os
import subprocess
import sys

from PIL import Image


def test_compare_report(convnet_path, calib_npy, tmp_path):
    env = {"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "int8ptq", *map(str, args)], capture_output=True, text=True, env=env
        )

    int8 = tmp_path / "q.onnx"
    assert cli("quantize", convnet_path, "-o", int8, "--calib", calib_npy, "-q").returncode == 0
    rep = tmp_path / "rep"
    r = cli("compare", convnet_path, int8, "--data", calib_npy, "--report", rep, "--json", "-")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    tensors = res["tensors"]
    text = (rep / "report.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "`" in ln]
    assert len(rows) == len(tensors) > 3  # every tensor, worst first
    assert f"`{tensors[0]['tensor']}`" in rows[0] and f"worst: `{tensors[0]['tensor']}`" in text
    assert "![SQNR per tensor, graph order](sqnr.png)" in text
    order = sorted(t["graph_index"] for t in tensors)
    assert order[0] == 0 and len(set(order)) == len(order)  # the input first, one position each
    with Image.open(rep / "sqnr.png") as im:
        assert im.format == "PNG" and im.width > 800 and im.height > 300
