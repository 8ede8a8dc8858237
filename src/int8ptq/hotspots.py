"""Error hotspots: an activation whose quantization alone causes a large share of the model's
output error, where keeping it in float costs few multiply-adds, stays in float with the
layers that produce and read it.

On the EfficientNet-Lites, the stem's output (a ReLU6 at full resolution, read by a
depthwise Conv) caused a third of the logits' error: its rounding noise is carried through
every block. Its two layers are under 4% of the multiply-adds.

The measure is the model's own: the built INT8 model runs on a few calibration samples,
once as built and once per candidate with that tensor in float as the final model would
compute it (its QuantizeLinear -> DequantizeLinear taken out, a folded Relu/Clip put back),
and the output error against FP32 is compared. Candidates are the tensors whose float layers
include a weighted one (Conv, Gemm, MatMul) and stay within the compute budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from int8ptq.calib.observers import FirstBatchesObserver, Observer
from int8ptq.ir.graph import Graph
from int8ptq.ir.outputs import with_outputs
from int8ptq.passes.equalize import clip_bounds
from int8ptq.quant.plan import QuantPlan
from int8ptq.runtime import Backend, make_runner

SHARE = 0.2  # of the output error: a tensor causing this much alone stays in float
BUDGET = 0.05  # of the quantized layers' multiply-adds, for every hotspot together
MEASURES = 24  # model runs at most, to find them among the candidates
MAX_BATCHES = 64  # kept at most: batches whose first input holds no samples never fill the stash
WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")

Feeds = dict[str, np.ndarray]


@dataclass
class SampleStash:
    """Keeps every graph input and float output (the FP32 reference) of the first batches that
    hold `samples` samples (at most MAX_BATCHES batches: samples of differing shapes come one
    per batch): an algorithm of the calibration pass (see algorithms.py)."""

    samples: int = 16
    observers: dict[str, FirstBatchesObserver] = field(default_factory=dict)

    def needs(self, g: Graph, plan: QuantPlan | None) -> dict[str, tuple[str, Observer[Any]]]:
        names = [i.name for i in g.inputs]
        names += [o.name for o in g.outputs if o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
        sizes: list[int] = []  # the samples of each batch, as the first input counts them

        def wanted(batch: int) -> bool:
            return batch < MAX_BATCHES and sum(sizes[:batch]) < self.samples

        leader = names[0] if names else None
        self.observers = {t: FirstBatchesObserver(wanted, sizes if t == leader else None) for t in names}
        return {f"stash:{t}": (t, o) for t, o in self.observers.items()}

    def pairs(self, g: Graph) -> tuple[list[Feeds], list[Feeds]]:
        """The kept batches' inputs, and FP32 float outputs, batch by batch."""
        inputs = [i.name for i in g.inputs]
        outputs = [o.name for o in g.outputs if o.name in self.observers]
        n = min((len(self.observers[t].kept) for t in inputs + outputs), default=0)
        pick = lambda names, b: {t: self.observers[t].kept[b] for t in names}  # noqa: E731
        return [pick(inputs, b) for b in range(n)], [pick(outputs, b) for b in range(n)]


def layer_costs(g: Graph, planned: set[str], feeds: Feeds, threads: int | None = None) -> dict[str, float]:
    """Multiply-adds of each `planned` weighted layer, from its output's shape on `feeds`."""
    layers = [n for n in g.nodes if n.name in planned and n.op_type in WEIGHTED]
    weighted = [n for n in layers if len(n.input) > 1 and g.const(n.input[1]) is not None]
    if not weighted:
        return {}
    runner = make_runner(with_outputs(g, [n.output[0] for n in weighted]), Backend.ORT, threads)
    outs = dict(zip(runner.output_names, runner.run_all(feeds), strict=True))
    costs = {}
    for n in weighted:
        w, y = g.const(n.input[1]), outs[n.output[0]]
        assert w is not None
        channels = y.shape[1] if n.op_type.startswith("Conv") else y.shape[-1]
        costs[n.name] = float(y.size) * w.size / max(channels, 1)  # outputs x products per output
    return costs


def output_error(
    model: onnx.ModelProto, feeds: list[Feeds], reference: list[Feeds], threads: int | None = None
) -> float:
    """The mean over float outputs of |INT8 - FP32|^2 / |FP32 - its mean|^2."""
    runner = make_runner(model, Backend.ORT, threads)
    got: dict[str, float] = {}
    power: dict[str, float] = {}
    for x, ref in zip(feeds, reference, strict=True):
        outs = dict(zip(runner.output_names, runner.run_all(x), strict=True))
        for name, r in ref.items():
            got[name] = got.get(name, 0.0) + float(((outs[name] - r) ** 2).sum())
            power[name] = power.get(name, 0.0) + float(((r - r.mean()) ** 2).sum())
    errs = [got[k] / power[k] for k in got if power[k] > 0]
    return float(np.mean(errs)) if errs else 0.0


