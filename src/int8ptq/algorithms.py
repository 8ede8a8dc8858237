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

from int8ptq.calib.covariance import CovarianceObserver, observer_or_reason
from int8ptq.calib.observers import ChannelMaxObserver, HistogramObserver, MinMaxObserver, Observer
from int8ptq.calib.ranges import RangeMethod, RangeOptions, compute_range
from int8ptq.ir import Graph
from int8ptq.passes.equalize import equalize, find_pairs
from int8ptq.quant.isa import Isa
from int8ptq.quant.plan import QuantPlan
from int8ptq.quant.qdq import WeightGuard
from int8ptq.quant.rounding import CompensatingRounder
from int8ptq.quant.rules import RULES
from int8ptq.quant.saturation import guard_for

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
    observers: dict[str, MinMaxObserver] = field(default_factory=dict)

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        assert plan is not None
        self.observers = {
            t: HistogramObserver(self.bins, exact=self.exact) if self.histogram else MinMaxObserver()
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
    methods on the statistics of one pass)."""
    return {t: compute_range(observers[t], method, opts) for t in plan.activations}


@dataclass
class CompensatingRounding:
    """GPTQ-style weight rounding: needs the second moments of each weighted node's input;
    nodes that get none (and why) are kept in `missing`."""

    observers: dict[str, CovarianceObserver] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def needs(self, g: Graph, plan: QuantPlan | None) -> Requests:
        assert plan is not None
        found = weight_observers(g, plan, self.missing)
        self.observers = {n: o for n, (_, o) in found.items()}
        return {f"weights:{n}": (t, o) for n, (t, o) in found.items()}

    def rounder(self) -> CompensatingRounder:
        return CompensatingRounder(self.observers, self.missing)


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

