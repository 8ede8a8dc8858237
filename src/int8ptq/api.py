"""The Python API. Orchestration only: load -> prepare -> plan -> calibrate -> QDQ -> save."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnx

from int8ptq.config import QuantConfig
from int8ptq.data.presets import Preprocessing
from int8ptq.data.source import DataLike
from int8ptq.eval.accuracy import EvalResult, evaluate
from int8ptq.eval.bench import BenchResult, benchmark
from int8ptq.eval.compare import DEFAULT_IMAGES, CompareResult
from int8ptq.eval.compare import compare as _compare
from int8ptq.eval.target import warn_saturation
from int8ptq.ir import load_model, save_model
from int8ptq.ir.io import UPGRADED_KEY
from int8ptq.pipeline import build, calibrate_model, recorded_preprocessing
from int8ptq.quant.isa import Isa
from int8ptq.quant.qdq import WeightReport
from int8ptq.runtime import Backend, Runner, make_runner
from int8ptq.util.timing import stage

__all__ = [
    "BenchResult",
    "CompareResult",
    "EvalResult",
    "QuantResult",
    "benchmark",
    "compare",
    "evaluate",
    "load",
    "quantize",
]

ModelArg = str | os.PathLike[str] | onnx.ModelProto


@dataclass(frozen=True)
class QuantResult:
    output: str
    fp32_bytes: int
    int8_bytes: int
    calib_images: int
    skipped_images: list[str]
    quantized_nodes: int
    float_nodes: dict[str, int]  # op type -> count of ops left in FP32
    passes: dict[str, int]
    nonfinite: dict[str, int]  # tensor -> NaN/Inf values seen during calibration
    target_isa: str
    seconds: float
    settings: dict[str, object] = field(default_factory=dict)
    opset_upgraded: str | None = None  # "11->14" when an older model was upgraded in memory
    # layers that kept round-to-nearest / got no bias correction: reason -> layer names
    rounding_fallbacks: dict[str, list[str]] = field(default_factory=dict)
    bias_fallbacks: dict[str, list[str]] = field(default_factory=dict)
    # layers left in FP32 because onnxruntime runs them faster so (quant/placement.py): why -> nodes
    speed_fallbacks: dict[str, list[str]] = field(default_factory=dict)
    # layers left in FP32 because one tensor's quantization costs much of the error (hotspots.py)
    error_fallbacks: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _load(model: ModelArg) -> onnx.ModelProto:
    return model if isinstance(model, onnx.ModelProto) else load_model(model)


def quantize(
    model: ModelArg, output: str | os.PathLike[str], calib: DataLike, *, config: QuantConfig | None = None
) -> QuantResult:
    """Quantize an FP32 ONNX model to a QDQ INT8 model at `output`, calibrating on `calib`."""
    cfg = config or QuantConfig()
    t0 = time.perf_counter()
    proto = _load(model)
    upgraded = next((p.value for p in proto.metadata_props if p.key == UPGRADED_KEY), None)
    cal = calibrate_model(proto, calib, cfg)
    prep, plan, stats = cal.prep, cal.plan, cal.stats
    if cal.built is not None:  # hotspots were measured on the final model
        out, isa, report = cal.built.model, cal.built.isa, cal.built.report
    else:
        report = WeightReport()
        out, isa = build(prep, stats, cfg, plan, report)
    with stage("save"):
        save_model(out, output)
    planned = set(plan.nodes)
    speed_fallbacks: dict[str, list[str]] = {}
    for node, why in plan.slow.items():
        WeightReport.add(speed_fallbacks, why, node)
    error_fallbacks: dict[str, list[str]] = {}
    for node, why in cal.hotspots.items():
        WeightReport.add(error_fallbacks, why, node)
    recorded = recorded_preprocessing(prep, stats)
    float_nodes: dict[str, int] = {}
    for n in out.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and n.name not in planned:
            float_nodes[n.op_type] = float_nodes.get(n.op_type, 0) + 1
    return QuantResult(
        output=str(output),
        fp32_bytes=prep.fp32_bytes,
        int8_bytes=Path(output).stat().st_size,
        calib_images=stats.images,
        skipped_images=stats.skipped,
        quantized_nodes=len(plan.nodes),
        float_nodes=float_nodes,
        passes=prep.passes,
        nonfinite=stats.nonfinite,
        target_isa=isa.value,
        seconds=time.perf_counter() - t0,
        settings={
            "method": cfg.method.value,
            "histogram_samples": cfg.histogram_samples,  # None: every value
            "per_channel": cfg.per_channel,
            "preset": prep.preset.name if recorded is not None else "none",
            "preprocessing": json.loads(recorded) if recorded is not None else {},
            "rounding": cfg.rounding.value,
            "runtime": cfg.runtime.value,
            "bias_correction": bool(report.bias_corrected),  # what happened, not what was asked
            "bias_corrected_layers": len(report.bias_corrected),
            "float_layers_guarded": len(report.float_guarded),  # quant/float_layers.py
            "equalized_layers": prep.passes.get("equalize", 0),
        },
        opset_upgraded=upgraded,
        rounding_fallbacks=report.rounding_fallbacks,
        bias_fallbacks=report.bias_fallbacks,
        speed_fallbacks=speed_fallbacks,
        error_fallbacks=error_fallbacks,
    )


def load(
    path: str | os.PathLike[str],
    backend: Backend | str = Backend.ORT,
    threads: int | None = None,
    *,
    cpu_isa: Isa | str | None = None,
) -> Runner:
    """Load a model (FP32 or INT8) for inference: the analog of `load_inference_model`.
    Prints one line on stderr when the model's target saturates on this CPU (`cpu_isa`
    overrides the detected class)."""
    proto = load_model(path)  # validate first: a clean error instead of a backend's traceback
    warn_saturation([(str(path), proto)], cpu_isa)
    return make_runner(path, backend, threads)


def compare(
    fp32: ModelArg,
    int8: ModelArg,
    data: DataLike,
    *,
    preset: str | Preprocessing | None = None,
    batch_size: int = 16,
    limit: int | None = DEFAULT_IMAGES,
    threads: int | None = None,
) -> CompareResult:
    """Per quantized tensor, how far the INT8 model's values are from FP32's on the same
    images (SQNR, cosine, max error), worst first: where a model loses its accuracy."""
    return _compare(fp32, int8, data, preset=preset, batch_size=batch_size, limit=limit, threads=threads)
