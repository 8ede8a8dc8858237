"""Range histograms hold a sample of each tensor (about 65536 values per calibration sample by
default, on a strided grid over H and W) or, with `histogram_samples=None`, every value: then a
peak between the grid points reaches the histogram and the range."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from int8ptq.config import QuantConfig
from int8ptq.pipeline import calibrate, prepare_model
from tests.conftest import init, make_model


def _conv_relu_conv() -> object:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 256, 256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 256, 256])
    eye = np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w", "b"], ["y"], name="conv2"),
    ]
    return make_model(nodes, [init("w", eye), init("b", np.zeros(2, np.float32))], [x], [y])


def _calibration() -> np.ndarray:
    x = np.random.default_rng(0).random((4, 2, 256, 256)).astype(np.float32)
    x[3, 1, 33, 17] = 40.0  # odd row and column: off the grids of 65536 (stride 2) and 2048 (8)
    return x


@pytest.mark.parametrize("config", [{"histogram_samples": 2048}, {}, {"histogram_samples": None}])
def test_every_value_reaches_the_histogram_only_when_asked(config: dict) -> None:
    prep = prepare_model(_conv_relu_conv())
    plan = prep.plan()
    stats = calibrate(prep, _calibration(), QuantConfig(**config), plan)
    obs = stats.ranges["r"]
    assert obs.count == 4 * 2 * 256 * 256
    if config.get("histogram_samples", 0) is None:
        assert obs.hi == pytest.approx(40.0)
        assert obs.counts.sum() == obs.count  # every value is in the histogram
    else:
        assert obs.hi < 1.0  # the peak fell between the grid points
        assert obs.counts.sum() <= obs.count / 4
        if not config:  # the default: a stride of 2, a quarter of the values
            assert obs.counts.sum() == obs.count / 4


def test_histogram_samples_must_be_positive() -> None:
    with pytest.raises(ValueError, match="histogram_samples"):
        QuantConfig(histogram_samples=0)


def test_the_cli_takes_a_count_or_all() -> None:
    import argparse

    from int8ptq.cli.options import samples_or_all

    assert samples_or_all("all") is None and samples_or_all("ALL") is None
    assert samples_or_all("4096") == 4096
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
        samples_or_all("0")


def test_the_cli_flag_reaches_the_summary(convnet_path, calib_npy, tmp_path) -> None:  # noqa: ANN001
    import json

    from tests.cli.test_app import cli

    for flag, want in (("all", None), ("4096", 4096)):
        out, summary = tmp_path / f"{flag}.onnx", tmp_path / f"{flag}.json"
        r = cli(
            "quantize",
            convnet_path,
            "-o",
            out,
            "--calib",
            calib_npy,
            "--histogram-samples",
            flag,
            "--json",
            summary,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(summary.read_text())["settings"]["histogram_samples"] == want


@pytest.mark.parametrize(("value", "want"), [("all", None), (4096, 4096)])
def test_yaml_takes_a_count_or_all(value: object, want: int | None, tmp_path) -> None:  # noqa: ANN001
    from int8ptq.config_yaml import load_run_config

    path = tmp_path / "job.yaml"
    path.write_text(f"model: m.onnx\noutput: o.onnx\nquantization:\n  histogram_samples: {value}\n")
    assert load_run_config(path).quantization.histogram_samples == want
