"""Fold a zero, constant-mode Pad on spatial dims into the Conv or pool that reads it."""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import Replacement, Rule, attr, edited, rewrite, sole_consumer


def _pad_amounts(g: Graph, pad: onnx.NodeProto) -> np.ndarray | None:
    if attr(pad, "mode", b"constant") not in (b"constant", "constant"):
        return None
    pads = g.const(pad.input[1]) if len(pad.input) > 1 else None
    if pads is None:
        return None
    if len(pad.input) > 2 and pad.input[2]:
        value = g.const(pad.input[2])
        if value is None or np.any(value != 0):
            return None
    if len(pad.input) > 3 and pad.input[3]:
        return None  # explicit axes: rare, left alone
    return pads.astype(np.int64)


def _pad_conv(g: Graph, pad: onnx.NodeProto) -> Replacement | None:
    # Conv(Pad0(x, p)) = Conv(x, pads = pads + p), when p touches spatial dims only
    conv = sole_consumer(g, pad.output[0])
    p = _pad_amounts(g, pad)
    if conv is None or conv.op_type not in ("Conv",) or p is None or conv.input[0] != pad.output[0]:
        return None
    rank = len(p) // 2
    begin, end = p[:rank], p[rank:]
    if np.any(begin[:2] != 0) or np.any(end[:2] != 0) or np.any(p < 0):
        return None
    if attr(conv, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    old = list(attr(conv, "pads", [0] * (2 * (rank - 2))))
    k = rank - 2
    new = [old[i] + int(begin[2 + i]) for i in range(k)] + [old[k + i] + int(end[2 + i]) for i in range(k)]
    merged = edited(conv, inputs={0: pad.input[0]}, attrs={"pads": new})
    return Replacement(replace=((conv, merged),), remove=(pad,))


RULES: list[Rule] = [(("Pad",), _pad_conv)]


def fold_pad(graph: Graph) -> int:
    return rewrite(graph, RULES)
