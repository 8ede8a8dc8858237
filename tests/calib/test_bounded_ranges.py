"""Bounded activations: a Clip's output is ranged up to the Clip's bound where calibration
comes close to it, so the rare large values a histogram fit clips are kept."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from int8ptq.config import QuantConfig
from int8ptq.pipeline import build, calibrate, prepare_model
from tests.conftest import init, make_model


def _conv_relu6_conv() -> object:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 32, 32])
    eye = np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b"], ["c1"], name="conv1"),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["relu6"], name="clip"),
        helper.make_node("Conv", ["relu6", "w2", "b"], ["y"], name="conv2"),
    ]
    inits = [init("w1", eye), init("w2", eye * 0.5), init("b", np.zeros(2, np.float32))]
    inits += [init("lo", np.array(0.0, np.float32)), init("hi", np.array(6.0, np.float32))]
    return make_model(nodes, inits, [x], [y])


def _scale_of(model: object, tensor: str) -> float:
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}  # type: ignore[attr-defined]
    q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor)  # type: ignore[attr-defined]
    return float(consts[q.input[1]])


def _calibration(peak: float) -> np.ndarray:
    """Mostly small values, a sparse tail up to `peak`: the MSE fit clips the tail."""
    x = np.random.default_rng(0).exponential(0.2, (64, 2, 32, 32)).astype(np.float32)
    x[0, 0, 0, :2] = peak
    return x


@pytest.mark.parametrize("peak", [4.0, 5.5])
def test_a_relu6_output_reaching_half_its_bound_is_ranged_up_to_6(peak: float) -> None:
    prep = prepare_model(_conv_relu6_conv())
    plan = prep.plan()
    stats = calibrate(prep, _calibration(peak), QuantConfig(), plan)
    fitted, _ = build(prep, stats, QuantConfig(activation_bounds=False), plan)
    bounded, _ = build(prep, stats, QuantConfig(), plan)
    assert _scale_of(fitted, "relu6") * 255 < 0.95 * peak  # the histogram fit clips the tail
    assert _scale_of(bounded, "relu6") == pytest.approx(6.0 / 255)


def test_a_relu6_output_far_below_its_bound_keeps_the_fitted_range() -> None:
    prep = prepare_model(_conv_relu6_conv())
    plan = prep.plan()
    stats = calibrate(prep, _calibration(2.0), QuantConfig(), plan)
    fitted, _ = build(prep, stats, QuantConfig(activation_bounds=False), plan)
    bounded, _ = build(prep, stats, QuantConfig(), plan)
    assert _scale_of(bounded, "relu6") == _scale_of(fitted, "relu6") < 3.0 / 255
