"""Calibration algorithms as small objects: each declares the statistics it needs (observers
on named tensors) and applies what was collected. The orchestrator (pipeline.py) gathers
the declarations of every algorithm of a stage and feeds them all from one pass over the
data; it knows no algorithm by name.

Stages: cross-layer equalization changes the graph the other statistics are measured on, so
its statistics (channel maxima of clipped activations) come from a pass of their own, before
the others; range estimation, compensating rounding and the saturation guard share one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from int8ptq.calib.covariance import CovarianceObserver, observer_or_reason
from int8ptq.calib.observers import (
    HISTOGRAM_SAMPLES,
    ChannelMaxObserver,
    HistogramObserver,
    MinMaxObserver,
    Observer,
)
from int8ptq.calib.ranges import Curve, RangeMethod, RangeOptions, compute_range, expected_error
from int8ptq.calib.samples import RowSampleObserver
from int8ptq.ir import Graph
from int8ptq.ir.ops import group, trans_a, trans_b
from int8ptq.passes.equalize import clip_bounds, equalize, find_pairs
from int8ptq.quant.isa import Isa
from int8ptq.quant.plan import QuantPlan
from int8ptq.quant.qdq import WeightGuard
from int8ptq.quant.qmath import activation_qparams
from int8ptq.quant.rounding import CompensatingRounder, Rounded
from int8ptq.quant.rules import RULES
from int8ptq.quant.saturation import guard_for

EVERY_VALUE = 1 << 62  # a histogram sample size larger than any tensor: every value
Requests = dict[str, tuple[str, Observer[Any]]]  # key -> (tensor, observer of that tensor)


class Algorithm(Protocol):
    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        """The statistics to collect: observers on tensors of `g`, under keys of its own."""
        ...


@dataclass
class Equalization:
    """Cross-layer equalization. Needs each channel's maximum of the activations between
    pairs across a Clip (ReLU6); applying it rescales the graph's weights."""

    observers: dict[str, ChannelMaxObserver] = field(default_factory=dict)

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        pairs = find_pairs(g)
        clipped = sorted({p.between for p in pairs if p.act is not None and p.act.op_type == "Clip"})
        self.observers = {t: ChannelMaxObserver() for t in clipped}
        return {t: (t, o) for t, o in self.observers.items()}

    def apply(self, g: Graph) -> int:
        """Equalize `g` in place; the number of layers rescaled."""
        maxima = {t: o.max for t, o in self.observers.items() if o.max is not None}
        return equalize(g, maxima)


@dataclass
class RangeEstimation:
    """Activation ranges of the planned tensors: min/max, or a histogram for the methods that
    search one (`exact`: histograms also keep the true extremes, for minmax from the same
    statistics)."""

    histogram: bool
    bins: int
    exact: bool = False
    samples: int | None = HISTOGRAM_SAMPLES  # values per calibration sample in each histogram; None: all
    observers: dict[str, MinMaxObserver] = field(default_factory=dict)

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        assert plan is not None
        samples = EVERY_VALUE if self.samples is None else self.samples
        self.observers = {
            t: HistogramObserver(self.bins, samples, self.exact) if self.histogram else MinMaxObserver()
            for t in plan.activations
        }
        return {f"range:{t}": (t, o) for t, o in self.observers.items()}

    def ranges(
        self, plan: QuantPlan, method: RangeMethod, opts: RangeOptions
    ) -> dict[str, tuple[float, float]]:
        return ranges_from(self.observers, plan, method, opts)


def ranges_from(
    observers: Mapping[str, MinMaxObserver], plan: QuantPlan, method: RangeMethod, opts: RangeOptions
) -> dict[str, tuple[float, float]]:
    """Each planned activation's range by `method`, from its observer (tune tries several
    methods on the statistics of one pass); a tensor whose readers all apply one elementwise
    function first (plan.curves) is ranged by the error after it."""
    return {
        t: compute_range(observers[t], method, opts, Curve(plan.curves.get(t, "Identity")))
        for t in plan.activations
    }


