"""Fold BatchNormalization into the Conv or Gemm that feeds it."""

from __future__ import annotations

import numpy as np
import onnx

from int8ptq.ir.graph import Graph
from int8ptq.ir.ops import attr, trans_a, trans_b
from int8ptq.ir.rewrite import Replacement, Rule, edited, rewrite, sole_consumer


def _bn_affine(g: Graph, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
    vals = [g.const(i) for i in bn.input[1:5]]
    if any(v is None for v in vals) or len(bn.output) > 1 and any(bn.output[1:]):
        return None
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in vals)
    scale = gamma / np.sqrt(var + float(attr(bn, "epsilon", 1e-5)))
    return scale, beta - mean * scale


def _conv_bn(g: Graph, conv: onnx.NodeProto) -> Replacement | None:
    # BN(Conv(x, W, b)) = Conv(x, W * s, (b - mean) * s + beta), s = gamma / sqrt(var + eps)
    bn = sole_consumer(g, conv.output[0])
    w = g.const(conv.input[1])
    if bn is None or bn.op_type != "BatchNormalization" or w is None:
        return None
    affine = _bn_affine(g, bn)
    if affine is None:
        return None
    s, t = affine
    b = g.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0])
    if b is None:
        return None
    shape = (-1,) + (1,) * (w.ndim - 1)
    new_w = g.fresh(f"{conv.name or 'conv'}_W")
    w_value = (w.astype(np.float64) * s.reshape(shape)).astype(np.float32)
    new_b = g.fresh(f"{conv.name or conv.op_type}_bias")
    b_value = (b.astype(np.float64) * s + t).astype(np.float32)
    return Replacement(
        constants=((new_w, w_value), (new_b, b_value)),
        replace=((conv, edited(conv, inputs={1: new_w, 2: new_b}, outputs={0: bn.output[0]})),),
        remove=(bn,),
    )


def _gemm_bn(g: Graph, gemm: onnx.NodeProto) -> Replacement | None:
    # BN(alpha*A@B + beta*C) = A @ (alpha*B*s) + (beta*C - mean)*s + bn_beta, per output column
    bn = sole_consumer(g, gemm.output[0])
    b = g.const(gemm.input[1])
    if bn is None or bn.op_type != "BatchNormalization" or b is None or trans_a(gemm):
        return None
    affine = _bn_affine(g, bn)
    if affine is None:
        return None
    s, t = affine
    alpha, beta = float(attr(gemm, "alpha", 1.0)), float(attr(gemm, "beta", 1.0))
    c = g.const(gemm.input[2]) if len(gemm.input) > 2 and gemm.input[2] else np.zeros(s.shape)
    if c is None:
        return None
    scaled = b.astype(np.float64) * alpha * (s[:, None] if trans_b(gemm) else s[None, :])
    new_b = g.fresh(f"{gemm.name or 'gemm'}_B")
    new_c = g.fresh(f"{gemm.name or gemm.op_type}_bias")
    c_value = (np.broadcast_to(beta * c.astype(np.float64), s.shape) * s + t).astype(np.float32)
    new = edited(
        gemm, inputs={1: new_b, 2: new_c}, outputs={0: bn.output[0]}, attrs={"alpha": 1.0, "beta": 1.0}
    )
    return Replacement(
        constants=((new_b, scaled.astype(np.float32)), (new_c, c_value)),
        replace=((gemm, new),),
        remove=(bn,),
    )


RULES: list[Rule] = [(("Conv",), _conv_bn), (("Gemm",), _gemm_bn)]


def fold_bn(graph: Graph) -> int:
    return rewrite(graph, RULES)
