"""Warn when a model's recorded target ISA saturates on the CPU it is about to run on."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import onnx

from int8ptq.quant.isa import Isa, saturation_warning
from int8ptq.runtime.cpu import cpu_info

TARGET_KEY = "int8ptq.target_isa"


def recorded_target(proto: onnx.ModelProto) -> Isa | None:
    """The target a model was quantized for (its metadata), or None (FP32, foreign, unknown)."""
    for p in proto.metadata_props:
        if p.key == TARGET_KEY:
            try:
                return Isa(p.value)
            except ValueError:
                return None
    return None


def warn_saturation(
    models: Iterable[tuple[str, onnx.ModelProto]], cpu_isa: Isa | str | None = None
) -> list[str]:
    """Print one line on stderr per model whose target saturates on `cpu_isa` (default: this
    machine's CPU); returns the lines printed."""
    cpu = Isa(cpu_info().isa if cpu_isa is None else cpu_isa)
    lines = []
    for name, proto in models:
        target = recorded_target(proto)
        msg = None if target is None else saturation_warning(name, target, cpu)
        if msg is not None:
            print(msg, file=sys.stderr, flush=True)
            lines.append(msg)
    return lines
