"""Fidelity of any model against a reference, output by output: cosine, SQNR, and argmax
agreement along the last axis where that axis is a class axis; plus a user's task metric.

A metric is `metric(fp32_outputs, int8_outputs, inputs) -> float`, higher is better (the
shape of NNCF's `validation_fn` and INC's `eval_func`): each argument is a list with one
entry per batch, `{output_name: array}` for the outputs and `{input_name: array}` for the
inputs, so a detector's F1 or an OCR's string accuracy can be computed over the whole set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx

from int8ptq.metrics import ErrorSums

Outputs = dict[str, np.ndarray]
Metric = Callable[[list[Outputs], list[Outputs], list[dict[str, np.ndarray]]], float]


@dataclass(frozen=True)
class OutputFidelity:
    output: str
    cosine: float
    sqnr_db: float
    argmax_agreement: float | None  # along the last axis, when it is a static class axis


RECURRENT = ("LSTM", "GRU", "RNN")  # their outputs are hidden states, not class scores
_RESHAPING = ("Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Flatten")


def _from_recurrent(producer: dict[str, onnx.NodeProto], name: str) -> bool:
    """`name` is a recurrent op's output, possibly reshaped."""
    node = producer.get(name)
    while node is not None and node.op_type in _RESHAPING and node.input:
        node = producer.get(node.input[0])
    return node is not None and node.op_type in RECURRENT


def class_axis_outputs(model: onnx.ModelProto) -> set[str]:
    """Outputs whose last axis is static and longer than 1 (logits, per-step characters,
    class scores): there, argmax along it means something. A recurrent state's hidden axis
    is not one."""
    producer = {o: n for n in model.graph.node for o in n.output}
    out = set()
    for o in model.graph.output:
        dims = o.type.tensor_type.shape.dim
        classes = len(dims) >= 2 and dims[-1].HasField("dim_value") and dims[-1].dim_value > 1
        if classes and not _from_recurrent(producer, o.name):
            out.add(o.name)
    return out


class _Acc:
    """Error sums of one output, plus argmax agreement along its last axis."""

    def __init__(self) -> None:
        self.sums = ErrorSums()
        self.agree = 0
        self.rows = 0

    def add(self, ref: np.ndarray, got: np.ndarray, argmax: bool) -> None:
        self.sums.add(ref, got)
        if argmax and ref.ndim >= 2 and ref.shape[-1] > 1:
            self.agree += int((ref.argmax(-1) == got.argmax(-1)).sum())
            self.rows += int(np.prod(ref.shape[:-1]))

    def result(self, name: str) -> OutputFidelity:
        agree = self.agree / self.rows if self.rows else None
        return OutputFidelity(name, self.sums.cosine(), self.sums.sqnr_db(), agree)


@dataclass
class Fidelity:
    """Accumulates every model's outputs against the first model's, batch by batch."""

    output_names: list[str]
    class_axis: set[str]
    models: int
    metric: Metric | None = None
    accs: list[dict[str, _Acc]] = field(default_factory=list)
    kept: list[list[Outputs]] = field(default_factory=list)  # per model, per batch (for the metric)
    inputs: list[dict[str, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.accs = [{n: _Acc() for n in self.output_names} for _ in range(self.models)]
        self.kept = [[] for _ in range(self.models)]

    def add(self, inputs: dict[str, np.ndarray], outs: Sequence[Sequence[np.ndarray]]) -> None:
        ref = outs[0]
        for i, got in enumerate(outs):
            for name, r, g in zip(self.output_names, ref, got, strict=True):
                self.accs[i][name].add(np.asarray(r), np.asarray(g), name in self.class_axis)
            if self.metric is not None:
                self.kept[i].append(dict(zip(self.output_names, got, strict=True)))
        if self.metric is not None:
            self.inputs.append(inputs)

    def outputs(self, i: int) -> list[OutputFidelity]:
        return [self.accs[i][n].result(n) for n in self.output_names]

    def metric_value(self, i: int) -> float | None:
        if self.metric is None:
            return None
        return float(self.metric(self.kept[0], self.kept[i], self.inputs))


class Recording:
    """A runner that keeps every output of its last run and returns the first (for loops
    that look at the first output only)."""

    def __init__(self, runner) -> None:  # noqa: ANN001
        self.runner = runner
        self.last: list[np.ndarray] = []
        self.backend, self.output_names = runner.backend, runner.output_names

    def run(self, x) -> np.ndarray:  # noqa: ANN001
        self.last = self.runner.run_all(x)
        return self.last[0]


def observed(batches: Iterable, recs: list[Recording], fid: Fidelity) -> Iterator:  # noqa: ANN001
    """Pass batches through; once every runner has run one, feed its outputs to `fid`."""
    prev = None
    for b in batches:
        if prev is not None:
            fid.add(prev.inputs, [r.last for r in recs])
        yield b
        prev = b
    if prev is not None:
        fid.add(prev.inputs, [r.last for r in recs])
