"""The CLI as a user runs it: real subprocesses, exit codes, one-line errors, no partial output."""

import json
import os
import subprocess
import sys

import onnx
import pytest


def _pythonpath() -> dict[str, str]:
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


def cli(*args, cwd=None, timeout=None):
    return subprocess.run(
        [sys.executable, "-m", "int8ptq.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
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
        "--batch-size",
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


@pytest.mark.parametrize(
    "case", ["missing", "not_onnx", "no_image_input", "empty_data", "bad_format", "already_quantized"]
)
def test_bad_input_is_one_line_exit_2_and_no_output(case, convnet_path, calib_npy, tmp_path):
    from onnx import TensorProto, helper

    model, data = convnet_path, calib_npy
    needle = {
        "missing": "not found",
        "not_onnx": "not a valid ONNX",
        "no_image_input": "no image input",
        "empty_data": "no images",
        "bad_format": "not supported",
        "already_quantized": "the model is already quantized (DequantizeLinear x",
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
    elif case == "already_quantized":
        from int8ptq.api import quantize

        model = tmp_path / "int8.onnx"
        quantize(convnet_path, model, calib_npy)
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


def _all_parsers():
    import argparse

    from int8ptq.cli import build_parser

    todo, seen = [build_parser()], []
    while todo:
        p = todo.pop()
        seen.append(p)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                todo.extend(a.choices.values())
    return seen


def test_every_option_has_help_and_a_shown_default_and_every_command_examples():
    import argparse

    from int8ptq.cli.options import Formatter

    parsers = _all_parsers()
    assert len(parsers) >= 12  # int8ptq, nine commands, zoo list and export
    for p in parsers:
        assert "examples:" in (p.epilog or ""), p.prog
        fmt = Formatter(p.prog)
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if a.help == argparse.SUPPRESS:
                continue  # a deprecated spelling
            text = fmt._get_help_string(a)
            assert a.help, (p.prog, a.dest)
            assert not a.option_strings or a.required or "default" in text, (p.prog, a.option_strings)


def test_quantize_and_tune_share_every_quantization_option():
    parsers = {p.prog: p for p in _all_parsers()}

    def opts(prog):
        return {s for a in parsers[prog]._actions for s in a.option_strings}

    quantize, tune = opts("int8ptq quantize"), opts("int8ptq tune")
    assert quantize - {"-o", "--output", "--calib"} <= tune
    for flag in ("--method", "--exclude", "--per-tensor", "--rounding", "--calib-images", "--preset"):
        assert flag in tune


def test_json_dash_is_stdout_only_and_warnings_go_to_stderr(convnet_path, tmp_path):
    import numpy as np
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "q.onnx"
    r = cli("quantize", convnet_path, "-o", out, "--calib", tmp_path, "--json", "-", "-v")
    assert r.returncode == 0, r.stderr
    q = json.loads(r.stdout)  # stdout is the JSON and nothing else
    assert q["calib_images"] == 3 and len(q["skipped_images"]) == 1
    assert "skipped 1 unreadable" in r.stderr and "wrote" in r.stderr  # table and warning on stderr
    assert "calibrate:" in r.stderr and "build:" in r.stderr  # -v: per-stage timings
    assert not (tmp_path / "-").exists()


def test_quiet_prints_no_table(convnet_path, calib_npy, tmp_path):
    r = cli("quantize", convnet_path, "-o", tmp_path / "q.onnx", "--calib", calib_npy, "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "wrote" not in r.stderr


def test_benchmark_batch_size_list_and_old_spelling(convnet_path, tmp_path):
    for flag in ("--batch-size", "--batch"):
        r = cli(
            "benchmark", convnet_path, flag, "1,2", "--threads", "1", "--repeat", "1", "--json", "-", "-q"
        )
        assert r.returncode == 0, r.stderr
        assert sorted(x["batch"] for x in json.loads(r.stdout)["rows"]) == [1, 2]
        assert ("--batch is deprecated; use --batch-size" in r.stderr) == (flag == "--batch")


def test_python_m_int8ptq_runs_a_command(convnet_path, calib_npy, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "int8ptq",
            "quantize",
            convnet_path,
            "-o",
            tmp_path / "q.onnx",
            "--calib",
            calib_npy,
        ],
        capture_output=True,
        text=True,
        env={"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "q.onnx").exists()


def test_quantize_runtime_openvino_is_recorded_and_a_wrong_one_refused(convnet_path, calib_npy, tmp_path):
    out = tmp_path / "ov.onnx"
    js = tmp_path / "q.json"
    r = cli("quantize", convnet_path, "-o", out, "--calib", calib_npy, "--runtime", "openvino", "--json", js)
    assert r.returncode == 0, r.stderr
    flags = ("--calib", calib_npy, "--runtime", "openvino")
    shown = cli("quantize", convnet_path, "-o", tmp_path / "s.onnx", *flags)
    text = shown.stdout + shown.stderr
    assert "laid out for" in text and "openvino" in text
    assert json.loads(js.read_text())["settings"]["runtime"] == "openvino"
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert meta["int8ptq.runtime"] == "openvino"
    bad_out = tmp_path / "x.onnx"
    bad = cli("quantize", convnet_path, "-o", bad_out, "--calib", calib_npy, "--runtime", "tensorrt")
    assert bad.returncode == 2 and "--runtime" in bad.stderr
    assert not bad_out.exists()


def test_exclude_takes_a_comma_list_and_refuses_a_name_the_model_lacks(convnet_path, calib_npy, tmp_path):
    out = tmp_path / "int8.onnx"
    r = cli("quantize", convnet_path, "-o", out, "--calib", calib_npy, "--exclude", "pw,conv1")
    assert r.returncode == 0, r.stderr
    m = onnx.load(str(out))
    inits = {t.name: t for t in m.graph.initializer}
    for name in ("pw", "conv1"):  # both kept FP32: their weights are float initializers
        node = next(n for n in m.graph.node if n.name == name)
        assert inits[node.input[1]].data_type == onnx.TensorProto.FLOAT
    out.unlink()
    # a typo would silently quantize the layer meant to stay FP32
    typo = ("--exclude", "Softmax", "--exclude", "pww")
    r = cli("quantize", convnet_path, "-o", out, "--calib", calib_npy, *typo)
    _one_line_error(r, "exclude 'pww': no node or op type of that name in the model; did you mean 'pw'?")
    assert not out.exists()