def as_float(model: onnx.ModelProto, bounds: dict[str, tuple[float, float] | None]) -> onnx.ModelProto:
    """`model` with each tensor of `bounds` in float, as the plan that keeps it float computes
    it: its QuantizeLinear -> DequantizeLinear taken out, and where a Relu/Clip was folded into
    its range, that activation's own bounds put back (None: none was folded)."""
    g = Graph(model)
    for tensor, lo_hi in bounds.items():
        for q in [n for n in g.consumers(tensor) if n.op_type == "QuantizeLinear"]:
            clip = []
            if lo_hi is not None:
                clip = [g.add_initializer(g.fresh("float_lo"), np.array(lo_hi[0], np.float32))]
                clip.append(g.add_initializer(g.fresh("float_hi"), np.array(lo_hi[1], np.float32)))
            for dq in [n for n in g.consumers(q.output[0]) if n.op_type == "DequantizeLinear"]:
                op = "Clip" if clip else "Identity"
                g.replace_node(dq, onnx.helper.make_node(op, [tensor, *clip], [dq.output[0]], name=dq.name))
    g.cleanup()
    return g.to_model()


def share_in_float(
    g: Graph,
    fused: set[str],
    model: onnx.ModelProto,
    tensors: list[str],
    feeds: list[Feeds],
    reference: list[Feeds],
    base: float,
    threads: int | None = None,
) -> float:
    """The share of `model`'s output error `base` that goes away with `tensors` in float
    (negative: the error grows). `fused`: the Relu/Clip nodes folded into quantized ranges."""
    model = as_float(model, {t: folded_bounds(g, fused, t) for t in tensors})
    return 1.0 - output_error(model, feeds, reference, threads) / base


def folded_bounds(g: Graph, fused: set[str], tensor: str) -> tuple[float, float] | None:
    """The (lo, hi) of the Relu/Clip (one of the `fused` nodes) folded into `tensor`'s range."""
    node = g.producer(tensor)
    if node is None or node.name not in fused:
        return None
    if node.op_type == "Relu":
        return (0.0, float(np.finfo(np.float32).max))
    bounds = clip_bounds(g, node)
    return None if bounds is None else (bounds[0], min(bounds[1], float(np.finfo(np.float32).max)))


def float_layers(g: Graph, planned: set[str], fused: set[str], tensor: str) -> list[str]:
    """The `planned` nodes that must run in float for `tensor` to stay float: its readers and
    its producer (through a Relu/Clip of `fused`, folded into the producer's range)."""
    producer = g.producer(tensor)
    while producer is not None and producer.name in fused:
        producer = g.producer(producer.input[0])
    nodes = [producer] + g.consumers(tensor)
    return [n.name for n in nodes if n is not None and n.name in planned]


def find_hotspots(g: Graph, plan: QuantPlan, model: onnx.ModelProto, stash: SampleStash) -> dict[str, str]:
    """Nodes to keep in float -> why (the tensor, its share of the error, its cost)."""
    feeds, reference = stash.pairs(g)
    if not feeds or not reference[0]:
        return {}
    planned, fused = set(plan.nodes), set(plan.fused)
    costs = layer_costs(g, planned, feeds[0])
    total = sum(costs.values())
    base = output_error(model, feeds, reference)
    if total <= 0 or base <= 0:
        return {}
    layers = {t: float_layers(g, planned, fused, t) for t in plan.activations}
    cost = {t: sum(costs.get(n, 0.0) for n in ls) for t, ls in layers.items()}
    candidates = [t for t, ls in layers.items() if any(n in costs for n in ls) and cost[t] <= BUDGET * total]

    def share(tensors: list[str]) -> float:
        return share_in_float(g, fused, model, tensors, feeds, reference, base)

    found: dict[str, str] = {}
    spent = 0.0
    for s, t in sorted(_bisect(candidates, share, MEASURES), reverse=True):
        if spent + cost[t] <= BUDGET * total:
            spent += cost[t]
            why = f"{t}: {100 * s:.0f}% of the output error, {100 * cost[t] / total:.1f}% of the compute"
            found.update({n: why for n in layers[t]})
    return found


def _bisect(
    tensors: list[str], share: Callable[[list[str]], float], measures: int
) -> list[tuple[float, str]]:
    """The tensors whose quantization alone causes at least SHARE of the error, found by halving:
    shares of disjoint sets add up, so only sets above SHARE are split (at most `measures`
    measurements)."""
    found, todo = [], [tensors] if tensors else []
    while todo and measures > 0:
        group = todo.pop(0)
        s = share(group)
        measures -= 1
        if s < SHARE:
            continue
        if len(group) == 1:
            found.append((s, group[0]))
        else:
            todo += [group[: len(group) // 2], group[len(group) // 2 :]]
    return found
