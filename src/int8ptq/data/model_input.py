"""What a model expects: every input's name, type and shape, and which one (if any) is an
image input (layout, static batch and size) that the image presets can feed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.data.presets import PREPROCESSING_KEY, PRESETS, Preprocessing, Preset, from_record
from int8ptq.errors import UserError
from int8ptq.ir.graph import static_dims

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
    return static_dims(vi.type.tensor_type.shape)


@dataclass(frozen=True)
class TensorInput:
    """One graph input: name, numpy dtype, and shape (None where dynamic or unknown)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None  # None: rank unknown

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


@dataclass(frozen=True)
class ModelInputs:
    """All of a model's inputs, in order, and its image input when it has one."""

    tensors: tuple[TensorInput, ...]
    image: InputSpec | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    @property
    def batch(self) -> int | None:
        """A static batch dimension shared by the inputs, else None."""
        firsts = {t.shape[0] if t.shape else None for t in self.tensors}
        return firsts.pop() if len(firsts) == 1 else None

    def only_image(self) -> InputSpec:
        """The image input, when images alone can feed the model; else a one-line error."""
        if self.image is None:
            raise UserError(
                "model has no image input (a 4-D float32 input, NCHW or NHWC): give the data as a .npz "
                f"with one array per input ({', '.join(self.names)}), or a folder of such .npz files"
            )
        if len(self.tensors) > 1:
            others = ", ".join(n for n in self.names if n != self.image.name)
            raise UserError(
                f"model has inputs besides the image ({others}): give the data as a .npz with one array "
                "per input name, or a folder of such .npz files"
            )
        return self.image


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def _spec(vi: onnx.ValueInfoProto) -> InputSpec | None:
    if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        return None
    d = _dims(vi)
    if len(d) != 4:
        return None
    layout = "NHWC" if d[3] in (1, 3) and d[1] not in (1, 3) else "NCHW"
    h, w = (d[1], d[2]) if layout == "NHWC" else (d[2], d[3])
    size = h if h is not None and h == w else None
    return InputSpec(vi.name, layout, d[0] if d[0] else None, size)


def model_inputs(model: onnx.ModelProto) -> ModelInputs:
    tensors = []
    for vi in _graph_inputs(model):
        tt = vi.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type) if tt.elem_type else np.dtype(np.float32)
        shape = tuple(_dims(vi)) if tt.HasField("shape") else None
        tensors.append(TensorInput(vi.name, np.dtype(dtype).name, shape))
    image = next((s for s in map(_spec, _graph_inputs(model)) if s is not None), None)
    return ModelInputs(tuple(tensors), image)


def image_input(model: onnx.ModelProto) -> InputSpec:
    """The model's image input: the first 4-D float input with 3 or 1 channels."""
    spec = model_inputs(model).image
    if spec is None:
        raise UserError("model has no image input (expected a 4-D float32 input, NCHW or NHWC)")
    return spec


def _meta(model: onnx.ModelProto, key: str) -> str | None:
    return next((p.value for p in model.metadata_props if p.key == key), None)


def _relayout(model: onnx.ModelProto, spec: InputSpec, layout: str) -> InputSpec:
    """`spec` read again under the given layout (its static size moves with it)."""
    vi = next(v for v in model.graph.input if v.name == spec.name)
    d = _dims(vi)
    h, w = (d[1], d[2]) if layout == "NHWC" else (d[2], d[3])
    return InputSpec(spec.name, layout, spec.batch, h if h is not None and h == w else None)


def resolve_input(
    model: onnx.ModelProto, pre: str | Preprocessing | None, spec: InputSpec | None
) -> tuple[InputSpec | None, Preset]:
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
    if spec is not None and layout is not None and layout.value != spec.layout:
        spec = _relayout(model, spec, layout.value)
    return spec, p.apply(base, spec.size if spec is not None else None)


def preset_is_guessed(model: onnx.ModelProto, pre: str | Preprocessing | None) -> bool:
    """Neither the user nor the model named a preprocessing: `resolve_input` fell back to
    torchvision, a guess that calibration arrays (already prepared) never confirmed."""
    return pre is None and not (_meta(model, PREPROCESSING_KEY) or _meta(model, PRESET_KEY))


def resolve_inputs(
    model: onnx.ModelProto, pre: str | Preprocessing | None, inputs: ModelInputs
) -> tuple[ModelInputs, Preset]:
    """`resolve_input` for the image input (if any) among all of the model's inputs."""
    spec, preset = resolve_input(model, pre, inputs.image)
    return dataclasses.replace(inputs, image=spec), preset


def preset_for(model: onnx.ModelProto, pre: str | Preprocessing | None, spec: InputSpec | None) -> Preset:
    """The preprocessing of `resolve_input`, without the input."""
    return resolve_input(model, pre, spec)[1]
