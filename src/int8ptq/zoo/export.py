"""Build a zoo model and export it to ONNX with torch's exporter."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx

from int8ptq.data.model_input import PRESET_KEY
from int8ptq.errors import UserError
from int8ptq.ir.io import save_model
from int8ptq.util.atomic import atomic_path
from int8ptq.zoo.registry import get

OPSET = 17


def _torch():
    try:
        import torch
    except ImportError:
        raise UserError("the zoo needs torch: pip install 'int8ptq[zoo]'") from None
    return torch


def export(name: str, output: str | os.PathLike[str], *, random_weights: bool = False, seed: int = 0) -> Path:
    """Write `name` as an ONNX file (opset 17, dynamic batch) with its preset in metadata."""
    torch = _torch()
    entry = get(name)
    torch.manual_seed(seed)
    model = entry.build().eval()
    if not random_weights:
        sd = entry.weights()
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise UserError(
                f"{name}: weights do not match the definition "
                f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
            )
    x = torch.zeros(1, 3, entry.input_size, entry.input_size)
    out = Path(output)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            str(tmp),
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            dynamo=False,
        )
        m = onnx.load(str(tmp))
        m.metadata_props.add(key=PRESET_KEY, value=entry.preset)
        m.metadata_props.add(
            key="int8ptq.zoo", value=f"{name}{' (random weights)' if random_weights else ''}"
        )
        save_model(m, tmp)
    return out


def param_count(name: str) -> int:
    _torch()
    model = get(name).build()
    return sum(p.numel() for p in model.parameters())
