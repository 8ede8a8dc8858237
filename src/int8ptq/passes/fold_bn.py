"""Fold BatchNormalization into the Conv or Gemm that feeds it."""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.rewrite import Rule, attr, rewrite, set_attr, sole_consumer


def _bn_affine(g: Graph, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
    vals = [g.const(i) for i in bn.input[1:5]]
    if any(v is None for v in vals) or len(bn.output) > 1 and any(bn.output[1:]):
        return None
    gamma, beta, mean, var = (v.astype(np.float64) for v in vals)  # type: ignore[union-attr]
    scale = gamma / np.sqrt(var + float(attr(bn, "epsilon", 1e-5)))
    return scale, beta - mean * scale


def _replace_bias(g: Graph, node: onnx.NodeProto, slot: int, bias: np.ndarray) -> None:
    name = g.fresh(f"{node.name or node.op_type}_bias")
    g.add_initializer(name, bias.astype(np.float32))
    while len(node.input) <= slot:
        node.input.append("")
    node.input[slot] = name


def _conv_bn(g: Graph, conv: onnx.NodeProto) -> bool:
    # BN(Conv(x, W, b)) = Conv(x, W * s, (b - mean) * s + beta), s = gamma / sqrt(var + eps)
    bn = sole_consumer(g, conv.output[0])
    w = g.const(conv.input[1])
    if bn is None or bn.op_type != "BatchNormalization" or w is None:
        return False
    affine = _bn_affine(g, bn)
    if affine is None:
        return False
    s, t = affine
    b = g.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0])
    if b is None:
        return False
    shape = (-1,) + (1,) * (w.ndim - 1)
    new_w = g.fresh(f"{conv.name or 'conv'}_W")
    g.add_initializer(new_w, (w.astype(np.float64) * s.reshape(shape)).astype(np.float32))
    conv.input[1] = new_w
    _replace_bias(g, conv, 2, b.astype(np.float64) * s + t)
    conv.output[0] = bn.output[0]
    g.remove_node(bn)
    return True


def _gemm_bn(g: Graph, gemm: onnx.NodeProto) -> bool:
    # BN(alpha*A@B + beta*C) = A @ (alpha*B*s) + (beta*C - mean)*s + bn_beta, per output column
    bn = sole_consumer(g, gemm.output[0])
    b = g.const(gemm.input[1])
    if bn is None or bn.op_type != "BatchNormalization" or b is None or attr(gemm, "transA", 0):
        return False
    affine = _bn_affine(g, bn)
    if affine is None:
        return False
    s, t = affine
    alpha, beta = float(attr(gemm, "alpha", 1.0)), float(attr(gemm, "beta", 1.0))
    trans_b = bool(attr(gemm, "transB", 0))
    c = g.const(gemm.input[2]) if len(gemm.input) > 2 and gemm.input[2] else np.zeros(s.shape)
    if c is None:
        return False
    scaled = b.astype(np.float64) * alpha * (s[:, None] if trans_b else s[None, :])
    new_b = g.fresh(f"{gemm.name or 'gemm'}_B")
    g.add_initializer(new_b, scaled.astype(np.float32))
    gemm.input[1] = new_b
    _replace_bias(g, gemm, 2, np.broadcast_to(beta * c.astype(np.float64), s.shape) * s + t)
    set_attr(gemm, "alpha", 1.0)
    set_attr(gemm, "beta", 1.0)
    gemm.output[0] = bn.output[0]
    g.remove_node(bn)
    return True


RULES: list[Rule] = [(("Conv",), _conv_bn), (("Gemm",), _gemm_bn)]


def fold_bn(graph: Graph) -> int:
    return rewrite(graph, RULES)
