"""How each quantized model is run for the accuracy tables: one "column" per way of running.

- `ort`: onnxruntime, every graph optimization on: its real INT8 kernels on this CPU.
- `ov`: OpenVINO CPU (oneDNN): its real INT8 kernels on this CPU; FP32 parts in f32.
- `ov-avx2`: OpenVINO with oneDNN capped at AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`): real AVX2
  kernels (u8*s8 pairs summed into a saturating int16, vpmaddubsw), run on an AVX-512 CPU.
  The cap must be set before OpenVINO starts, so this column runs in a process of its own.
- `exact`: onnxruntime with graph optimizations off (ORT_DISABLE_ALL): the QDQ graph run as
  written, DequantizeLinear then a float Conv; what an int32-accumulating kernel (VNNI, AMX)
  computes, up to float32 rounding, with no int16 saturation anywhere. QDQ files only.

Results are cached per model file (sha256) and column in WORK/<model>/results/, so a rerun
only evaluates what changed:

    python benchmarks/columns.py WORK/<model> ort|ov|ov-avx2|exact [SLUG,SLUG...]

(the slugs: evaluate only those models; the integer-exact column is slow, 3-4x an FP32 run)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

COLUMNS = ("ort", "ov", "ov-avx2", "exact")
ORT_COLUMNS = ("ort", "exact")  # need an ONNX file: not the OpenVINO IR NNCF writes


def digest(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    if path.suffix == ".xml":
        h.update(path.with_suffix(".bin").read_bytes())
    return h.hexdigest()[:16]


def runner(
    path: Path, column: str, threads: int = 2, every_output: bool = False
) -> Callable[[np.ndarray], Any]:
    """x -> the first output (or, with `every_output`, the list of all outputs)."""
    if column in ORT_COLUMNS:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = threads, 1, 3
        so.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            if column == "exact"
            else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        )
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        return lambda x: s.run(None, {name: x}) if every_output else s.run(None, {name: x})[0]
    import openvino as ov

    cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    c = ov.Core().compile_model(str(path), "CPU", cfg)
    req = c.create_infer_request()

    def run(x: np.ndarray) -> Any:
        r = req.infer({0: x})
        outs = [np.asarray(r[o]).copy() for o in (c.outputs if every_output else c.outputs[:1])]
        return outs if every_output else outs[0]

    return run


def eval_arrays(d: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The evaluation images (eval.txt, preprocessed once), their labels, and the reference:
    FP32 logits of the model as exported, on onnxruntime."""
    if not (d / "eval.npy").exists():
        from int8ptq.zoo.registry import get

        entry = get(d.name)
        x, y = common.load_images("eval.txt", entry.preset, crop=entry.input_size)
        np.save(d / "labels.npy", y)
        np.save(d / ".eval.tmp.npy", x)
        (d / ".eval.tmp.npy").replace(d / "eval.npy")
    x, y = np.load(d / "eval.npy", mmap_mode="r"), np.load(d / "labels.npy")
    if not (d / "ref.npy").exists():
        ref = common.predict(runner(d / "fp32.onnx", "ort"), x)
        np.save(d / "ref.npy", ref)
    return x, y, np.load(d / "ref.npy")


def candidates(d: Path, column: str) -> Iterator[tuple[str, Path]]:
    """(slug, file): the FP32 graph, int8ptq's models, then the peers'."""
    yield "fp32", d / "prepared.onnx"
    metas = sorted((d / "models").glob("*.json"), key=lambda p: (not p.stem.startswith("int8ptq"), p.stem))
    for meta in metas:
        if meta.name.endswith(".quantize.json"):  # `int8ptq quantize --json`, not a sidecar
            continue
        info = json.loads(meta.read_text())
        f = d / "models" / info["file"]
        if f.exists() and not (column in ORT_COLUMNS and f.suffix != ".onnx"):
            yield info["slug"], f