BOUND_REACHED = 0.5  # calibration must reach this share of a Clip's bound to be given the bound


def bounded_ranges(
    g: Graph, ranges: Mapping[str, tuple[float, float]], observers: Mapping[str, MinMaxObserver]
) -> dict[str, tuple[float, float]]:
    """Ranges that reach a Clip's bound (ReLU6's 6) where calibration came close to it.

    A bounded activation's rare large values, which a hundred images barely show, are the
    ones a range fitted to the histogram clips; the bound is known without data. Where the
    observed extreme reaches BOUND_REACHED of the bound, the range ends at the bound: at most
    twice the step, and nothing the activation can output is clipped."""
    out = dict(ranges)
    for t, (lo, hi) in ranges.items():
        node, obs = g.producer(t), observers.get(t)
        bounds = clip_bounds(g, node) if node is not None and node.op_type == "Clip" else None
        if bounds is None or obs is None:
            continue
        lo_b, hi_b = bounds
        if np.isfinite(hi_b) and hi_b > 0 and obs.hi >= BOUND_REACHED * hi_b:
            hi = max(hi, hi_b)
        if np.isfinite(lo_b) and lo_b < 0 and obs.lo <= BOUND_REACHED * lo_b:
            lo = min(lo, lo_b)
        out[t] = (lo, hi)
    return out


@dataclass
class OutputAwareRanges:
    """Activation ranges chosen by the error they cause where they are consumed, not by the
    tensor's own error alone. Needs a sample of rows of each activation that a pointwise
    layer (1x1 Conv, Gemm, MatMul with constant weights) reads; each candidate range (the
    histogram's MSE pick, scaled) quantizes the rows, and its cost is the noise-to-signal
    ratio of every pointwise consumer's output (its FP32 weights times the rows), plus the
    tensor's own ratio (from its histogram) for every other consumer. Tensors without a
    pointwise consumer keep the MSE pick."""

    observers: dict[str, RowSampleObserver] = field(default_factory=dict)

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        assert plan is not None
        self.observers = {}
        for t in plan.activations:
            weights, _, last = pointwise_weights(g, t)
            if weights:
                self.observers[t] = RowSampleObserver.for_width(weights[0].shape[1], last_axis=last)
        return {f"rows:{t}": (t, o) for t, o in self.observers.items()}

    def ranges(
        self, g: Graph, plan: QuantPlan, hist: Mapping[str, MinMaxObserver], opts: RangeOptions
    ) -> dict[str, tuple[float, float]]:
        out = ranges_from(hist, plan, RangeMethod.MSE, opts)
        for t, o in self.observers.items():
            if t not in out:  # sampled, but this plan keeps it in FP32 (a tune fallback)
                continue
            rows, h = o.sample(), hist[t]
            weights, others, _ = pointwise_weights(g, t)
            fits = rows is not None and weights and rows.shape[1] == weights[0].shape[1]
            if fits and isinstance(h, HistogramObserver) and h.count:
                assert rows is not None
                out[t] = downstream_range(rows, weights, others, h, out[t])
        return out


def pointwise_weights(g: Graph, tensor: str) -> tuple[list[np.ndarray], int, bool]:
    """The (O, K) weight matrices of the pointwise layers reading `tensor` as their data
    input, how many other consumers it has (a graph output counts as one), and whether the
    rows are along the last axis (Gemm, MatMul) rather than axis 1 (1x1 Conv). Consumers
    that read the other axis of a tensor of rank > 2 count as others."""
    weights, others, last = [], int(g.is_graph_output(tensor)), None
    shape = g.shape(tensor)
    for n in g.consumers(tensor):
        w = g.const(n.input[1]) if len(n.input) > 1 and n.input[0] == tensor else None
        m, axis_last = None, True
        if w is not None and n.op_type == "Conv" and w.ndim == 4 and w.shape[2:] == (1, 1) and group(n) == 1:
            m, axis_last = w.reshape(w.shape[0], -1), False
        elif w is not None and n.op_type == "Gemm" and w.ndim == 2 and not trans_a(n):
            m = w if trans_b(n) else w.T
        elif w is not None and n.op_type == "MatMul" and w.ndim == 2:
            m = w.T
        same = last is None or axis_last == last or (shape is not None and len(shape) <= 2)
        if m is None or not same:
            others += 1
        else:
            weights.append(np.asarray(m, np.float32))
            last = axis_last if last is None else last
    return weights, others, bool(last)


