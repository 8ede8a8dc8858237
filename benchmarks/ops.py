"""Is an op faster as INT8, and what error does quantizing it add? One small graph per op type
of detection, OCR and segmentation models (issue 13 item 3), at shapes taken from YOLOv8n
(320x320 input) and PP-OCRv5 det (640x480 page) and rec (48x320 line):

- FP32: float input -> op -> float output (the op in a float network);
- QDQ INT8: uint8 input -> DequantizeLinear -> op -> QuantizeLinear -> uint8 output (the op
  between quantized neighbours; every intermediate tensor of a multi-op pattern quantized too),
  the way int8ptq writes it: uint8 asymmetric activations from min/max ranges, int8 symmetric
  weights; ops that only move data (Reshape, Transpose, Split, Slice, Concat, nearest Resize)
  keep their input's scale (Concat's inputs share one), so a backend may run them on uint8.

Each backend (onnxruntime with every optimization, OpenVINO CPU; 2 threads, batch 1) fuses
what it can. The latency of an Identity graph with the same inputs and outputs (the call's
own overhead) is subtracted. Rounds visit FP32, INT8 and the overhead graphs in turn, with only
the visited graph loaded (live sessions slow each other down: their idle threads spin). The error
is the SQNR (dB) of the INT8 output against FP32 on the same dequantized input: what the
quantization of the op adds. Writes benchmarks/results/ops.md:

    python benchmarks/ops.py [--rounds 15] [--only Resize,Softmax]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from ops_cases import Case, _feat, _n, cases  # noqa: E402

SHARES_SCALE = ("Reshape", "Transpose", "Split", "Slice", "Concat", "Resize")
OUT = Path(__file__).resolve().parent / "results" / "ops.md"
RAW = common.WORK.parent / "ops.json"  # the measured numbers, for --from-json
MIN_SQNR_DB = 30.0  # below this the op's quantization costs accuracy on its own


# --- the two graphs -------------------------------------------------------------------------


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[str],
    inits: list[onnx.TensorProto],
    opset: int,
) -> onnx.ModelProto:
    outs = [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs]
    g = helper.make_graph(nodes, "op", inputs, outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return onnx.shape_inference.infer_shapes(m)


def fp32_model(c: Case, extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in c.inputs.items()]
    inits = [numpy_helper.from_array(v, k) for k, v in {**c.consts, **c.weights}.items()]
    return _model(list(c.nodes), ins, [*c.outputs, *extra_outputs], inits, c.opset)


def _qparams(lo: float, hi: float) -> tuple[float, int]:
    """uint8 asymmetric scale and zero point of a range that includes 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = (hi - lo) / 255 or 1.0
    return s, int(np.clip(round(-lo / s), 0, 255))


def ranges(c: Case, xs: list[dict[str, np.ndarray]]) -> dict[str, tuple[float, int]]:
    """Quantization parameters of every float tensor, min/max over the calibration samples;
    data-moving ops keep their input's (Concat: one for all its inputs and its output)."""
    tensors = [o for n in c.nodes for o in n.output if o not in c.outputs]
    m = fp32_model(c, tuple(tensors))
    rng: dict[str, tuple[float, float]] = {}
    for x in xs:
        vals = dict(zip([*c.outputs, *tensors], _run_ort(m, x), strict=True))
        for k, v in {**vals, **x}.items():
            lo, hi = rng.get(k, (np.inf, -np.inf))
            rng[k] = (min(lo, float(v.min())), max(hi, float(v.max())))
    for n in c.nodes:
        if n.op_type in SHARES_SCALE:
            ins = [i for i in n.input if i in c.inputs or i in tensors]
            lo = min(rng[i][0] for i in (ins if n.op_type == "Concat" else ins[:1]))
            hi = max(rng[i][1] for i in (ins if n.op_type == "Concat" else ins[:1]))
            for t in [*ins, *n.output]:
                rng[t] = (lo, hi)
    return {k: _qparams(*v) for k, v in rng.items()}


