"""Per-op quantization rules: which inputs are activations, weights and bias, and how the
output is quantized. Each entry names the integer kernel onnxruntime fuses it into."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import onnx

from int8ptq.ir.ops import attr, group, weight_out_axis

ALL = -1  # every input (Concat)


class Runtime(str, enum.Enum):
    """The runtime whose kernels the QDQ layout is made for (the model runs on both)."""

    # every quantized op's output too: onnxruntime fuses DQ -> Conv -> Q into QLinearConv only
    # with the Q after it
    ONNXRUNTIME = "onnxruntime"
    # outputs only float ops read stay float: OpenVINO runs the INT8 Conv with a float output
    # and fuses the float activation after it (HardSwish, SiLU) into the convolution
    OPENVINO = "openvino"


@dataclass(frozen=True)
class OpRule:
    activations: tuple[int, ...] = (0,)  # input slots quantized as uint8 activations
    weight: int | None = None  # slot of a constant weight, quantized int8 per channel
    weight_axis: Callable[[onnx.NodeProto], int] | None = None  # output-channel axis
    bias: int | None = None  # slot of a float bias, quantized int32
    shares_scale: bool = False  # output reuses the input's scale: data movement, no requant
    fuses_activation: bool = False  # a following Relu/Clip(0, x) folds into the output range
    runtimes: frozenset[Runtime] = frozenset(Runtime)  # the runtimes with an integer kernel for it
    applies: Callable[[onnx.NodeProto], bool] | None = None  # None: every node of the op type
    # onnxruntime also has a kernel writing a float output (no Q after it): an output only
    # float ops read stays float there too, as on OpenVINO
    float_output: bool = False


def _nearest(node: onnx.NodeProto) -> bool:
    """Resize picking input values (mode nearest, ONNX's default): exact on a shared scale."""
    return attr(node, "mode", b"nearest") in (b"nearest", "nearest")


RULES: dict[str, OpRule] = {
    # QLinearConv
    "Conv": OpRule(weight=1, weight_axis=weight_out_axis, bias=2, fuses_activation=True),
    # OpenVINO's INT8 deconvolution; onnxruntime has none (its QDQ form is slower than FP32).
    # Ungrouped only: a grouped weight (C, O/g, kh, kw) has no one axis of all output channels.
    "ConvTranspose": OpRule(
        weight=1,
        weight_axis=weight_out_axis,
        bias=2,
        fuses_activation=True,
        runtimes=frozenset({Runtime.OPENVINO}),
        applies=lambda n: group(n) == 1,
    ),
    # QGemm (a float output when no Q follows)
    "Gemm": OpRule(weight=1, weight_axis=weight_out_axis, bias=2, fuses_activation=True, float_output=True),
    # QLinearMatMul, or MatMulIntegerToFloat when no Q follows
    "MatMul": OpRule(weight=1, weight_axis=weight_out_axis, fuses_activation=True, float_output=True),
    # QLinearAdd
    "Add": OpRule(activations=(0, 1), fuses_activation=True),
    # QLinearMul; OpenVINO fuses a float SiLU or SE-gate Mul into the convolution before it
    "Mul": OpRule(activations=(0, 1), fuses_activation=True, runtimes=frozenset({Runtime.ONNXRUNTIME})),
    # QLinearConcat (inputs and output share one scale: no requantization)
    "Concat": OpRule(activations=(ALL,), shares_scale=True),
    # QLinearAveragePool / QLinearGlobalAveragePool
    "AveragePool": OpRule(fuses_activation=True),
    "GlobalAveragePool": OpRule(fuses_activation=True),
    # uint8 kernels that only move or select values: output keeps the input's scale
    "MaxPool": OpRule(shares_scale=True),
    "Reshape": OpRule(shares_scale=True),
    "Flatten": OpRule(shares_scale=True),
    "Transpose": OpRule(shares_scale=True),
    "Squeeze": OpRule(shares_scale=True),
    "Unsqueeze": OpRule(shares_scale=True),
    # nearest upsampling copies values: uint8 on both runtimes (3.1x / 1.5x faster in ops.md)
    "Resize": OpRule(shares_scale=True, applies=_nearest),
}

# Activations that fold into the producer's output range when it starts at 0.
FUSABLE_ACTIVATIONS = ("Relu", "Clip")

# Elementwise functions that, when every reader of a tensor applies one first, decide how the
# tensor's range is searched: by the error after the function (calib.ranges.Curve). The
# SiLU pair x * Sigmoid(x) is recognised in plan.reader_curve.
# HardSigmoid's curve depends on its alpha (1/6 or ONNX's default 0.2; beta 1/2; others: none),
# see plan.reader_curve.
CURVES = {"Sigmoid": "Sigmoid", "HardSwish": "HardSwish"}
HARD_SIGMOID_CURVES = {1.0 / 6.0: "HardSigmoid", 0.2: "HardSigmoid(0.2)"}
