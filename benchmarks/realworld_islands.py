"""Where an INT8 model spends its time, and which ops still run in float inside it: evidence
for INT8-vs-FP32 speed on the real models (issue 13), after benchmarks/realworld.py quantize.

- onnxruntime: the graph after all of onnxruntime's fusions (the optimized model it writes):
  the ops left in float between a DequantizeLinear and a QuantizeLinear ("float islands",
  e.g. DQ -> Resize -> Q), and the DQ and Q nodes left; then its profiler's time per op type,
  FP32 and INT8, on the speed input (batch 1, 2 threads).
- OpenVINO: its performance counters per layer type and kernel (exec type: i8/u8 or f32).

    python benchmarks/realworld_islands.py [--models yolo,det,rec,cls] [--runs 20] [--tool int8ptq]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realworld as rw  # noqa: E402

QDQ = ("QuantizeLinear", "DequantizeLinear")


def _session(path: Path, **options: object):  # noqa: ANN202 - an onnxruntime session
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = 2, 1, 3
    for k, v in options.items():
        setattr(so, k, v)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def float_islands(path: Path) -> dict[str, object]:
    """In onnxruntime's optimized graph: op types fed by a DequantizeLinear (they run in
    float), those of them whose output goes to a QuantizeLinear (float islands), and the
    number of Q and DQ nodes left unfused."""
    import onnx

    with tempfile.TemporaryDirectory() as d:
        opt = Path(d) / "optimized.onnx"
        _session(path, optimized_model_filepath=str(opt))
        g = onnx.load(str(opt)).graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in g.node:
        for i in n.input:
            consumers[i].append(n)
    fed, islands = Counter(), Counter()
    for n in g.node:
        if n.op_type in QDQ:
            continue
        if any(producer.get(i) is not None and producer[i].op_type == "DequantizeLinear" for i in n.input):
            fed[n.op_type] += 1
            if any(c.op_type == "QuantizeLinear" for o in n.output for c in consumers[o]):
                islands[n.op_type] += 1
    left = Counter(n.op_type for n in g.node if n.op_type in QDQ)
    ops = Counter(n.op_type for n in g.node)
    return {"float_after_dq": dict(fed), "islands": dict(islands), "qdq_left": dict(left), "ops": dict(ops)}


def ort_profile(path: Path, x: np.ndarray, runs: int, by: str = "op_name") -> dict[str, float]:
    """Milliseconds per run spent in each op type (onnxruntime's profiler; by="node": in
    each node, "name (op type)", the 15 slowest)."""
    s = _session(path, enable_profiling=True)
    name = s.get_inputs()[0].name
    for _ in range(runs):
        s.run(None, {name: x})
    trace = Path(s.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    out: Counter[str] = Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e["args"]["op_name"]
            key = op if by == "op_name" else f"{e['name'].removesuffix('_kernel_time')} ({op})"
            out[key] += e["dur"] / 1000 / runs
    return {k: round(v, 3) for k, v in out.most_common(None if by == "op_name" else 15)}


def ov_profile(path: Path, x: np.ndarray, runs: int, by: str = "type") -> dict[str, float]:
    """Milliseconds per run per (layer type, kernel) from OpenVINO's performance counters
    (by="node": per layer, its name too)."""
    import openvino as ov

    cfg = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    c = ov.Core().compile_model(str(path), "CPU", {**cfg, "PERF_COUNT": True})
    req = c.create_infer_request()
    out: Counter[str] = Counter()
    for _ in range(runs):
        req.infer({0: x})
        for p in req.get_profiling_info():
            if p.real_time.total_seconds() > 0:
                key = f"{p.node_type} [{p.exec_type}]"
                out[key if by == "type" else f"{p.node_name}: {key}"] += (
                    p.real_time.total_seconds() * 1000 / runs
                )
    return {k: round(v, 3) for k, v in out.most_common(25 if by == "type" else 15)}


def analyse(key: str, tool: str, runs: int) -> dict[str, object]:
    fp32 = rw.model_file(key)
    x = max(rw._load_list(rw.WORK / key / "eval.npz"), key=lambda s: s.size)[None]
    info = rw.best(rw.load(key), tool)
    if info is None:
        raise SystemExit(f"{key}: no {tool} model yet (run benchmarks/realworld.py quantize)")
    int8 = rw.WORK / key / "models" / info["file"]
    res: dict[str, object] = {"model": key, "tool": tool, "file": info["file"], "shape": list(x.shape)}
    if int8.suffix == ".onnx":
        res["islands"] = float_islands(int8)
        res["ort_ms"] = {"fp32": ort_profile(fp32, x, runs), "int8": ort_profile(int8, x, runs)}
        res["ort_int8_nodes_ms"] = ort_profile(int8, x, runs, by="node")
    res["ov_ms"] = {"fp32": ov_profile(fp32, x, runs), "int8": ov_profile(int8, x, runs)}
    res["ov_int8_nodes_ms"] = ov_profile(int8, x, runs, by="node")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(rw.TASKS))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--tool", default="int8ptq", choices=("int8ptq", "ort", "nncf"))
    a = ap.parse_args()
    for key in a.models.split(","):
        res = analyse(key, a.tool, a.runs)
        out = rw.WORK / f"islands-{key}-{a.tool}.json"
        out.write_text(json.dumps(res, indent=1))
        print(json.dumps(res, indent=1), flush=True)


if __name__ == "__main__":
    main()
