"""The stages of quantization, each reusable: prepare once, calibrate once, build many
(`tune` builds a model per trial from the same statistics)."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx

from int8ptq.algorithms import (
    Algorithm,
    CompensatingRounding,
    Equalization,
    OutputAwareRanges,
    RangeEstimation,
    Requests,
    SaturationGuard,
    bounded_ranges,
    ranges_from,
    requests_of,
)
from int8ptq.calib.collect import collect
from int8ptq.calib.covariance import CovarianceObserver
from int8ptq.calib.observers import MinMaxObserver
from int8ptq.calib.ranges import RangeMethod, RangeOptions
from int8ptq.calib.samples import RowSampleObserver
from int8ptq.config import QuantConfig, Rounding
from int8ptq.data.adapters import one_pass
from int8ptq.data.feeds import Feed
from int8ptq.data.model_input import (
    PRESET_KEY,
    InputSpec,
    ModelInputs,
    model_inputs,
    preset_is_guessed,
    resolve_inputs,
)
from int8ptq.data.presets import PREPROCESSING_KEY, Preprocessing, Preset, record
from int8ptq.data.source import DataLike, is_image_data, iter_batches
from int8ptq.errors import UserError
from int8ptq.hotspots import SampleStash, find_hotspots
from int8ptq.ir import Graph
from int8ptq.ir.ops import quantized_ops
from int8ptq.ir.scope import subgraphs
from int8ptq.passes import prepare
from int8ptq.quant.isa import Isa, resolve
from int8ptq.quant.placement import place
from int8ptq.quant.plan import QuantPlan
from int8ptq.quant.qdq import WeightReport, insert_qdq
from int8ptq.quant.rounding import Rounded
from int8ptq.quant.rules import Runtime
from int8ptq.runtime.cpu import cpu_info
from int8ptq.util.suggest import nearest
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
    source_nodes: frozenset[str] = frozenset()  # node names of the model as given
    preset_guessed: bool = False  # no preprocessing named by the user or the model

    @property
    def spec(self) -> InputSpec | None:
        """The image input, if the model has one."""
        return self.inputs.image

    def plan(self, exclude: Iterable[str] = (), runtime: Runtime = Runtime.ONNXRUNTIME) -> QuantPlan:
        exclude = frozenset(exclude)
        self._check_exclude(exclude)
        return place(self.graph, exclude, runtime)

    def _check_exclude(self, exclude: frozenset[str]) -> None:
        """Each entry names a node (of the model as given, or after the passes) or an op type:
        a typo must not quantize the layer the user meant to keep in FP32."""
        names = self.source_nodes | {n.name for n in self.graph.nodes}
        for e in sorted(exclude):
            if e not in names and not onnx.defs.has(e):
                hint = nearest(e, names, list_all=False)
                raise UserError(f"exclude {e!r}: no node or op type of that name in the model{hint}")


@dataclass
class Statistics:
    """What one calibration pass collected."""

    ranges: dict[str, MinMaxObserver]  # activation tensor -> range statistics
    weights: dict[str, CovarianceObserver]  # node -> its input's second moments
    images: int
    skipped: list[str] = field(default_factory=list)
    no_weights: dict[str, str] = field(default_factory=dict)  # node -> why it has no moments
    samples: dict[str, RowSampleObserver] = field(default_factory=dict)  # for output-aware ranges
    from_images: bool = True  # images decoded by the preset (not arrays fed as given)
    stash: SampleStash | None = None  # the first batches' inputs and FP32 outputs (hotspots)
    rounded: dict[bytes, Rounded] = field(default_factory=dict)  # weights rounded by earlier builds

    @property
    def nonfinite(self) -> dict[str, int]:
        return {t: o.nonfinite for t, o in self.ranges.items() if o.nonfinite}


@timed("prepare")
def prepare_model(proto: onnx.ModelProto, preset: str | Preprocessing | None = None) -> Prepared:
    inputs, pre = resolve_inputs(proto, preset, model_inputs(proto))
    source = frozenset(n.name for n in proto.graph.node if n.name)
    g = Graph(proto)
    passes = prepare(g)
    return Prepared(g, inputs, pre, passes, proto.ByteSize(), source, preset_is_guessed(proto, preset))


@timed("equalize")
def equalize_model(prep: Prepared, data: DataLike, cfg: QuantConfig) -> int:
    """Cross-layer equalization, if `cfg` asks for it; the number of layers rescaled.
    Pairs across a Clip (ReLU6) first need each channel's maximum: a pass of its own (the
    other statistics are measured on the equalized graph)."""
    if not cfg.equalize:
        return 0
    eq = Equalization()
    requests = requests_of([eq], prep.graph, None)
    if requests:
        if one_pass(data):
            raise UserError(
                "equalization needs the calibration data twice: pass a path, arrays, a DataLoader, "
                "a callable or a reader with rewind()"
            )
        _collect(prep, data, cfg, requests, [])
    n = eq.apply(prep.graph)
    prep.passes["equalize"] = n
    return n


def _collect(prep: Prepared, data: DataLike, cfg: QuantConfig, requests: Requests, skipped: list[str]) -> int:
    """One pass over the data feeding every requested observer; the number of images."""
    batches, total = iter_batches(data, prep.inputs, prep.preset, cfg.batch_size, cfg.calib_images, skipped)
    counter = _Counter(batches)
    collect(prep.graph, requests, counter, cfg.threads, total)
    return counter.images


@timed("calibrate")
def calibrate(
    prep: Prepared,
    data: DataLike,
    cfg: QuantConfig,
    plan: QuantPlan,
    histogram: bool | None = None,
    covariance: bool | None = None,
    exact: bool = False,
    samples: bool | None = None,
) -> Statistics:
    """One pass over the calibration data feeding every statistic the algorithms declare:
    activation ranges, the weights' input moments for compensating rounding, and samples of
    the activations pointwise layers read (output-aware ranges).
    `exact`: histograms also keep the true min and max (a full pass over every tensor)."""
    hist = cfg.method.needs_histogram if histogram is None else histogram
    cov = cfg.rounding is Rounding.COMPENSATE if covariance is None else covariance
    ranges = RangeEstimation(hist, cfg.bins, exact, cfg.histogram_samples)
    algorithms: list[Algorithm] = [ranges]
    rounding = CompensatingRounding() if cov else None
    want_samples = cfg.method is RangeMethod.OUTPUT if samples is None else samples
    output = OutputAwareRanges() if want_samples else None
    stash = SampleStash(STASH_SAMPLES) if cfg.float_hotspots else None
    algorithms += [a for a in (rounding, output, stash) if a is not None]
    skipped: list[str] = []
    images = _collect(prep, data, cfg, requests_of(algorithms, prep.graph, plan), skipped)
    if images == 0:
        raise UserError("no calibration images could be read")
    weights, missing = (rounding.observers, rounding.missing) if rounding else ({}, {})
    rows = output.observers if output else {}
    stats = Statistics(
        ranges.observers, weights, images, skipped, missing, rows, is_image_data(data, prep.inputs), stash
    )
    for t, n in stats.nonfinite.items():
        warnings.warn(
            f"calibration: tensor {t!r} had {n} NaN/Inf values (left out of its range)", stacklevel=2
        )
    return stats


def _check_quantizable(proto: onnx.ModelProto) -> None:
    """Quantizing a quantized model again would stack a second rounding on the first; ops of
    custom domains are named, since they stay FP32 (and may be what onnxruntime cannot run)."""
    found = quantized_ops(proto.graph)
    if found:
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(found.items()))
        raise UserError(
            f"the model is already quantized ({listed}): give the FP32 model (a QDQ model from "
            "quantization-aware training runs as it is)"
        )
    custom = sorted({f"{n.domain}::{n.op_type}" for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        warnings.warn(f"ops of custom domains stay in FP32: {', '.join(custom[:5])}", stacklevel=3)


def _warn_if_nothing_planned(g: Graph, plan: QuantPlan) -> None:
    """A model left as it was must not pass for a quantized one unnoticed."""
    if plan.nodes:
        return
    listed = ", ".join(f"{k} x{v}" for k, v in sorted(Counter(n.op_type for n in g.nodes).items()))
    reasons = sorted(set(plan.skipped.values())) or ["no op with an INT8 kernel"]
    bodies = sorted({n.op_type for n in g.nodes if any(subgraphs(n))})
    why = f"; ops inside {'/'.join(bodies)} bodies are not quantized" if bodies else ""
    warnings.warn(
        f"nothing quantized, the model stays FP32 ({listed}): {'; '.join(reasons)}{why}", stacklevel=3
    )


STASH_SAMPLES = 16  # calibration samples the hotspot measure runs on


@dataclass
class Calibrated:
    """A model prepared, planned and calibrated: what every command builds from."""

    prep: Prepared
    plan: QuantPlan
    stats: Statistics
    hotspots: dict[str, str] = field(default_factory=dict)  # nodes kept float for accuracy -> why
    # the model `build` makes of this plan with these settings, when measuring hotspots made it
    built: Built | None = None


def calibrate_model(
    proto: onnx.ModelProto, data: DataLike, cfg: QuantConfig, *, every_method: bool = False
) -> Calibrated:
    """The stages every command shares: prepare, equalize (if asked), plan, calibrate.
    `every_method`: statistics for every range method and compensating rounding (tune
    builds trials with other settings from the same pass)."""
    _check_quantizable(proto)
    prep = prepare_model(proto, cfg.preset)
    equalize_model(prep, data, cfg)
    plan = prep.plan(cfg.exclude, cfg.runtime)
    if every_method:  # exact: the trials include minmax, which needs the true extremes
        stats = calibrate(prep, data, cfg, plan, histogram=True, covariance=True, exact=True, samples=True)
    else:
        stats = calibrate(prep, data, cfg, plan)
    _warn_if_nothing_planned(prep.graph, plan)  # after calibration: bad data errors come first
    hot, built = _hotspots(prep, stats, cfg, plan)
    if hot:
        return Calibrated(prep, prep.plan(tuple(cfg.exclude) + tuple(hot), cfg.runtime), stats, hot)
    return Calibrated(prep, plan, stats, hot, built)


@dataclass(frozen=True)
class Built:
    """What `build` returned, with the report it filled."""

    model: onnx.ModelProto
    isa: Isa
    report: WeightReport


@timed("hotspots")
def _hotspots(
    prep: Prepared, stats: Statistics, cfg: QuantConfig, plan: QuantPlan
) -> tuple[dict[str, str], Built | None]:
    """Nodes to keep in float because one tensor's quantization costs much of the output error
    (hotspots.py), measured on the model these settings build (returned: it is the model
    itself when nothing is kept float)."""
    if stats.stash is None or not plan.nodes:
        return {}, None
    report = WeightReport()
    model, isa = build(prep, stats, cfg, plan, report)
    return find_hotspots(prep.graph, plan, model, stats.stash), Built(model, isa, report)


@timed("build")
def build(
    prep: Prepared, stats: Statistics, cfg: QuantConfig, plan: QuantPlan, report: WeightReport | None = None
) -> tuple[onnx.ModelProto, Isa]:
    """The QDQ model for these settings; `prep` is left as it was. `report` receives the
    layers that kept plain rounding or got no bias correction, with the reasons."""
    opts = RangeOptions(percentile=cfg.percentile)
    if cfg.method is RangeMethod.OUTPUT:
        ranges = OutputAwareRanges(stats.samples).ranges(prep.graph, plan, stats.ranges, opts)
    else:
        ranges = ranges_from(stats.ranges, plan, cfg.method, opts)
    if cfg.activation_bounds and cfg.method is not RangeMethod.MINMAX:
        ranges = bounded_ranges(prep.graph, ranges, stats.ranges)
    isa = resolve(cfg.target_isa, cpu_info().isa)
    use = cfg.rounding is Rounding.COMPENSATE
    rounder = CompensatingRounding(stats.weights, stats.no_weights, stats.rounded).rounder() if use else None
    g = prep.graph.copy()
    insert_qdq(
        g,
        plan,
        ranges,
        SaturationGuard(isa).guard(),
        cfg.per_channel,
        rounder,
        bias_correction=cfg.bias_correction,
        report=report,
    )
    out = g.to_model()
    meta = {}
    pre = recorded_preprocessing(prep, stats)
    if pre is not None:  # an image model: how its images are prepared
        meta[PRESET_KEY], meta[PREPROCESSING_KEY] = prep.preset.name, pre
    meta |= {
        "int8ptq.version": __version__,
        "int8ptq.target_isa": isa.value,
        "int8ptq.method": cfg.method.value,
        "int8ptq.runtime": cfg.runtime.value,
        **cfg.extra,
    }
    keep = [p for p in out.metadata_props if p.key not in meta]
    del out.metadata_props[:]
    out.metadata_props.extend(keep)
    for k, v in sorted(meta.items()):
        out.metadata_props.add(key=k, value=str(v))
    return out, isa


def recorded_preprocessing(prep: Prepared, stats: Statistics) -> str | None:
    """The images' preprocessing the model records in its metadata, or None: not an image
    model, or a preset only guessed for arrays that were fed as given."""
    if prep.spec is None or (prep.preset_guessed and not stats.from_images):
        return None
    return record(prep.preset, prep.spec.layout)


class _Counter:
    """Pass batches through as `{input_name: array}`, counting samples."""

    def __init__(self, batches: Iterator[Feed]) -> None:
        self.batches, self.images = batches, 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for b in self.batches:
            self.images += len(b)
            yield b.inputs
