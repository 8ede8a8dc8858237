"""Range histograms hold a sample of each tensor (2048 values per calibration sample by
default) or, with `histogram_samples=None`, every value: then a peak between the sample's grid
points reaches the histogram and the range."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from int8ptq.config import QuantConfig
from int8ptq.pipeline import calibrate, prepare_model
from tests.conftest import init, make_model


def _conv_relu_conv() -> object:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 64, 64])
    eye = np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w", "b"], ["y"], name="conv2"),
    ]
    return make_model(nodes, [init("w", eye), init("b", np.zeros(2, np.float32))], [x], [y])


def _calibration() -> np.ndarray:
    x = np.random.default_rng(0).random((8, 2, 64, 64)).astype(np.float32)
    x[3, 1, 33, 17] = 40.0  # odd row and column: off the stride-2 grid of a 2048-value sample
    return x


@pytest.mark.parametrize("samples", [2048, None])
def test_every_value_reaches_the_histogram_only_when_asked(samples: int | None) -> None:
    prep = prepare_model(_conv_relu_conv())
    plan = prep.plan()
    stats = calibrate(prep, _calibration(), QuantConfig(histogram_samples=samples), plan)
    obs = stats.ranges["r"]
    assert obs.count == 8 * 2 * 64 * 64
    if samples is None:
        assert obs.hi == pytest.approx(40.0)
        assert obs.counts.sum() == obs.count  # every value is in the histogram
    else:
        assert obs.hi < 1.0  # the peak fell between the grid points
        assert obs.counts.sum() < obs.count / 3


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