def score(logits: np.ndarray, labels: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    from int8ptq import metrics

    top, ref_top = metrics.top_classes(logits), metrics.top_classes(ref)
    return {
        "top1": float(metrics.top1(top, labels)),
        "ref_top1": float(metrics.top1(ref_top, labels)),
        "agreement": float(metrics.agreement(top, ref_top)),
        "cosine": float(metrics.cosine(ref, logits).mean()),
    }


def result_path(d: Path, slug: str, column: str) -> Path:
    return d / "results" / f"{slug}.{column}.json"


def logits_path(d: Path, slug: str, column: str) -> Path:
    return d / "results" / f"{slug}.{column}.npy"


def evaluate_column(d: Path, column: str, only: set[str] | None = None) -> None:
    x, y, ref = eval_arrays(d)
    (d / "results").mkdir(exist_ok=True)
    for slug, f in candidates(d, column):
        if only and slug not in only:
            continue
        out, sha = result_path(d, slug, column), digest(f)
        kept = not slug.startswith("int8ptq") or logits_path(d, slug, column).exists()
        if out.exists() and json.loads(out.read_text()).get("sha") == sha and kept:
            continue
        t = time.perf_counter()
        logits = common.predict(runner(f, column), x)
        if slug.startswith("int8ptq"):  # kept for benchmarks/kernel_noise.py (columns against each other)
            np.save(logits_path(d, slug, column), logits)
        s = score(logits, y, ref)
        s.update(sha=sha, images=len(x), seconds=round(time.perf_counter() - t, 1))
        out.write_text(json.dumps(s, indent=1))
        print(f"{d.name} {column:8s} {slug:45s} agreement {100 * s['agreement']:.2f}%", flush=True)


def load_results(d: Path) -> dict[str, dict[str, dict[str, float]]]:
    """slug -> column -> result, for the current files only (a stale result is ignored)."""
    res: dict[str, dict[str, dict[str, float]]] = {}
    for column in COLUMNS:
        for slug, f in candidates(d, column):
            p = result_path(d, slug, column)
            if p.exists():
                r = json.loads(p.read_text())
                if r.get("sha") == digest(f):
                    res.setdefault(slug, {})[column] = r
    return res


BUILD_COLUMNS = ("ort", "ov-avx2", "exact")  # the columns of a comparison of builds of one model
BUILD_HEADERS = [
    "agreement: onnxruntime (this CPU)",
    "agreement: AVX2 kernels (OpenVINO capped)",
    "agreement: integer-exact",
    "cosine: exact",
    "top-1 drop: exact (pts)",
]


def score_builds(d: Path, slugs: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Score the builds `slugs` of d/models in BUILD_COLUMNS (each in a process of its own)."""
    eval_arrays(d)
    for c in BUILD_COLUMNS:
        spawn(d, c, slugs)
    return load_results(d)


def agreement_cells(r: dict[str, dict[str, float]], columns: tuple[str, ...]) -> list[str]:
    """One model's cells: agreement in each of `columns`, then the exact cosine and top-1 drop."""
    ex = r.get("exact", {})
    cells = [f"{100 * r[c]['agreement']:.2f}%" if c in r else "-" for c in columns]
    cells += [f"{ex['cosine']:.4f}" if ex else "-"]
    return cells + [f"{100 * (ex['ref_top1'] - ex['top1']):+.2f}" if ex else "-"]


def spawn(d: Path, column: str, only: list[str] | None = None) -> None:
    """Evaluate one column in a process of its own (the AVX2 cap must precede OpenVINO)."""
    import subprocess

    env = dict(os.environ)
    if column == "ov-avx2":
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    extra = [",".join(only)] if only else []
    subprocess.run([sys.executable, __file__, str(d), column, *extra], check=True, env=env)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in COLUMNS:
        sys.exit(f"usage: {sys.argv[0]} WORK/<model> {'|'.join(COLUMNS)} [SLUG,SLUG...]")
    if sys.argv[2] == "ov-avx2" and os.environ.get("ONEDNN_MAX_CPU_ISA") != "AVX2":
        sys.exit("the ov-avx2 column needs ONEDNN_MAX_CPU_ISA=AVX2 in the environment")
    only = set(sys.argv[3].split(",")) if len(sys.argv) == 4 else None
    evaluate_column(Path(sys.argv[1]), sys.argv[2], only)
