"""Layer-wise error: for every quantized tensor, INT8 against FP32 on the same inputs.

The INT8 model is run as it is (fused integer kernels): its uint8 tensors are read from
the QuantizeLinear outputs and dequantized here, so the numbers are what the real kernels
produce, error accumulated from the input up to that tensor.

A tensor whose readers all apply one function first (SiLU, HardSwish, Sigmoid: plan.curves)
is compared after that function, as its readers see it: its range leaves the function's flat
side out on purpose, and the values there do not matter.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import onnx
from onnx import numpy_helper

from int8ptq.calib.ranges import Curve
from int8ptq.data.model_input import model_inputs, resolve_inputs
from int8ptq.data.presets import Preprocessing
from int8ptq.data.source import DataLike, iter_batches
from int8ptq.eval.attribution import ErrorShare, attribute
from int8ptq.eval.fidelity import Fidelity, OutputFidelity, class_axis_outputs
from int8ptq.eval.isolate import PREFIX, isolation_model
from int8ptq.ir import Graph, load_model, with_outputs
from int8ptq.metrics import ErrorSums, sqnr_db
from int8ptq.passes import prepare
from int8ptq.quant.plan import reader_curve
from int8ptq.runtime import Backend, make_runner
from int8ptq.util.progress import progress
from int8ptq.util.timing import timed

DEFAULT_IMAGES = 64  # images compared unless told otherwise
FLOAT = onnx.TensorProto.FLOAT
ATTRIBUTED_IMAGES = 16  # of them, the first ones the error shares are measured on


@dataclass(frozen=True)
class TensorError:
    tensor: str
    producer: str  # op type that produces it in the FP32 graph
    sqnr_db: float  # 10 log10(signal power / noise power), over the whole tensor
    cosine: float
    max_abs_err: float
    channel_sqnr_db: float  # from the median per-channel noise-to-signal ratio: every channel
    # counts alike, so one huge channel cannot hide that the others were rounded away
    # the same, of the error this tensor's layer adds by itself (its inputs in FP32, quantized
    # once: isolate.py); None unless asked for
    added_sqnr_db: float | None = None
    graph_index: int = 0  # position of its producer in the (prepared) FP32 graph; 0: the input
    read_through: str | None = None  # the function its readers apply, compared after it
    # its share of the output error (gone with it alone in float), the share of the compute its
    # float layers would hold, and those layers (attribution.py); None unless asked for
    error_share: float | None = None
    compute_share: float | None = None
    exclude: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The producer, and the function the error is measured after: "Conv -> HardSwish"."""
        return self.producer if self.read_through is None else f"{self.producer} -> {self.read_through}"


@dataclass(frozen=True)
class CompareResult:
    tensors: list[TensorError]  # worst first
    images: int
    skipped_images: list[str] = field(default_factory=list)
    outputs: list[OutputFidelity] = field(default_factory=list)  # the model's outputs, end to end

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def by_share(self) -> list[TensorError]:
        """The tensors whose share of the output error was measured, largest share first."""
        measured = [t for t in self.tensors if t.error_share is not None]
        return sorted(measured, key=lambda t: -(t.error_share or 0.0))