def qdq_model(c: Case, q: dict[str, tuple[float, int]]) -> onnx.ModelProto:
    """uint8 inputs -> DQ -> the op(s) -> Q -> uint8 outputs; intermediate tensors Q -> DQ;
    weights int8 (symmetric, per tensor) -> DQ."""
    kept = {k: v for k, v in c.consts.items() if k not in c.quantized_consts}
    nodes, inits = [], [numpy_helper.from_array(v, k) for k, v in kept.items()]
    q = {**q, **{k: _qparams(float(c.consts[k].min()), float(c.consts[k].max())) for k in c.quantized_consts}}

    def qp(t: str) -> list[str]:
        s, z = q[t]
        inits.extend(
            [
                numpy_helper.from_array(np.array(s, np.float32), f"{t}_s"),
                numpy_helper.from_array(np.array(z, np.uint8), f"{t}_z"),
            ]
        )
        return [f"{t}_s", f"{t}_z"]

    for k in c.quantized_consts:
        u8 = np.clip(np.round(c.consts[k] / q[k][0]) + q[k][1], 0, 255).astype(np.uint8)
        inits.append(numpy_helper.from_array(u8, f"{k}_u8"))
        nodes.append(_n("DequantizeLinear", [f"{k}_u8", *qp(k)], [k]))

    ins = [helper.make_tensor_value_info(f"{k}_q", TensorProto.UINT8, list(v)) for k, v in c.inputs.items()]
    nodes += [_n("DequantizeLinear", [f"{k}_q", *qp(k)], [k]) for k in c.inputs]
    for k, w in c.weights.items():
        s = float(np.abs(w).max()) / 127
        inits += [
            numpy_helper.from_array(np.clip(np.round(w / s), -127, 127).astype(np.int8), f"{k}_i8"),
            numpy_helper.from_array(np.array(s, np.float32), f"{k}_s"),
            numpy_helper.from_array(np.array(0, np.int8), f"{k}_z"),
        ]
        nodes.append(_n("DequantizeLinear", [f"{k}_i8", f"{k}_s", f"{k}_z"], [k]))
    ops = [onnx.NodeProto() for _ in c.nodes]
    for n, src in zip(ops, c.nodes, strict=True):
        n.CopyFrom(src)
    for n in ops:
        nodes.append(n)
        for o in n.output:
            if o in c.outputs:
                nodes.append(_n("QuantizeLinear", [o, *qp(o)], [f"{o}_q"]))
            elif c.quantize_inside:  # an intermediate tensor: quantized too, read back in float
                nodes += [
                    _n("QuantizeLinear", [o, *qp(o)], [f"{o}_iq"]),
                    _n("DequantizeLinear", [f"{o}_iq", f"{o}_s", f"{o}_z"], [f"{o}_dq"]),
                ]
    inner = {o for n in c.nodes for o in n.output if o not in c.outputs} if c.quantize_inside else set()
    for n in ops:  # the ops read the dequantized intermediate tensors
        for i, name in enumerate(n.input):
            if name in inner:
                n.input[i] = f"{name}_dq"
    return _model(nodes, ins, [f"{o}_q" for o in c.outputs], inits, c.opset)


def identity_model(c: Case, dtype: int, suffix: str = "") -> onnx.ModelProto:
    """The same inputs and outputs, no work: the call's own overhead."""
    ins = [helper.make_tensor_value_info(k + suffix, dtype, list(v)) for k, v in c.inputs.items()]
    first = next(iter(c.inputs)) + suffix
    return _model([_n("Identity", [first], [o]) for o in c.outputs], ins, list(c.outputs), [], c.opset)


# --- running, timing, error -------------------------------------------------------------------


def _save(m: onnx.ModelProto, d: Path, name: str) -> Path:
    p = d / f"{name}.onnx"
    onnx.save(m, str(p))
    return p


def _run_ort(m: onnx.ModelProto, x: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, x)


