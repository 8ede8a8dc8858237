"""The stages of quantization, each reusable: prepare once, calibrate once, build many
(`tune` builds a model per trial from the same statistics)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx

from int8ptq.calib.collect import collect
from int8ptq.calib.covariance import CovarianceObserver, observer_or_reason
from int8ptq.calib.observers import ChannelMaxObserver, HistogramObserver, MinMaxObserver, Observer
from int8ptq.calib.ranges import RangeOptions, compute_range
from int8ptq.config import QuantConfig, Rounding
from int8ptq.data.adapters import one_pass
from int8ptq.data.feeds import Feed
from int8ptq.data.model_input import PRESET_KEY, InputSpec, ModelInputs, model_inputs, resolve_inputs
from int8ptq.data.presets import PREPROCESSING_KEY, Preprocessing, Preset, record
from int8ptq.data.source import DataLike, iter_batches
from int8ptq.errors import UserError
from int8ptq.ir import Graph
from int8ptq.passes import prepare
from int8ptq.passes.equalize import equalize, find_pairs
from int8ptq.quant.isa import Isa, resolve
from int8ptq.quant.plan import QuantPlan, build_plan
from int8ptq.quant.qdq import WeightReport, insert_qdq
from int8ptq.quant.rounding import CompensatingRounder
from int8ptq.quant.rules import RULES
from int8ptq.quant.saturation import guard_for
from int8ptq.runtime.cpu import cpu_info
from int8ptq.util.timing import timed
from int8ptq.version import __version__


@dataclass
class Prepared:
    """The FP32 graph after the preparation passes, and its inputs."""

    graph: Graph
    inputs: ModelInputs
    preset: Preset
    passes: dict[str, int]
    fp32_bytes: int

    @property
    def spec(self) -> InputSpec | None:
        """The image input, if the model has one."""
        return self.inputs.image

    def plan(self, exclude: Iterable[str] = ()) -> QuantPlan:
        return build_plan(self.graph, frozenset(exclude))


@dataclass
class Statistics:
    """What one calibration pass collected."""

    ranges: dict[str, MinMaxObserver]  # activation tensor -> range statistics
    weights: dict[str, CovarianceObserver]  # node -> its input's second moments
    images: int
    skipped: list[str] = field(default_factory=list)
    no_weights: dict[str, str] = field(default_factory=dict)  # node -> why it has no moments

    @property
    def nonfinite(self) -> dict[str, int]:
        return {t: o.nonfinite for t, o in self.ranges.items() if o.nonfinite}


@timed("prepare")
def prepare_model(proto: onnx.ModelProto, preset: str | Preprocessing | None = None) -> Prepared:
    inputs, pre = resolve_inputs(proto, preset, model_inputs(proto))
    g = Graph(proto)
    passes = prepare(g)
    return Prepared(g, inputs, pre, passes, proto.ByteSize())


@timed("equalize")
def equalize_model(prep: Prepared, data: DataLike, cfg: QuantConfig) -> int:
    """Cross-layer equalization, if `cfg` asks for it; the number of layers rescaled.
    Pairs across a Clip (ReLU6) first need each channel's maximum: one more pass."""
    if not cfg.equalize:
        return 0
    pairs = find_pairs(prep.graph)
    clipped = sorted({p.between for p in pairs if p.act is not None and p.act.op_type == "Clip"})
    maxima: dict[str, np.ndarray] = {}
    if clipped:
        if one_pass(data):
            raise UserError(
                "equalization needs the calibration data twice: pass a path, arrays, a DataLoader, "
                "a callable or a reader with rewind()"
            )
        observers = {t: ChannelMaxObserver() for t in clipped}
        batches, total = iter_batches(data, prep.inputs, prep.preset, cfg.batch_size, cfg.calib_images)
        requests = {t: (t, o) for t, o in observers.items()}
        collect(prep.graph, requests, (b.inputs for b in batches), cfg.threads, total)
        maxima = {t: o.max for t, o in observers.items() if o.max is not None}
    n = equalize(prep.graph, maxima)
    prep.passes["equalize"] = n
    return n


