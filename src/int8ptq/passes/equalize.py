"""Cross-layer equalization (DFQ, Nagel et al. 2019) of Conv -> activation -> Conv pairs.

Scaling output channel i of the first convolution by 1/s_i and input channel i of the
second by s_i leaves the function unchanged when the activation between them is positively
homogeneous: act(z / s) = act(z) / s for s > 0 (Relu, LeakyRelu, none). With
s_i = sqrt(r1_i / r2_i), both weight ranges become sqrt(r1_i * r2_i): per-tensor int8
weights then lose far less. (Per-channel weights gain little: each row has its own scale.)

Clip(0, hi), ReLU6, is homogeneous only below hi. A channel that reaches hi on the
calibration data keeps s_i = 1; one whose maximum m_i stays below hi may be rescaled with
s_i >= margin * m_i / hi, so that on the calibration data, with room to spare, the clip is
never reached after scaling either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.ops import attr, group, is_depthwise
from int8ptq.ir.rewrite import sole_consumer

HOMOGENEOUS = {"Relu", "LeakyRelu"}


@dataclass(frozen=True)
class Pair:
    first: onnx.NodeProto
    act: onnx.NodeProto | None
    second: onnx.NodeProto

    @property
    def between(self) -> str:
        """The tensor between the two layers (the activation's output)."""
        return (self.act or self.first).output[0]


def _conv_kind(g: Graph, n: onnx.NodeProto) -> str | None:
    """'dense' or 'depthwise' for a Conv with constant 4-D weights we can rescale."""
    if n.op_type != "Conv" or g.const(n.input[1]) is None:
        return None
    w = g.const(n.input[1])
    assert w is not None
    if w.ndim != 4 or (len(n.input) > 2 and n.input[2] and g.const(n.input[2]) is None):
        return None
    if group(n) == 1:
        return "dense"
    return "depthwise" if is_depthwise(n, w.shape) else None


def clip_bounds(g: Graph, act: onnx.NodeProto) -> tuple[float, float] | None:
    """(lo, hi) of a Clip with constant bounds, else None."""
    if act.op_type != "Clip":
        return None
    vals = [g.const(i) if i else None for i in list(act.input[1:3]) + [""] * (3 - len(act.input))]
    lo = float(vals[0]) if vals[0] is not None else float(attr(act, "min", -np.inf))
    hi = float(vals[1]) if vals[1] is not None else float(attr(act, "max", np.inf))
    return lo, hi


def find_pairs(g: Graph) -> list[Pair]:
    """Conv -> [Relu | LeakyRelu | Clip(0, hi) | nothing] -> Conv, each link the sole use."""
    pairs = []
    for first in g.nodes:
        if _conv_kind(g, first) is None or g.is_graph_output(first.output[0]):
            continue
        nxt = sole_consumer(g, first.output[0])
        act = None
        if nxt is not None and (nxt.op_type in HOMOGENEOUS or nxt.op_type == "Clip"):
            bounds = clip_bounds(g, nxt) if nxt.op_type == "Clip" else (0.0, np.inf)
            if bounds is None or bounds[0] != 0.0 or g.is_graph_output(nxt.output[0]):
                continue
            act, nxt = nxt, sole_consumer(g, nxt.output[0])
        if nxt is None or _conv_kind(g, nxt) is None or nxt.input[0] != (act or first).output[0]:
            continue
        w1 = g.const(first.input[1])
        assert w1 is not None  # _conv_kind checked it
        out_channels = w1.shape[0]
        w2 = g.const(nxt.input[1])
        assert w2 is not None
        in_channels = w2.shape[0] if _conv_kind(g, nxt) == "depthwise" else w2.shape[1]
        if in_channels == out_channels:
            pairs.append(Pair(first, act, nxt))
    return pairs


def _scales(g: Graph, p: Pair, channel_max: Mapping[str, np.ndarray], margin: float) -> np.ndarray | None:
    w1, w2 = g.const(p.first.input[1]), g.const(p.second.input[1])
    assert w1 is not None and w2 is not None
    r1 = np.abs(w1).reshape(len(w1), -1).max(axis=1).astype(np.float64)
    depthwise2 = _conv_kind(g, p.second) == "depthwise"
    r2 = np.abs(w2).reshape(len(w2), -1).max(axis=1) if depthwise2 else np.abs(w2).max(axis=(0, 2, 3))
    r2 = r2.astype(np.float64)
    live = (r1 > 0) & (r2 > 0)
    s = np.ones_like(r1)
    s[live] = np.sqrt(r1[live] / r2[live])
    if p.act is not None and p.act.op_type == "Clip":
        bounds = clip_bounds(g, p.act)
        assert bounds is not None  # find_pairs checked it
        hi = bounds[1]
        if np.isfinite(hi):
            m = channel_max.get(p.between)
            if m is None:
                return None  # no statistics: a clipped pair cannot be equalized safely
            reaches = m >= hi * (1 - 1e-6)
            s = np.where(reaches, 1.0, np.maximum(s, margin * np.maximum(m, 0) / hi))
    return s


def _apply(g: Graph, p: Pair, s: np.ndarray) -> None:
    # first: W1[i] / s_i, b1[i] / s_i; second: its input channel i times s_i
    w1 = g.const(p.first.input[1])
    w2 = g.const(p.second.input[1])
    assert w1 is not None and w2 is not None
    g.set_input(
        p.first,
        1,
        g.add_initializer(g.fresh("equalized_W"), (w1 / s.reshape(-1, 1, 1, 1)).astype(np.float32)),
    )
    if len(p.first.input) > 2 and p.first.input[2]:
        b1 = g.const(p.first.input[2])
        assert b1 is not None
        g.set_input(p.first, 2, g.add_initializer(g.fresh("equalized_B"), (b1 / s).astype(np.float32)))
    shape = (-1, 1, 1, 1) if _conv_kind(g, p.second) == "depthwise" else (1, -1, 1, 1)
    w2s = (w2 * s.reshape(shape)).astype(np.float32)
    g.set_input(p.second, 1, g.add_initializer(g.fresh("equalized_W"), w2s))


def equalize(
    g: Graph, channel_max: Mapping[str, np.ndarray] | None = None, rounds: int = 8, margin: float = 1.25
) -> int:
    """Equalize every pair, repeatedly (chains share layers); the number of pairs changed.
    `channel_max`: per-channel maxima of Clip outputs on calibration data (needed for them)."""
    stats = channel_max or {}
    changed: set[str] = set()
    for _ in range(rounds):
        worst = 0.0
        for p in find_pairs(g):
            s = _scales(g, p, stats, margin)
            if s is None or np.allclose(s, 1.0, rtol=1e-3):
                continue
            worst = max(worst, float(np.abs(np.log(s)).max()))
            _apply(g, p, s)
            if p.between in stats:  # the activation between is now divided by s
                stats = {**stats, p.between: np.asarray(stats[p.between]) / s}
            changed.add(p.first.name)
        if worst < 1e-2:
            break
    g.cleanup()
    return len(changed)