SCALES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.35, 1.5)  # of the MSE pick


def downstream_range(
    rows: np.ndarray, weights: list[np.ndarray], others: int, h: HistogramObserver, pick: tuple[float, float]
) -> tuple[float, float]:
    """The candidate range (`pick` scaled, within the observed extremes) with the smallest
    summed noise-to-signal ratio over the consumers (see OutputAwareRanges)."""
    floor, cap = min(h.lo, 0.0), max(h.hi, 0.0)
    cands = sorted({(max(pick[0] * s, floor), min(pick[1] * s, cap)) for s in SCALES})
    los, his = np.array([c[0] for c in cands]), np.array([c[1] for c in cands])
    power = float((h.centers() ** 2 * h.counts).sum() / max(h.counts.sum(), 1.0))
    cost = others * expected_error(h, los, his) / max(power, 1e-30)
    # sum over consumers of |e W_c^T|^2 / |x W_c^T|^2 = |e A^T|^2, A the stacked scaled W_c;
    # with more output channels than inputs, e (A^T A) e^T is the cheaper form
    a = np.concatenate([w / np.sqrt(max(float(((rows @ w.T) ** 2).sum()), 1e-30)) for w in weights])
    gram = a.T @ a if a.shape[0] > a.shape[1] else None
    for k, (lo, hi) in enumerate(cands):
        e = _fake_quantize(rows, lo, hi) - rows
        cost[k] += float(((e @ gram) * e).sum()) if gram is not None else float(((e @ a.T) ** 2).sum())
    return cands[int(np.argmin(cost))]


def _fake_quantize(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Quantize then dequantize with the uint8 parameters of [lo, hi] (as QDQ computes it)."""
    qp = activation_qparams(lo, hi)
    s, z = np.float32(qp.scale), np.float32(qp.zero_point)
    return (np.clip(np.rint(x / s) + z, 0, 255) - z) * s


@dataclass
class CompensatingRounding:
    """GPTQ-style weight rounding: needs the second moments of each weighted node's input;
    nodes that get none (and why) are kept in `missing`."""

    observers: dict[str, CovarianceObserver] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    cache: dict[bytes, Rounded] = field(default_factory=dict)  # shared by every build of these stats

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        assert plan is not None
        found = weight_observers(g, plan, self.missing)
        self.observers = {n: o for n, (_, o) in found.items()}
        return {f"weights:{n}": (t, o) for n, (t, o) in found.items()}

    def rounder(self) -> CompensatingRounder:
        return CompensatingRounder(self.observers, self.missing, self.cache)


@dataclass(frozen=True)
class SaturationGuard:
    """Keeps int16 pairs of u8*s8 kernels from saturating on CPUs without VNNI: it needs no
    statistics (the weights alone decide), only the target ISA."""

    isa: Isa

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        return {}

    def guard(self) -> WeightGuard | None:
        return guard_for(self.isa)


def weight_observers(
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


def requests_of(algorithms: list[Algorithm], g: Graph, plan: QuantPlan | None) -> Requests:
    """Every statistic the algorithms of one stage need (one collection pass feeds them all)."""
    out: Requests = {}
    for a in algorithms:
        out.update(a.needs(g, plan))
    return out