def runner(path: Path, backend: str) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """A 2-thread session of `path` taking {input name: array}, returning every output."""
    if backend == "ort":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = 2, 1, 3
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return lambda x: s.run(None, x)
    import openvino as ov

    cfg = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    comp = ov.Core().compile_model(str(path), "CPU", cfg)
    req = comp.create_infer_request()
    return lambda x: [np.asarray(req.infer(x)[o]).copy() for o in comp.outputs]


def quantize_inputs(x: dict[str, np.ndarray], q: dict[str, tuple[float, int]]) -> dict[str, np.ndarray]:
    return {f"{k}_q": np.clip(np.round(v / q[k][0]) + q[k][1], 0, 255).astype(np.uint8) for k, v in x.items()}


def sqnr(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Signal-to-quantization-noise ratio in dB over all outputs (inf: exact)."""
    r = np.concatenate([a.ravel() for a in ref]).astype(np.float64)
    e = r - np.concatenate([a.ravel() for a in got]).astype(np.float64)
    noise = float((e * e).mean())
    return float("inf") if noise == 0 else 10 * np.log10(float((r * r).mean()) / noise)


def loader(path: Path, backend: str, feed: dict) -> common.Loader:
    def load() -> Callable[[], object]:
        run = runner(path, backend)
        return lambda: run(feed)

    return load


def samples(c: Case, calib: int = 8) -> tuple[dict[str, tuple[float, int]], dict, dict]:
    """Quantization parameters from `calib` samples; a held-out sample quantized (uint8 feed
    of the QDQ graph) and dequantized (float feed of the FP32 graph: the same values)."""
    rng = np.random.default_rng(0)
    make = c.data or _feat
    q = ranges(c, [{k: make(rng, v) for k, v in c.inputs.items()} for _ in range(calib)])
    xq = quantize_inputs({k: make(rng, v) for k, v in c.inputs.items()}, q)
    x_dq = {k: ((xq[f"{k}_q"].astype(np.float32) - q[k][1]) * q[k][0]).astype(np.float32) for k in c.inputs}
    return q, xq, x_dq


def measure(c: Case, rounds: int) -> dict[str, object]:
    """Error and net latencies (µs, the overhead graph subtracted) of one case."""
    q, xq, x_dq = samples(c)
    res: dict[str, object] = {"name": c.name, "where": c.where, "shapes": c.inputs}
    with tempfile.TemporaryDirectory() as d:
        paths = {
            "fp32": _save(fp32_model(c), Path(d), "fp32"),
            "int8": _save(qdq_model(c, q), Path(d), "int8"),
            "id32": _save(identity_model(c, TensorProto.FLOAT), Path(d), "id32"),
            "id8": _save(identity_model(c, TensorProto.UINT8, "_q"), Path(d), "id8"),
        }
        feeds = {"fp32": x_dq, "int8": xq, "id32": x_dq, "id8": xq}
        for backend in ("ort", "ov"):
            try:
                run = {k: runner(paths[k], backend) for k in ("fp32", "int8")}
                ref = run["fp32"](x_dq)
                got = [
                    (g.astype(np.float32) - q[o][1]) * q[o][0]
                    for g, o in zip(run["int8"](xq), c.outputs, strict=True)
                ]
                res[f"{backend}_sqnr"] = sqnr(ref, got)
                del run
                gc.collect()
                loaders = {k: loader(p, backend, feeds[k]) for k, p in paths.items()}
                t = {k: float(np.median(v)) for k, v in common.alternating(loaders, rounds).items()}
                res[f"{backend}_fp32_us"] = 1e6 * max(t["fp32"] - t["id32"], 0.0)
                res[f"{backend}_int8_us"] = 1e6 * max(t["int8"] - t["id8"], 0.0)
                res[f"{backend}_raw"] = {k: 1e6 * v for k, v in t.items()}
            except Exception as e:  # noqa: BLE001 - a backend that cannot run the graph: say so
                res[f"{backend}_error"] = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    return res


# --- the decision and the table ---------------------------------------------------------------

NOISE = 0.10  # ratios within 10% of 1 are no measurable difference on a shared machine
TINY_US = 5.0  # below this the op costs nothing either way


def ratio(fp32_us: float, int8_us: float) -> float:
    """FP32 / INT8 latency, each floored at 1 µs (the resolution of these measurements)."""
    return max(fp32_us, 1.0) / max(int8_us, 1.0)


DECIDED_BY = "ort"  # OpenVINO's INT8 figures carry the graph-boundary conversions (see the caveat)


def decide(r: dict[str, object]) -> str:
    """quantize / keep FP32 from the numbers: the QDQ graph runs on both backends, its error is
    above the bar, and on onnxruntime (where the boundary DQ and Q fold away) INT8 is faster,
    or as fast and exact (a data-moving op)."""
    errs = [b for b in ("ort", "ov") if f"{b}_error" in r]
    if errs:
        return f"keep FP32 ({', '.join(errs)} fails)"
    sq = min(float(r["ort_sqnr"]), float(r["ov_sqnr"]))  # type: ignore[arg-type]
    if sq < MIN_SQNR_DB:
        return f"keep FP32 (error: {sq:.0f} dB)"
    f, i = float(r[f"{DECIDED_BY}_fp32_us"]), float(r[f"{DECIDED_BY}_int8_us"])  # type: ignore[arg-type]
    if max(f, i) < TINY_US:
        return "either (too small to matter: follow the neighbours)"
    v = ratio(f, i)
    if v < 1 - NOISE:
        return "keep FP32 (INT8 slower)"
    if v > 1 + NOISE or sq == float("inf"):
        return "quantize"
    return "keep FP32 (no faster, adds error)"


def _rules_now(c: Case) -> str:
    from int8ptq.quant.rules import RULES

    def now(t: str) -> str:
        if t not in RULES:
            return "FP32"
        runtimes = RULES[t].runtimes
        only = f" ({', '.join(sorted(r.value for r in runtimes))} only)" if len(runtimes) == 1 else ""
        return "INT8" + only

    types = sorted({n.op_type for n in c.nodes})
    return ", ".join(f"{t}: {now(t)}" for t in types)


def _f(v: object, fmt: str = "{:.0f}") -> str:
    return "-" if v is None else ("exact" if v == float("inf") else fmt.format(v))


def table(results: list[dict[str, object]], case_list: list[Case]) -> str:
    head = ["op", "shapes (where)", "ORT FP32 µs", "ORT INT8 µs", "ORT FP32/INT8", "OV FP32 µs", "OV INT8 µs"]
    head += ["OV FP32/INT8", "SQNR dB ORT / OV", "decision", "rules.py now"]
    rows = []
    for r, c in zip(results, case_list, strict=True):
        cells = [r["name"], f"{' + '.join(str(list(s)) for s in c.inputs.values())} ({c.where})"]
        for b in ("ort", "ov"):
            if f"{b}_error" in r:
                cells += ["fails", "fails", str(r[f"{b}_error"]).replace("|", "/")]
                continue
            f, i = float(r[f"{b}_fp32_us"]), float(r[f"{b}_int8_us"])  # type: ignore[arg-type]
            cells += [f"{f:.0f}", f"{i:.0f}", f"{ratio(f, i):.2f}x" if max(f, i) >= TINY_US else "-"]
        cells += [f"{_f(r.get('ort_sqnr'))} / {_f(r.get('ov_sqnr'))}", f"**{decide(r)}**", _rules_now(c)]
        rows.append(cells)
    return common.md_table(head, rows)


METHOD = (
    "Per op, two graphs at real shapes. *FP32*: float input -> op -> float output (the op inside a float "
    "region). *INT8*: uint8 input -> DequantizeLinear -> op -> QuantizeLinear -> uint8 output (the op "
    "between quantized neighbours; in a multi-op pattern every intermediate tensor is quantized too, "
    "unless it is marked as one float island), as int8ptq writes QDQ: uint8 asymmetric activations "
    "(min/max of 8 samples), int8 symmetric weights; ops that only move data (Reshape, Transpose, "
    "Split, Slice, Concat, nearest Resize) keep their input's scale, so a backend may run them on "
    "uint8. Each backend (onnxruntime with every optimization, OpenVINO CPU; 2 threads, batch 1) "
    "fuses what it can. The latency of an Identity graph with the same inputs (the call's own overhead) "
    "is subtracted. Rounds visit FP32, INT8 and the two overhead graphs in turn, one loaded at a time. "
    "Caveat: on OpenVINO the "
    "INT8 graph's dequantization of its graph input has no int8 producer to fold into (inside a "
    "network OpenVINO's low-precision transformations move it into the neighbours), so OpenVINO's "
    "INT8 figures for cheap ops are an upper bound. Error: SQNR (dB) of the INT8 output against FP32 on "
    "the same dequantized input, i.e. what quantizing the op adds."
)


LIMITS = (
    "What this does not measure: the FP32 column is the op inside a float region. Where the op sits "
    "between quantized neighbours, keeping it FP32 also costs a DequantizeLinear of its inputs and a "
    "QuantizeLinear of its output, which a backend cannot fuse away; for an op whose fused INT8 form is "
    "slower than the float op alone (Add, Mul, Softmax here), that cost decides, and it is not in "
    "this table. Read *keep FP32* for those as: no gain from quantizing the op itself; extend the float "
    "region only where its neighbours are float too.\n"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--only", default="", help="comma-separated op names' first words (Resize,Softmax)")
    ap.add_argument("--from-json", action="store_true", help="rewrite ops.md from the last run's results")
    a = ap.parse_args()
    chosen = [c for c in cases() if not a.only or c.name.split()[0] in a.only.split(",")]
    if a.from_json:
        saved = json.loads(RAW.read_text())
        start, end, results = saved["load_start"], saved["load_end"], saved["results"]
        chosen = [c for c in cases() if c.name in {r["name"] for r in results}]
    else:
        start, results = os.getloadavg(), []
        for c in chosen:
            results.append(measure(c, a.rounds))
            print(table(results[-1:], [c]).splitlines()[-1], flush=True)
        end = os.getloadavg()
        RAW.parent.mkdir(parents=True, exist_ok=True)
        RAW.write_text(json.dumps({"load_start": start, "load_end": end, "results": results}, default=str))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python benchmarks/ops.py" + (f" --only {a.only}" if a.only else "") + f" --rounds {a.rounds}"
    text = (
        "# Ops: FP32 against QDQ INT8, one small graph per op type (issue 13 item 3)\n\n"
        f"Command: `{cmd}`  \nCommit: {common.commit()}  \nDate: {stamp}  \nMachine: {common.machine()}  \n"
        f"ISA: {common.isa_line()}  \nLoad average (1, 5, 15 min): {[round(v, 2) for v in start]} at the "
        f"start, {[round(v, 2) for v in end]} at the end.\n\n"
        + METHOD
        + f" Median of {a.rounds} rounds. FP32/INT8 > 1: INT8 is faster; '-' where both"
        f" take under {TINY_US:.0f} µs.\n\n"
        f"Decision: *quantize* when the QDQ graph runs on both backends with an SQNR of at least"
        f" {MIN_SQNR_DB:.0f} dB and, on onnxruntime, INT8 is faster (beyond {NOISE:.0%}) or as fast and exact"
        " (a data-moving op, whose uint8 path spares the DQ and Q around it); *keep FP32* otherwise. The"
        " decision reads onnxruntime's timings only: OpenVINO's INT8 figures include the conversions at the"
        " graph's edges (see the caveat); they are shown for reference.\n\n"
    )
    if max(start[0], end[0]) >= 1.0:
        text += (
            "**The machine was busy while timing (load average >= 1 on 2 cores): the latencies are noisy; "
            "rerun on an idle machine before acting on them.**\n\n"
        )
    OUT.write_text(text + table(results, chosen) + "\n" + LIMITS)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
