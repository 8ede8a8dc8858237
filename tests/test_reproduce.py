import json
import os
import subprocess
import sys


def test_reproduce_prints_the_table_and_resumes(tmp_path, imagenet):
    out = tmp_path / "repro"
    args = [
        sys.executable,
        "-m",
        "int8ptq.cli",
        "reproduce",
        "--data",
        str(imagenet / "val.txt"),
        "--models",
        "mobilenet_v2",
        "--random-weights",
        "--warmup",
        "8",
        "--limit",
        "16",
        "--out",
        str(out),
        "--json",
        str(tmp_path / "r.json"),
    ]
    env = {"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "mobilenet_v2" in r.stdout and "n/m" in r.stdout
    rows = json.loads((tmp_path / "r.json").read_text())
    assert rows[0]["images"] == 16 and rows[0]["fp32_top1"] is None and rows[0]["speedup_b1"] > 0
    result = out / "results" / "mobilenet_v2.json"
    stamp = result.stat().st_mtime_ns
    (out / "mobilenet_v2.int8.onnx").unlink()
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert result.stat().st_mtime_ns == stamp  # resumed: the finished model was not redone
    assert not (out / "mobilenet_v2.int8.onnx").exists()
    result.write_text("{corrupt")
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and json.loads(result.read_text())["model"] == "mobilenet_v2"
