"""Which quantized tensors hurt most: each tensor's own added error, from `compare`.

A tensor's noise-to-signal ratio (NSR = 10^(-SQNR/10), the median over its channels, so
one huge channel cannot hide the others being rounded away) is best measured with its layer
reading FP32 inputs (`compare(..., isolated=True)`, isolate.py): what the layer adds by itself.
Without that, the fallback estimate is its NSR minus the largest NSR among the quantized
tensors it reads; a layer that amplifies the noise it receives (a difference of similar
channels) can then take the blame for an upstream layer.

Where the shares of the output error were measured (`compare(..., attributed=True)`,
attribution.py), the tensors with a share above MIN_SHARE rank first, largest first: what the
output loses to a tensor, not what the tensor loses itself (a tensor with a poor SQNR may
matter little downstream, and a clean-looking one, the stem's output carried through every
block, much). The others follow by the error their layer adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.eval.compare import CompareResult
from int8ptq.ir.graph import Graph
from int8ptq.quant.plan import QuantPlan


@dataclass(frozen=True)
class Sensitivity:
    tensor: str
    layer: str  # the node that produces the tensor (a float one: Split...), "input" for an input
    added_nsr: float  # noise-to-signal ratio this layer adds
    sqnr_db: float  # per-channel SQNR (see compare.py)
    fallback: tuple[str, ...]  # nodes that must run in FP32 to keep the tensor in FP32
    error_share: float | None = None  # of the output error, gone with the tensor in float


def _quantized_sources(g: Graph, tensor: str, quantized: set[str], seen: set[str]) -> set[str]:
    """The quantized tensors that `tensor` is computed from (through unquantized ones)."""
    node = g.producer(tensor)
    if node is None:
        return set()
    out: set[str] = set()
    for i in node.input:
        if not i or g.const(i) is not None or i in seen:
            continue
        seen.add(i)
        out |= {i} if i in quantized else _quantized_sources(g, i, quantized, seen)
    return out


def _layer(g: Graph, tensor: str, planned: set[str]) -> onnx.NodeProto | None:
    """The planned node producing `tensor`, looking through folded Relu/Clip."""
    node = g.producer(tensor)
    while node is not None and node.name not in planned and node.op_type in ("Relu", "Clip"):
        node = g.producer(node.input[0])
    return node if node is not None and node.name in planned else None


def _nsr(sqnr_db: float) -> float:
    return 10 ** (-sqnr_db / 10) if np.isfinite(sqnr_db) else 0.0


def rank(g: Graph, plan: QuantPlan, result: CompareResult) -> list[Sensitivity]:
    """Quantized tensors, the most harmful first. `g` is the prepared FP32 graph."""
    nsr = {t.tensor: _nsr(t.channel_sqnr_db) for t in result.tensors}
    own = {t.tensor: _nsr(t.added_sqnr_db) for t in result.tensors if t.added_sqnr_db is not None}
    sqnr = {t.tensor: t.channel_sqnr_db for t in result.tensors}
    share = {t.tensor: t.error_share for t in result.tensors}
    quantized, planned = set(nsr), set(plan.nodes)
    out = []
    for t in nsr:
        sources = _quantized_sources(g, t, quantized, set())
        carried = max((nsr[s] for s in sources if s in nsr), default=0.0)
        added = own[t] if t in own else nsr[t] - carried  # measured in isolation where we can
        layer = _layer(g, t, planned)
        consumers = [c.name for c in g.consumers(t) if c.name in planned]
        fallback = tuple(dict.fromkeys(([layer.name] if layer is not None else []) + consumers))
        producer = layer if layer is not None else g.producer(t)
        name = producer.name if producer is not None else "input"
        out.append(Sensitivity(t, name, added, sqnr[t], fallback, share[t]))
    out.sort(key=lambda s: (-_above_noise(s.error_share), -s.added_nsr))
    return out


MIN_SHARE = 0.02  # of the output error: smaller shares (and negative ones) are measurement noise


def _above_noise(share: float | None) -> float:
    """The share to rank by: 0 (rank by the added error) unless it clears MIN_SHARE."""
    return share if share is not None and share >= MIN_SHARE else 0.0
