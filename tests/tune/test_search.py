"""Accuracy-aware tuning on a real network with a planted outlier channel, and interruption."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from int8ptq.config import QuantConfig
from int8ptq.tune import TuneConfig, tune
from int8ptq.zoo.export import export

PLANTED = "/_blocks.0/_project_conv/Conv"
CONSUMER = "/_blocks.1/_expand_conv/Conv"


def plant_outlier(src, dst, channel: int = 3, alpha: float = 300.0) -> None:
    """Scale one output channel of PLANTED by alpha and the matching input channel of its only
    consumer by 1/alpha: the function is unchanged, the tensor between gets one huge channel."""
    m = onnx.load(str(src))
    inits = {t.name: t for t in m.graph.initializer}
    nodes = {n.name: n for n in m.graph.node}

    def scale(name, fn):
        t = inits[name]
        t.CopyFrom(numpy_helper.from_array(fn(numpy_helper.to_array(t).copy()), name))

    def rows(w):
        w[channel] *= alpha
        return w

    def cols(w):
        w[:, channel] /= alpha
        return w

    scale(nodes[PLANTED].input[1], rows)
    if len(nodes[PLANTED].input) > 2:
        scale(nodes[PLANTED].input[2], rows)
    scale(nodes[CONSUMER].input[1], cols)
    onnx.save(m, str(dst))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    export("efficientnet_lite0", d / "lite0.onnx")
    plant_outlier(d / "lite0.onnx", d / "planted.onnx")
    return d


def test_tune_falls_back_exactly_the_planted_layer(planted, imagenet):
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    a = ort.InferenceSession(str(planted / "lite0.onnx")).run(None, {"input": x})[0]
    b = ort.InferenceSession(str(planted / "planted.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)  # planting kept the function
    out = planted / "tuned.onnx"
    r = tune(
        planted / "planted.onnx",
        out,
        imagenet / "calib.txt",
        imagenet / "eval.txt",
        config=QuantConfig(calib_images=32),
        tcfg=TuneConfig(max_drop=0.015, metric="agreement", eval_images=200),
    )
    assert r.trials[0].drop is None or r.trials[0].drop > 0.015  # the outlier ruins the defaults
    assert r.met and r.best is not None
    assert r.sensitivity[0].layer == PLANTED  # the most harmful layer is the planted one
    assert r.best.fallback == [PLANTED, CONSUMER]  # it and the layer reading its output; no more
    assert out.exists() and (planted / "tuned-tune" / "report.md").exists()
    text = (planted / "tuned-tune" / "report.md").read_text()
    assert PLANTED in text and "within budget" in text
    assert (planted / "tuned-tune" / "trials.png").stat().st_size > 0


def test_interrupt_leaves_best_model_and_report(planted, imagenet, tmp_path):
    out = tmp_path / "tuned.onnx"
    args = [
        sys.executable,
        "-m",
        "int8ptq.cli",
        "tune",
        str(planted / "planted.onnx"),
        "-o",
        str(out),
        "--calib",
        str(imagenet / "calib.txt"),
        "--eval",
        str(imagenet / "eval.txt"),
        "--max-drop",
        "0",
        "--metric",
        "agreement",
        "--eval-images",
        "1200",  # 100% agreement on all of them: many trials, so the signal lands mid-run
        "--json",
        str(tmp_path / "t.json"),
    ]
    p = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"INT8PTQ_QUIET": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        # a shell running the suite in the background ignores SIGINT, and children inherit
        # that; Ctrl-C in a terminal is what this test stands for
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not out.exists() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert out.exists(), p.communicate()[1]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    onnx.checker.check_model(onnx.load(str(out)))
    ort.InferenceSession(str(out))
    assert (tmp_path / "tuned-tune" / "report.md").exists()
    assert json.loads((tmp_path / "t.json").read_text())["stopped"] == "interrupted"


def test_time_budget_stops_after_the_first_trial(planted, imagenet, tmp_path):
    """A budget already spent still yields the defaults' model (the first trial always
    finishes) and nothing more; no wall-clock assertion, so load cannot change the outcome."""
    r = tune(
        planted / "planted.onnx",
        tmp_path / "t.onnx",
        imagenet / "calib.txt",
        imagenet / "eval.txt",
        config=QuantConfig(calib_images=32),
        tcfg=TuneConfig(max_drop=0.0, metric="agreement", time_budget=1e-9, eval_images=200),
    )
    assert r.stopped == "time budget" and not r.met
    assert [t.name for t in r.trials] == ["defaults"]
    assert r.best is r.trials[0] and onnx.load(tmp_path / "t.onnx").graph.node
