"""What a model expects as its image input: name, layout, static batch and size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.data.presets import PREPROCESSING_KEY, PRESETS, Preprocessing, Preset, from_record
from int8ptq.errors import UserError

PRESET_KEY = "int8ptq.preset"  # model metadata naming the preprocessing preset


@dataclass(frozen=True)
class InputSpec:
    name: str
    layout: str  # "NCHW" or "NHWC"
    batch: int | None  # static batch size, or None when dynamic
    size: int | None  # static square crop, or None when dynamic

    def to_model(self, x: np.ndarray) -> np.ndarray:
        """NCHW batch -> the model's layout."""
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.layout == "NHWC" else x


def _dims(vi: onnx.ValueInfoProto) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]


def image_input(model: onnx.ModelProto) -> InputSpec:
    """The model's image input: the first 4-D float input with 3 or 1 channels."""
    inits = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits or vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            continue
        d = _dims(vi)
        if len(d) != 4:
            continue
        layout = "NHWC" if d[3] in (1, 3) and d[1] not in (1, 3) else "NCHW"
        h, w = (d[1], d[2]) if layout == "NHWC" else (d[2], d[3])
        size = h if h is not None and h == w else None
        return InputSpec(vi.name, layout, d[0] if d[0] else None, size)
    raise UserError("model has no image input (expected a 4-D float32 input, NCHW or NHWC)")


def _meta(model: onnx.ModelProto, key: str) -> str | None:
    return next((p.value for p in model.metadata_props if p.key == key), None)


def _relayout(model: onnx.ModelProto, spec: InputSpec, layout: str) -> InputSpec:
    """`spec` read again under the given layout (its static size moves with it)."""
    vi = next(v for v in model.graph.input if v.name == spec.name)
    d = _dims(vi)
    h, w = (d[1], d[2]) if layout == "NHWC" else (d[2], d[3])
    return InputSpec(spec.name, layout, spec.batch, h if h is not None and h == w else None)


def resolve_input(
    model: onnx.ModelProto, pre: str | Preprocessing | None, spec: InputSpec
) -> tuple[InputSpec, Preset]:
    """The image input and its preprocessing: the values recorded in the model (an int8ptq
    output), else its named preset, else torchvision; a preset given by name replaces those;
    then each field given in `pre` overrides its own."""
    p = Preprocessing.of(pre)
    recorded = from_record(_meta(model, PREPROCESSING_KEY) or "") if p.preset is None else None
    if recorded is not None:
        base, layout = recorded
    else:
        name = p.preset or _meta(model, PRESET_KEY) or "torchvision"
        if name not in PRESETS:
            from int8ptq.util.suggest import nearest

            raise UserError(f"unknown preset {name!r}{nearest(name, PRESETS)}")
        base, layout = PRESETS[name], None
    layout = p.layout or layout
    if layout is not None and layout.value != spec.layout:
        spec = _relayout(model, spec, layout.value)
    return spec, p.apply(base, spec.size)


def preset_for(model: onnx.ModelProto, pre: str | Preprocessing | None, spec: InputSpec) -> Preset:
    """The preprocessing of `resolve_input`, without the input."""
    return resolve_input(model, pre, spec)[1]