def _weight_observers(
    g: Graph, plan: QuantPlan, missing: dict[str, str] | None = None
) -> dict[str, tuple[str, CovarianceObserver]]:
    """node name -> (its input tensor, the observer of that input's second moments); nodes
    that get none are added to `missing` with the reason."""
    out = {}
    planned = set(plan.nodes)
    for n in g.nodes:
        rule = RULES.get(n.op_type)
        if n.name not in planned or rule is None or rule.weight is None:
            continue
        w = g.const(n.input[rule.weight])
        obs = observer_or_reason(n, tuple(w.shape)) if w is not None else "weight is not a constant"
        if isinstance(obs, str):
            if missing is not None:
                missing[n.name] = obs
        else:
            out[n.name] = (n.input[0], obs)
    return out


@timed("calibrate")
def calibrate(
    prep: Prepared,
    data: DataLike,
    cfg: QuantConfig,
    plan: QuantPlan,
    histogram: bool | None = None,
    covariance: bool | None = None,
    exact: bool = False,
) -> Statistics:
    """One pass over the calibration data feeding every statistic the settings need.
    `exact`: histograms also keep the true min and max (a full pass over every tensor)."""
    hist = cfg.method.needs_histogram if histogram is None else histogram
    cov = cfg.rounding is Rounding.COMPENSATE if covariance is None else covariance
    ranges: dict[str, MinMaxObserver] = {
        t: HistogramObserver(cfg.bins, exact=exact) if hist else MinMaxObserver() for t in plan.activations
    }
    missing: dict[str, str] = {}
    weights = _weight_observers(prep.graph, plan, missing) if cov else {}
    requests: dict[str, tuple[str, Observer]] = {f"range:{t}": (t, o) for t, o in ranges.items()}
    requests.update({f"weights:{n}": (t, o) for n, (t, o) in weights.items()})
    skipped: list[str] = []
    batches, total = iter_batches(data, prep.inputs, prep.preset, cfg.batch_size, cfg.calib_images, skipped)
    counter = _Counter(batches)
    collect(prep.graph, requests, counter, cfg.threads, total)
    if counter.images == 0:
        raise UserError("no calibration images could be read")
    stats = Statistics(ranges, {n: o for n, (_, o) in weights.items()}, counter.images, skipped, missing)
    for t, n in stats.nonfinite.items():
        warnings.warn(
            f"calibration: tensor {t!r} had {n} NaN/Inf values (left out of its range)", stacklevel=2
        )
    return stats


@timed("build")
def build(
    prep: Prepared, stats: Statistics, cfg: QuantConfig, plan: QuantPlan, report: WeightReport | None = None
) -> tuple[onnx.ModelProto, Isa]:
    """The QDQ model for these settings; `prep` is left as it was. `report` receives the
    layers that kept plain rounding or got no bias correction, with the reasons."""
    opts = RangeOptions(percentile=cfg.percentile)
    ranges = {t: compute_range(stats.ranges[t], cfg.method, opts) for t in plan.activations}
    isa = resolve(cfg.target_isa, cpu_info().isa)
    use = cfg.rounding is Rounding.COMPENSATE
    rounder = CompensatingRounder(stats.weights, stats.no_weights) if use else None
    g = prep.graph.copy()
    insert_qdq(
        g,
        plan,
        ranges,
        guard_for(isa),
        cfg.per_channel,
        rounder,
        bias_correction=cfg.bias_correction,
        report=report,
    )
    out = g.to_model()
    meta = {PRESET_KEY: prep.preset.name}
    if prep.spec is not None:  # an image model: how its images are prepared
        meta[PREPROCESSING_KEY] = record(prep.preset, prep.spec.layout)
    meta |= {
        "int8ptq.version": __version__,
        "int8ptq.target_isa": isa.value,
        "int8ptq.method": cfg.method.value,
        **cfg.extra,
    }
    keep = [p for p in out.metadata_props if p.key not in meta]
    del out.metadata_props[:]
    out.metadata_props.extend(keep)
    for k, v in sorted(meta.items()):
        out.metadata_props.add(key=k, value=str(v))
    return out, isa


class _Counter:
    """Pass batches through as `{input_name: array}`, counting samples."""

    def __init__(self, batches: Iterator[Feed]) -> None:
        self.batches, self.images = batches, 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for b in self.batches:
            self.images += len(b)
            yield b.inputs
