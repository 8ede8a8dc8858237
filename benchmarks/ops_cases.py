"""The op cases of benchmarks/ops.py: one small graph per op type at shapes taken from YOLOv8n
(320 x 320 input) and PP-OCRv5 det (640 x 480 page), rec (48 x 320 line) and cls (48 x 192)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper


@dataclass(frozen=True)
class Case:
    name: str
    where: str  # the model and place the shapes come from
    nodes: list[onnx.NodeProto]
    inputs: dict[str, tuple[int, ...]]
    outputs: list[str]
    consts: dict[str, np.ndarray] = field(default_factory=dict)  # float constants kept float
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # quantized int8 (per tensor)
    data: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray] | None = None
    opset: int = 17
    quantize_inside: bool = True  # False: the ops form one float island (DQ in, Q out only)
    quantized_consts: tuple[str, ...] = ()  # constants stored as uint8 -> DQ (a QLinear op's input)


def _feat(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A feature map after SiLU/HardSwish: mostly small, a long positive tail."""
    x = rng.standard_normal(shape).astype(np.float32) * 1.5
    return x / (1 + np.exp(-x))


def _pre(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A pre-activation (a Conv's output): roughly normal, a few large values."""
    return (rng.standard_normal(shape) * 2.0).astype(np.float32)


def _gated(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A squeeze-excitation gate (N, C, 1, 1) in [0, 1]; any other shape: a feature map."""
    if shape[2:] == (1, 1):
        return (1 / (1 + np.exp(-2 * rng.standard_normal(shape)))).astype(np.float32)
    return _feat(rng, shape)


def _i64(*v: int) -> np.ndarray:
    return np.array(v, np.int64)


def _f32(*v: float) -> np.ndarray:
    return np.array(v, np.float32)


def _n(op: str, ins: list[str], outs: list[str], **attrs: object) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs, **attrs)


def _activation_cases() -> list[Case]:
    """Activations and their decomposed forms (YOLOv8n, PP-OCRv5 det and cls)."""
    return [
        Case(
            "Resize (nearest, 2x)",
            "PP-OCRv5 det neck",
            [
                _n(
                    "Resize",
                    ["x", "", "sc"],
                    ["y"],
                    mode="nearest",
                    coordinate_transformation_mode="asymmetric",
                    nearest_mode="floor",
                )
            ],
            {"x": (1, 96, 60, 80)},
            ["y"],
            consts={"sc": _f32(1, 1, 2, 2)},
        ),
        Case(
            "ConvTranspose (2x2, stride 2)",
            "PP-OCRv5 det head",
            [_n("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
            {"x": (1, 24, 120, 160)},
            ["y"],
            weights={
                "w": (np.random.default_rng(3).standard_normal((24, 24, 2, 2)) * 0.2).astype(np.float32)
            },
        ),
        Case(
            "Sigmoid",
            "YOLOv8n backbone",
            [_n("Sigmoid", ["x"], ["y"])],
            {"x": (1, 32, 80, 80)},
            ["y"],
            data=_pre,
        ),
        Case(
            "HardSigmoid",
            "PP-OCRv5 det SE gate",
            [_n("HardSigmoid", ["x"], ["y"], alpha=1 / 6, beta=0.5)],
            {"x": (1, 96, 1, 1)},
            ["y"],
            data=_pre,
        ),
        Case(
            "HardSwish",
            "PP-OCRv5 det backbone",
            [_n("HardSwish", ["x"], ["y"])],
            {"x": (1, 48, 120, 160)},
            ["y"],
            data=_pre,
        ),
        Case(
            "SiLU = Mul(x, Sigmoid(x)), each op quantized",
            "YOLOv8n backbone",
            [_n("Sigmoid", ["x"], ["s"]), _n("Mul", ["x", "s"], ["y"])],
            {"x": (1, 32, 80, 80)},
            ["y"],
            data=_pre,
        ),
        Case(
            "SiLU as one float island",
            "YOLOv8n backbone",
            [_n("Sigmoid", ["x"], ["s"]), _n("Mul", ["x", "s"], ["y"])],
            {"x": (1, 32, 80, 80)},
            ["y"],
            data=_pre,
            quantize_inside=False,
        ),
    ]


def _movement_cases() -> list[Case]:
    """Up-sampling and data movement (YOLOv8n, PP-OCRv5 det)."""
    return [
        *[
            Case(
                "HardSwish as Add, Clip, Mul, Div" + ("" if inside else ", one float island"),
                "PP-OCRv5 cls (opset 11 export)",
                [
                    _n("Add", ["x", "three"], ["a"]),
                    _n("Clip", ["a", "zero", "six"], ["c"]),
                    _n("Mul", ["x", "c"], ["m"]),
                    _n("Div", ["m", "six"], ["y"]),
                ],
                {"x": (1, 64, 12, 48)},
                ["y"],
                consts={k: np.array(v, np.float32) for k, v in (("three", 3), ("zero", 0), ("six", 6))},
                data=_pre,
                quantize_inside=inside,
            )
            for inside in (True, False)
        ],
        Case(
            "HardSwish as Add, Clip, Mul, Mul(1/6) with uint8 constants",
            "PP-OCRv5 cls, Div by 6 as Mul by 1/6",
            [
                _n("Add", ["x", "three"], ["a"]),
                _n("Clip", ["a", "zero", "six"], ["c"]),
                _n("Mul", ["x", "c"], ["m"]),
                _n("Mul", ["m", "sixth"], ["y"]),
            ],
            {"x": (1, 64, 12, 48)},
            ["y"],
            consts={
                k: np.array(v, np.float32)
                for k, v in (("three", 3), ("zero", 0), ("six", 6), ("sixth", 1 / 6))
            },
            data=_pre,
            quantized_consts=("three", "sixth"),
        ),
        Case(
            "Split (2 halves)",
            "YOLOv8n C2f",
            [_n("Split", ["x", "sp"], ["a", "b"], axis=1)],
            {"x": (1, 64, 40, 40)},
            ["a", "b"],
            consts={"sp": _i64(32, 32)},
        ),
        Case(
            "Slice (channels 0:64)",
            "YOLOv8n head",
            [_n("Slice", ["x", "st", "en", "ax"], ["y"])],
            {"x": (1, 82, 2100)},
            ["y"],
            consts={"st": _i64(0), "en": _i64(64), "ax": _i64(1)},
        ),
        Case(
            "Concat (2 inputs)",
            "YOLOv8n neck",
            [_n("Concat", ["a", "b"], ["y"], axis=1)],
            {"a": (1, 128, 40, 40), "b": (1, 64, 40, 40)},
            ["y"],
        ),
        Case(
            "Transpose",
            "YOLOv8n DFL",
            [_n("Transpose", ["x"], ["y"], perm=[0, 2, 1, 3])],
            {"x": (1, 4, 16, 2100)},
            ["y"],
        ),
        Case(
            "Reshape",
            "YOLOv8n head",
            [_n("Reshape", ["x", "s"], ["y"])],
            {"x": (1, 82, 40, 40)},
            ["y"],
            consts={"s": _i64(1, 82, 1600)},
        ),
    ]


def _other_cases() -> list[Case]:
    """Attention, norms and element-wise ops (PP-OCRv5 rec, YOLOv8n, det)."""
    return [
        Case(
            "MatMul (two activations)",
            "PP-OCRv5 rec attention, Q x K^T",
            [_n("MatMul", ["q", "k"], ["y"])],
            {"q": (1, 8, 40, 15), "k": (1, 8, 15, 40)},
            ["y"],
            data=_pre,
        ),
        Case(
            "LayerNormalization",
            "PP-OCRv5 rec (as one op)",
            [_n("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)],
            {"x": (1, 40, 120)},
            ["y"],
            consts={"g": np.ones(120, np.float32), "b": np.zeros(120, np.float32)},
            data=_pre,
        ),
        Case(
            "ReduceMean (last axis)",
            "PP-OCRv5 rec norm",
            [_n("ReduceMean", ["x"], ["y"], axes=[-1], keepdims=1)],
            {"x": (1, 40, 120)},
            ["y"],
            data=_pre,
        ),
        Case(
            "Softmax (last axis)",
            "PP-OCRv5 rec attention",
            [_n("Softmax", ["x"], ["y"], axis=-1)],
            {"x": (1, 8, 40, 40)},
            ["y"],
            data=_pre,
        ),
        Case(
            "Softmax (axis 1)",
            "YOLOv8n DFL",
            [_n("Softmax", ["x"], ["y"], axis=1)],
            {"x": (1, 16, 4, 2100)},
            ["y"],
            data=_pre,
        ),
        Case(
            "Add (residual)",
            "YOLOv8n bottleneck",
            [_n("Add", ["a", "b"], ["y"])],
            {"a": (1, 32, 40, 40), "b": (1, 32, 40, 40)},
            ["y"],
        ),
        Case(
            "Mul (SE gate, broadcast)",
            "PP-OCRv5 det SE",
            [_n("Mul", ["a", "b"], ["y"])],
            {"a": (1, 96, 60, 80), "b": (1, 96, 1, 1)},
            ["y"],
            data=_gated,
        ),
    ]


def cases() -> list[Case]:
    return [*_activation_cases(), *_movement_cases(), *_other_cases()]
