"""The Python API. Orchestration only: load -> prepare -> plan -> calibrate -> QDQ -> save."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnx

from int8ptq import __version__
from int8ptq.calib.collect import collect
from int8ptq.calib.covariance import CovarianceObserver, observer_for
from int8ptq.calib.observers import HistogramObserver, MinMaxObserver, Observer
from int8ptq.calib.ranges import RangeOptions, compute_range
from int8ptq.config import QuantConfig, Rounding
from int8ptq.data.model_input import PRESET_KEY, image_input, preset_for
from int8ptq.data.source import DataLike, iter_batches
from int8ptq.errors import UserError
from int8ptq.eval.accuracy import EvalResult, evaluate
from int8ptq.eval.bench import BenchResult, benchmark
from int8ptq.ir import Graph, load_model, save_model
from int8ptq.passes import prepare
from int8ptq.quant.isa import resolve
from int8ptq.quant.plan import QuantPlan, build_plan
from int8ptq.quant.qdq import insert_qdq
from int8ptq.quant.rounding import CompensatingRounder
from int8ptq.quant.rules import RULES
from int8ptq.quant.saturation import guard_for
from int8ptq.runtime.base import Backend, Runner, make_runner

__all__ = ["BenchResult", "EvalResult", "QuantResult", "benchmark", "evaluate", "load", "quantize"]

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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _load(model: ModelArg) -> onnx.ModelProto:
    return model if isinstance(model, onnx.ModelProto) else load_model(model)


def quantize(
    model: ModelArg, output: str | os.PathLike[str], calib: DataLike, config: QuantConfig | None = None
) -> QuantResult:
    """Quantize an FP32 ONNX model to a QDQ INT8 model at `output`, calibrating on `calib`."""
    cfg = config or QuantConfig()
    t0 = time.perf_counter()
    proto = _load(model)
    spec = image_input(proto)
    preset = preset_for(proto, cfg.preset, spec)
    fp32_bytes = proto.ByteSize()
    g = Graph(proto)
    passes = prepare(g)
    plan = build_plan(g, frozenset(cfg.exclude))
    skipped: list[str] = []
    batches, total = iter_batches(calib, spec, preset, cfg.batch_size, cfg.calib_images, skipped)
    counter = _Counter(batches)
    observers = {
        t: HistogramObserver(cfg.bins) if cfg.method.needs_histogram else MinMaxObserver()
        for t in plan.activations
    }
    weight_stats = _weight_statistics(g, plan) if cfg.rounding is Rounding.COMPENSATE else {}
    requests: dict[str, tuple[str, Observer]] = {f"range:{t}": (t, o) for t, o in observers.items()}
    requests.update({f"weights:{n}": (t, o) for n, (t, o) in weight_stats.items()})
    collect(g, requests, counter, cfg.threads, total)
    if counter.images == 0:
        raise UserError("no calibration images could be read")
    nonfinite = {t: o.nonfinite for t, o in observers.items() if o.nonfinite}
    for t, n in nonfinite.items():
        warnings.warn(
            f"calibration: tensor {t!r} had {n} NaN/Inf values (left out of its range)", stacklevel=2
        )
    opts = RangeOptions(percentile=cfg.percentile)
    ranges = {t: compute_range(o, cfg.method, opts) for t, o in observers.items()}
    isa = resolve(cfg.target_isa)
    rounder = CompensatingRounder({n: o for n, (_, o) in weight_stats.items()}, cfg.bias_correction)
    insert_qdq(g, plan, ranges, guard_for(isa), cfg.per_channel, rounder if weight_stats else None)
    out = g.to_model()
    meta = {
        PRESET_KEY: preset.name,
        "int8ptq.version": __version__,
        "int8ptq.target_isa": isa.value,
        "int8ptq.method": cfg.method.value,
        **cfg.extra,
    }
    _set_metadata(out, meta)
    save_model(out, output)
    float_nodes: dict[str, int] = {}
    for n in out.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and n.name not in plan.nodes:
            float_nodes[n.op_type] = float_nodes.get(n.op_type, 0) + 1
    return QuantResult(
        output=str(output),
        fp32_bytes=fp32_bytes,
        int8_bytes=Path(output).stat().st_size,
        calib_images=counter.images,
        skipped_images=skipped,
        quantized_nodes=len(plan.nodes),
        float_nodes=float_nodes,
        passes=passes,
        nonfinite=nonfinite,
        target_isa=isa.value,
        seconds=time.perf_counter() - t0,
        settings={
            "method": cfg.method.value,
            "per_channel": cfg.per_channel,
            "preset": preset.name,
            "rounding": cfg.rounding.value,
            "bias_correction": cfg.bias_correction,
        },
    )


def _weight_statistics(g: Graph, plan: QuantPlan) -> dict[str, tuple[str, CovarianceObserver]]:
    """node name -> (its input tensor, the observer of that input's second moments)."""
    out = {}
    for n in g.nodes:
        rule = RULES.get(n.op_type)
        if n.name not in plan.nodes or rule is None or rule.weight is None:
            continue
        w = g.const(n.input[rule.weight])
        obs = observer_for(n, tuple(w.shape)) if w is not None else None
        if obs is not None:
            out[n.name] = (n.input[0], obs)
    return out


class _Counter:
    """Pass batches through, counting images."""

    def __init__(self, batches) -> None:  # noqa: ANN001
        self.batches, self.images = batches, 0

    def __iter__(self):  # noqa: ANN204
        for b in self.batches:
            self.images += len(b.x)
            yield b.x


def _set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in sorted(meta.items()):
        model.metadata_props.add(key=k, value=str(v))


def load(
    path: str | os.PathLike[str], backend: Backend | str = Backend.ORT, threads: int | None = None
) -> Runner:
    """Load a model (FP32 or INT8) for inference: the analog of `load_inference_model`."""
    load_model(path)  # validate first: a clean error instead of a backend's traceback
    return make_runner(path, backend, threads)
