"""Shared pieces of the benchmark scripts: data, peers, timing, BENCHMARKS.md sections."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from int8ptq.data import PRESETS, open_dataset
from int8ptq.eval import metrics
from int8ptq.eval.bench import time_runner
from int8ptq.runtime.cpu import cpu_info

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INT8PTQ_IMAGENET", ROOT.parent / "shared" / "data" / "imagenet-val-1300"))
MD = ROOT / "BENCHMARKS.md"


def load_images(
    list_file: str, preset: str, limit: int | None = None, crop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    ds = open_dataset(DATA / list_file)
    if limit:
        ds = ds.subset(0, limit)
    xs, ys = [], []
    p = PRESETS[preset] if crop is None else PRESETS[preset].with_crop(crop)
    for b in ds.batches(50, p):
        xs.append(b.x)
        ys.append(b.labels)
    return np.concatenate(xs), np.concatenate(ys)


def predict(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int = 50) -> np.ndarray:
    return np.concatenate([run(x[i : i + batch]) for i in range(0, len(x), batch)])


def scores(logits: np.ndarray, labels: np.ndarray, ref: np.ndarray | None) -> dict[str, float | None]:
    top = metrics.top_classes(logits)
    out: dict[str, float | None] = {"top1": metrics.top1(top, labels)}
    if ref is not None:
        out["agreement"] = metrics.agreement(top, metrics.top_classes(ref))
        out["cosine"] = float(metrics.cosine(ref, logits).mean())
    return out


def throughput(
    run: Callable[[np.ndarray], np.ndarray], batch: int, size: int = 224, repeat: int = 10
) -> float:
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32)
    ts = time_runner(run, x, warmup=3, repeat=repeat)
    return batch / float(np.median(ts))


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def machine() -> str:
    import onnxruntime

    try:
        import openvino

        ov = openvino.__version__.split("-")[0]
    except ImportError:
        ov = "-"
    cpu = cpu_info()
    return (
        f"{cpu.model}, {os.cpu_count()} cores, ISA {cpu.isa} ({' '.join(cpu.int8_flags)}); "
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, OpenVINO {ov}"
    )


def update_section(name: str, body: str, command: str) -> None:
    """Replace (or add) the section `name` in BENCHMARKS.md."""
    head = (
        f"<!-- {name}:begin -->\n## {name}\n\nCommand: `{command}`  \n"
        f"Date: {datetime.date.today().isoformat()}  \nMachine: {machine()}\n\n"
    )
    block = head + body.rstrip() + f"\n<!-- {name}:end -->"
    text = (
        MD.read_text()
        if MD.exists()
        else "# Benchmarks\n\nEvery table is written by a script in `benchmarks/`.\n"
    )
    pat = re.compile(rf"<!-- {re.escape(name)}:begin -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    tmp = MD.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(MD)


def md_table(cols: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def ort_session(path: str | Path, threads: int = 2):  # noqa: ANN201
    from int8ptq.runtime.ort import OrtRunner

    return OrtRunner(path, threads).run


def ov_session(path_or_model, threads: int = 2):  # noqa: ANN001, ANN201
    import openvino as ov

    core = ov.Core()
    m = core.read_model(str(path_or_model)) if isinstance(path_or_model, (str, Path)) else path_or_model
    c = core.compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    req = c.create_infer_request()
    out = c.outputs[0]
    return lambda x: np.asarray(req.infer({0: x})[out]).copy()


def export_zoo(name: str, out: Path, random_weights: bool = False) -> Path:
    if not out.exists():
        args = [sys.executable, "-m", "int8ptq.cli", "zoo", "export", name, "-o", str(out)]
        subprocess.run(args + (["--random-weights"] if random_weights else []), check=True)
    return out