class _Acc:
    """Whole-tensor sums plus per-channel (axis 1) signal and noise."""

    def __init__(self) -> None:
        self.sums = ErrorSums()
        self.ch_signal: np.ndarray | None = None
        self.ch_noise: np.ndarray | None = None
        self.ch_varies = False  # axis 1 changed length between batches (a dynamic axis)

    def update(self, ref: np.ndarray, q: np.ndarray) -> None:
        if ref.ndim < 2 or ref.size == 0:
            self.sums.add(ref, q)
            return
        if self.ch_signal is not None and ref.shape[1] != len(self.ch_signal):
            self.ch_varies, self.ch_signal, self.ch_noise = True, None, None
        r = np.asarray(ref, np.float32).reshape(ref.shape[0], ref.shape[1], -1)
        g = np.asarray(q, np.float32).reshape(r.shape)
        e = r - g
        sig, noi = _channel_dot(r, r), _channel_dot(e, e)
        self.sums.add_sums(sig.sum(), noi.sum(), _channel_dot(r, g).sum(), _channel_dot(g, g).sum(), e)
        if not self.ch_varies:
            self.ch_signal = sig if self.ch_signal is None else self.ch_signal + sig
            self.ch_noise = noi if self.ch_noise is None else self.ch_noise + noi

    def channel_db(self) -> float:
        """SQNR from the median per-channel noise-to-signal ratio (live channels only)."""
        ch = self.sums.sqnr_db()
        if self.ch_signal is not None and self.ch_noise is not None and (self.ch_signal > 0).any():
            live = self.ch_signal > 1e-6 * np.median(self.ch_signal[self.ch_signal > 0])  # not the dead
            ch = sqnr_db(1.0, float(np.median(self.ch_noise[live] / self.ch_signal[live])))
        return ch


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) per channel of (N, C, K) float32 arrays: float32 within a sample's channel
    (about 1e-7 relative at K = 409600), float64 across them; five times faster than float64."""
    return np.einsum("nck,nck->nc", a, b).astype(np.float64).sum(axis=0)


class _Isolated:
    """Each quantized tensor as its own layer computes it from FP32 inputs (isolate.py)."""

    def __init__(
        self,
        fp32: onnx.ModelProto,
        int8: onnx.ModelProto,
        names: list[str],
        threads: int | None,
        curves: dict[str, Curve],
    ):
        qmap = _quantized_tensors(int8)
        self.curves = curves
        self.params = {t: qmap[t] for t in names if t in qmap}
        model = isolation_model(fp32, int8, {t: p[0] for t, p in self.params.items()})
        self.run = make_runner(model, Backend.ORT, threads)
        self.idx = {n: i for i, n in enumerate(self.run.output_names)}
        self.accs = {t: _Acc() for t in self.params if PREFIX + t in self.idx}

    def update(self, x: dict[str, np.ndarray]) -> None:
        out = self.run.run_all(x)
        for t, acc in self.accs.items():
            qname, scale, zp = self.params[t]
            deq = (out[self.idx[qname]].astype(np.float32) - zp) * scale
            acc.update(*_seen(self.curves.get(t), out[self.idx[PREFIX + t]], deq))

    def channel_db(self, t: str) -> float | None:
        a = self.accs.get(t)
        return None if a is None or a.sums.signal == 0 else a.channel_db()


def _seen(curve: Curve | None, ref: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FP32 and INT8 values as the tensor's readers see them (after their function)."""
    if curve is None:
        return ref, q
    return curve.apply(ref.astype(np.float64)), curve.apply(q.astype(np.float64))


def _quantized_tensors(int8: onnx.ModelProto) -> dict[str, tuple[str, float, int]]:
    """FP32 tensor name -> (uint8 tensor name, scale, zero point), from the Q nodes."""
    inits = {t.name: numpy_helper.to_array(t) for t in int8.graph.initializer}
    out = {}
    for n in int8.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[1] in inits:
            scale = inits[n.input[1]]
            zp = inits[n.input[2]] if len(n.input) > 2 and n.input[2] in inits else np.array(0)
            if scale.size == 1:
                out[n.input[0]] = (n.output[0], float(scale), int(zp))
    return out


