"""The CLI as a user runs it: real subprocesses, exit codes, one-line errors, no partial output."""

import json
import os
import subprocess
import sys

import onnx
import pytest


def _pythonpath() -> dict[str, str]:
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "int8ptq.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        # a bare environment, but the caller's PYTHONPATH (a worktree's src) still wins
        env={"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", **_pythonpath()},
    )


def _one_line_error(r, needle):
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_quantize_evaluate_benchmark_json(convnet_path, calib_npy, tmp_path):
    out = tmp_path / "int8.onnx"
    r = cli("quantize", convnet_path, "-o", out, "--calib", calib_npy, "--json", tmp_path / "q.json")
    assert r.returncode == 0, r.stderr
    q = json.loads((tmp_path / "q.json").read_text())
    assert q["int8_bytes"] == out.stat().st_size and q["quantized_nodes"] > 0
    np_data = tmp_path / "eval.npz"
    import numpy as np

    np.savez(
        np_data, x=np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32), y=np.arange(8)
    )
    r = cli("evaluate", convnet_path, out, "--data", np_data, "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["models"][1]["agreement"] is not None and e["models"][0]["images"] == 8
    r = cli(
        "benchmark",
        convnet_path,
        out,
        "--batch",
        "1,4",
        "--threads",
        "1",
        "--repeat",
        "2",
        "--json",
        tmp_path / "b.json",
    )
    assert r.returncode == 0, r.stderr
    b = json.loads((tmp_path / "b.json").read_text())
    assert {(x["batch"], x["threads"]) for x in b["rows"]} == {(1, 1), (4, 1)}
    assert b["cpu"] and "speed-up" in r.stdout


@pytest.mark.parametrize("case", ["missing", "not_onnx", "no_image_input", "empty_data", "bad_format"])
def test_bad_input_is_one_line_exit_2_and_no_output(case, convnet_path, calib_npy, tmp_path):
    from onnx import TensorProto, helper

    model, data = convnet_path, calib_npy
    needle = {
        "missing": "not found",
        "not_onnx": "not a valid ONNX",
        "no_image_input": "no image input",
        "empty_data": "no images",
        "bad_format": "not supported",
    }[case]
    if case == "missing":
        model = tmp_path / "nope.onnx"
    elif case == "not_onnx":
        model = tmp_path / "text.onnx"
        model.write_text("hello")
    elif case == "no_image_input":
        model = tmp_path / "vec.onnx"
        vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("x", "y")]
        onnx.save(
            helper.make_model(
                helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", vi[:1], vi[1:]),
                opset_imports=[helper.make_opsetid("", 17)],
            ),
            model,
        )
    elif case == "empty_data":
        data = tmp_path / "emptydir"
        data.mkdir()
    else:
        data = tmp_path / "d.csv"
        data.write_text("a,b")
    out = tmp_path / "out.onnx"
    r = cli("quantize", model, "-o", out, "--calib", data)
    _one_line_error(r, needle)
    assert not out.exists() and not list(tmp_path.glob(".out.onnx.*"))


def test_config_typo_names_the_nearest_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m.onnx\noutput: o.onnx\ncalib: c.txt\nquantization:\n  per_chanel: true\n")
    _one_line_error(cli("run", cfg), "did you mean 'per_channel'")


def test_argparse_errors_are_one_line(tmp_path):
    r = cli("quantize", "m.onnx")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_run_paddleslim_yaml(convnet_path, calib_npy, tmp_path):
    cfg = tmp_path / "paddle.yaml"
    cfg.write_text(f"""version: 1.0
strategies:
    mkldnn_post_training_strategy:
        class: 'MKLDNNPostTrainingQuantStrategy'
        int8_model_save_path: '{tmp_path / "int8_out"}'
        fp32_model_path: '{convnet_path}'
        cpu_math_library_num_threads: 1
compressor:
    epoch: 0
    checkpoint_path: ''
    strategies:
        - mkldnn_post_training_strategy
""")
    r = cli("run", cfg, "--calib", calib_npy)
    assert r.returncode == 0, r.stderr
    onnx.checker.check_model(onnx.load(str(tmp_path / "int8_out" / "model.onnx")))


def test_help_explains_commands():
    r = cli("--help")
    for cmd in ("quantize", "evaluate", "benchmark", "run", "zoo", "demo"):
        assert cmd in r.stdout
    r = cli("quantize", "--help")
    assert "--calib" in r.stdout and "efficientnet-lite" in r.stdout
