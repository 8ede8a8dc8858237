import pytest

from int8ptq.calib.ranges import RangeMethod
from int8ptq.config_yaml import load_run_config
from int8ptq.errors import UserError
from int8ptq.quant.rules import Runtime


def test_our_yaml_maps_to_frozen_dataclasses(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("""model: fp32.onnx
output: int8.onnx
calib: calib.txt
threads: 2
quantization:
  method: kl
  per_channel: false
  equalize: true
  exclude: [conv1, Softmax]
  runtime: openvino
evaluate:
  data: eval.txt
benchmark:
  batch_sizes: [1, 8]
""")
    c = load_run_config(p)
    assert c.quantization.method is RangeMethod.KL and c.quantization.exclude == ("conv1", "Softmax")
    assert c.quantization.equalize is True and c.quantization.per_channel is False
    assert c.quantization.runtime is Runtime.OPENVINO
    assert c.evaluate.data == "eval.txt" and c.benchmark.batch_sizes == (1, 8) and c.threads == 2
    with pytest.raises(AttributeError):
        c.quantization.method = "minmax"  # frozen


@pytest.mark.parametrize(
    "body,needle",
    [
        ("model: m\noutput: o\nthreds: 2\n", "did you mean 'threads'"),
        ("model: m\noutput: o\nquantization:\n  method: entropy\n", "not one of"),
        ("model: m\noutput: o\nquantization:\n  runtime: tensorrt\n", "not one of"),
        ("model: m\noutput: o\nthreads: two\n", "expected int"),
        ("model: m\noutput: o\nquantization:\n  equalize: yes please\n", "expected bool"),
        ("output: o\n", "missing required key"),
        ("- a\n- b\n", "mapping"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_yaml_is_a_user_error(tmp_path, body, needle):
    p = tmp_path / "c.yaml"
    p.write_text(body)
    with pytest.raises(UserError, match=needle):
        load_run_config(p)


def test_paddleslim_layout_maps_paths_and_threads(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("""version: 1.0
strategies:
    s:
        class: 'MKLDNNPostTrainingQuantStrategy'
        int8_model_save_path: 'OUT'
        fp32_model_path: 'M.onnx'
        cpu_math_library_num_threads: 3
        warmup_size: 5
""")
    with pytest.raises(UserError, match="unknown strategy key 'warmup_size'"):
        load_run_config(p)
    p.write_text(p.read_text().replace("        warmup_size: 5\n", ""))
    c = load_run_config(p)
    assert (c.model, c.output, c.threads) == ("M.onnx", "OUT/model.onnx", 3)


def test_conftest_honours_int8ptq_imagenet(tmp_path):
    """README: INT8PTQ_IMAGENET points the tests at another copy of the images."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = "import tests.conftest as c; print(c.SHARED)"
    env = {**os.environ, "INT8PTQ_IMAGENET": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path), out.stderr


def test_ruff_lints_every_python_file():
    """No source folder escapes the linter (ruff's default excludes skip names like dist/)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    folders = [d for d in ("src", "tests", "benchmarks", "examples") if (root / d).is_dir()]
    assert "for d in src tests benchmarks examples" in (root / "scripts/test").read_text()
    cmd = [sys.executable, "-m", "ruff", "check", "--show-files", *folders]
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    linted = {Path(line).resolve() for line in out.stdout.split() if line.endswith(".py")}
    files = {p.resolve() for d in folders for p in (root / d).rglob("*.py") if "__pycache__" not in p.parts}
    assert files and files <= linted, sorted(str(p) for p in files - linted)[:5]
