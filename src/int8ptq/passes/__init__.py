"""Preparation passes, one per file. Each takes a Graph, edits it, returns a change count.

`PREPARE` is the order `api.quantize` runs them in; every pass keeps the model's outputs
unchanged (tests/passes check it against onnxruntime).
"""

from __future__ import annotations

from collections.abc import Callable

from int8ptq.ir.graph import Graph
from int8ptq.passes.fold_affine import fold_affine
from int8ptq.passes.fold_bn import fold_bn
from int8ptq.passes.fold_constants import fold_constants
from int8ptq.passes.fold_pad import fold_pad
from int8ptq.passes.fuse_hard_activations import fuse_hard_activations
from int8ptq.passes.remove_identity import remove_identity
from int8ptq.passes.shape_inference import infer_shapes

Pass = Callable[[Graph], int]

PREPARE: list[tuple[str, Pass]] = [
    ("remove_identity", remove_identity),
    ("fold_constants", fold_constants),
    ("fold_affine", fold_affine),  # before and after BN folding: Conv-Add-BN and Conv-BN-Mul
    ("fold_bn", fold_bn),
    ("fold_affine", fold_affine),
    ("fold_pad", fold_pad),
    ("fuse_hard_activations", fuse_hard_activations),
    ("remove_identity", remove_identity),
]


def prepare(graph: Graph) -> dict[str, int]:
    """Run every preparation pass, then shape inference. Returns changes per pass."""
    counts: dict[str, int] = {}
    for name, p in PREPARE:
        counts[name] = counts.get(name, 0) + p(graph)
        graph.cleanup()
    graph.toposort()
    counts["infer_shapes"] = infer_shapes(graph)
    return counts


__all__ = [
    "PREPARE",
    "Pass",
    "fold_affine",
    "fold_bn",
    "fold_constants",
    "fold_pad",
    "fuse_hard_activations",
    "infer_shapes",
    "prepare",
    "remove_identity",
]