@timed("compare")
def compare(
    fp32: str | os.PathLike[str],
    int8: str | os.PathLike[str],
    data: DataLike,
    *,
    preset: str | Preprocessing | None = None,
    batch_size: int = 16,
    limit: int | None = DEFAULT_IMAGES,
    threads: int | None = None,
    isolated: bool = False,
    attributed: bool = False,
) -> CompareResult:
    """SQNR and cosine per quantized tensor, worst SQNR first. `isolated`: also what each
    tensor's layer adds by itself (`added_sqnr_db`; one more run per batch). `attributed`:
    also each tensor's share of the output error (`error_share`; a run per tensor of the
    first batches, up to ATTRIBUTED_IMAGES images)."""
    f_model = fp32 if isinstance(fp32, onnx.ModelProto) else load_model(fp32)
    q_model = int8 if isinstance(int8, onnx.ModelProto) else load_model(int8)
    # the values the INT8 model records
    inputs, pre = resolve_inputs(q_model, preset, model_inputs(f_model))
    qmap = _quantized_tensors(q_model)
    g = Graph(f_model)
    prepare(g)  # the INT8 graph's tensor names are the prepared FP32 graph's
    producers = {o: n.op_type for n in g.nodes for o in n.output}
    order = {o: i + 1 for i, n in enumerate(g.nodes) for o in n.output}
    names = [t for t in qmap if t in producers or t in inputs.names]
    f_run = make_runner(with_outputs(g, names), Backend.ORT, threads)
    q_run = make_runner(with_outputs(Graph(q_model), [qmap[t][0] for t in names]), Backend.ORT, threads)
    f_idx = {n: i for i, n in enumerate(f_run.output_names)}
    q_idx = {n: i for i, n in enumerate(q_run.output_names)}
    accs = {t: _Acc() for t in names}
    curves = {t: Curve(c) for t in names if (c := reader_curve(g, t)) is not None}
    iso = _Isolated(g.to_model(), q_model, names, threads, curves) if isolated else None
    outs = [o.name for o in f_model.graph.output]
    float_outputs = [o.name for o in f_model.graph.output if o.type.tensor_type.elem_type == FLOAT]
    fid = Fidelity(outs, class_axis_outputs(f_model), 2)
    skipped: list[str] = []
    batches, total = iter_batches(data, inputs, pre, batch_size, limit, skipped)
    images = 0
    attr_feeds: list[dict[str, np.ndarray]] = []  # the first batches, for the error shares
    attr_refs: list[dict[str, np.ndarray]] = []
    for b in progress(batches, "comparing", total=total, unit="batch"):
        fo, qo = f_run.run_all(b.inputs), q_run.run_all(b.inputs)
        if attributed and images < ATTRIBUTED_IMAGES:
            attr_feeds.append(b.inputs)
            attr_refs.append({n: fo[f_idx[n]] for n in float_outputs})
        images += len(b)
        fid.add(b.inputs, [[fo[f_idx[n]] for n in outs], [qo[q_idx[n]] for n in outs]])
        for t in names:
            ref = b.inputs[t] if t in b.inputs else fo[f_idx[t]]
            qname, scale, zp = qmap[t]
            deq = (qo[q_idx[qname]].astype(np.float32) - zp) * scale
            accs[t].update(*_seen(curves.get(t), ref, deq))
        if iso is not None:
            iso.update(b.inputs)
    shares = {}
    if attributed:
        track = lambda ts: progress(ts, "attributing the error", total=len(ts), unit="tensor")  # noqa: E731
        shares = {e.tensor: e for e in attribute(g, q_model, attr_feeds, attr_refs, names, track, threads)}
    rows = [
        _row(t, a, producers.get(t, "input"), order.get(t, 0), curves.get(t), iso, shares.get(t))
        for t, a in accs.items()
    ]
    rows.sort(key=lambda r: r.sqnr_db)
    return CompareResult(rows, images, skipped, fid.outputs(1))


def _row(
    t: str,
    acc: _Acc,
    producer: str,
    index: int,
    curve: Curve | None,
    iso: _Isolated | None,
    share: ErrorShare | None,
) -> TensorError:
    e, added = acc.sums, iso.channel_db(t) if iso is not None else None
    row = TensorError(
        t, producer, e.sqnr_db(), e.cosine(), e.max_err, acc.channel_db(), added, index, curve and curve.value
    )
    if share is None:
        return row
    return replace(row, error_share=share.share, compute_share=share.compute_share, exclude=share.exclude)
