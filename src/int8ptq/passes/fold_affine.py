"""Fold per-channel scales and offsets (Mul or Add by a constant) into a neighbouring Conv.

Paddle exports often keep a Conv's bias as a separate Add, and blocks such as PP-LCNetV3's
learnable affine blocks scale and shift activations with Mul and Add. Left alone, each
becomes a float island between quantized tensors (an extra requantization, slower and less
accurate). Folded, the Conv carries them in its weights and bias.
"""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import Replacement, Rule, attr, edited, rewrite, sole_consumer


def _channel_vector(g: Graph, node: onnx.NodeProto, data: str, rank: int, channels: int) -> np.ndarray | None:
    """The constant operand of `node` (the one that is not `data`) as a length-`channels`
    vector, if it broadcasts along axis 1 of a rank-`rank` tensor without changing its shape."""
    if len(node.input) != 2 or data not in node.input or node.input[0] == node.input[1]:
        return None
    c = g.const(node.input[1] if node.input[0] == data else node.input[0])
    if c is None or c.dtype != np.float32 or c.ndim > rank:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (channels,))


def _conv_parts(g: Graph, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
    w = g.const(conv.input[1]) if len(conv.input) > 1 else None
    if w is None or w.dtype != np.float32:
        return None
    b = g.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0], np.float32)
    return None if b is None else (w.astype(np.float64), b.astype(np.float64))


def _new_conv(
    g: Graph,
    conv: onnx.NodeProto,
    w: np.ndarray,
    b: np.ndarray,
    inputs: dict[int, str] | None = None,
    outputs: dict[int, str] | None = None,
) -> tuple[tuple[tuple[str, np.ndarray], ...], onnx.NodeProto]:
    name_w, name_b = g.fresh(f"{conv.name or 'conv'}_W"), g.fresh(f"{conv.name or 'conv'}_bias")
    new = edited(conv, inputs={**(inputs or {}), 1: name_w, 2: name_b}, outputs=outputs)
    return ((name_w, w.astype(np.float32)), (name_b, b.astype(np.float32))), new


def _into_producer(g: Graph, conv: onnx.NodeProto) -> Replacement | None:
    # Conv(x, W, b) * s = Conv(x, W * s, b * s); Conv(x, W, b) + t = Conv(x, W, b + t), per channel
    nxt = sole_consumer(g, conv.output[0])
    parts = _conv_parts(g, conv)
    if nxt is None or nxt.op_type not in ("Mul", "Add") or parts is None:
        return None
    w, b = parts
    v = _channel_vector(g, nxt, conv.output[0], w.ndim, w.shape[0])
    if v is None:
        return None
    if nxt.op_type == "Mul":
        w, b = w * v.reshape((-1,) + (1,) * (w.ndim - 1)), b * v
    else:
        b = b + v
    constants, new = _new_conv(g, conv, w, b, outputs={0: nxt.output[0]})
    return Replacement(constants=constants, replace=((conv, new),), remove=(nxt,))


def _unpadded(conv: onnx.NodeProto) -> bool:
    if attr(conv, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        return False
    return not any(attr(conv, "pads", []))


def _into_consumer(g: Graph, op: onnx.NodeProto) -> Replacement | None:
    # Conv(x * s, W, b) = Conv(x, W * s[in], b); Conv(x + t, W, b) = Conv(x, W, b + sum(W * t[in])),
    # when the Conv pads nothing (a padded border would see 0, not t)
    conv = sole_consumer(g, op.output[0])
    if conv is None or conv.op_type != "Conv" or conv.input[0] != op.output[0] or not _unpadded(conv):
        return None
    parts = _conv_parts(g, conv)
    if parts is None:
        return None
    w, b = parts
    groups = int(attr(conv, "group", 1))
    per_group = w.shape[1]
    data = op.input[0] if g.const(op.input[0]) is None else op.input[1]
    v = _channel_vector(g, op, data, w.ndim, per_group * groups)
    if v is None:
        return None
    # input channel read by weight [o, j]: group(o) * (C / g) + j
    group_of = np.arange(w.shape[0]) // (w.shape[0] // groups)
    per_weight = v[group_of[:, None] * per_group + np.arange(per_group)[None, :]]
    per_weight = per_weight.reshape(per_weight.shape + (1,) * (w.ndim - 2))
    if op.op_type == "Mul":
        w = w * per_weight
    else:
        b = b + (w * per_weight).reshape(w.shape[0], -1).sum(1)
    constants, new = _new_conv(g, conv, w, b, inputs={0: data})
    return Replacement(constants=constants, replace=((conv, new),), remove=(op,))


RULES: list[Rule] = [(("Conv",), _into_producer), (("Mul", "Add"), _into_consumer)]


def fold_affine(graph: Graph) -> int:
    return rewrite(graph, RULES)
