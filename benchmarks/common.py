"""Shared pieces of the benchmark scripts: data, peers, timing, BENCHMARKS.md sections."""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from int8ptq import metrics
from int8ptq.data import PRESETS, open_dataset
from int8ptq.runtime import time_runner
from int8ptq.runtime.cpu import cpu_info
from int8ptq.zoo.registry import get as get_zoo

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INT8PTQ_IMAGENET", ROOT.parent / "shared" / "data" / "imagenet-val-1300"))
MD = ROOT / "BENCHMARKS.md"
# where prepared graphs, calibration arrays, quantized models and results are kept between runs
WORK = Path(os.environ.get("INT8PTQ_BENCH_WORK", ROOT / "out" / "bench"))


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


Loader = Callable[[], Callable[[], object]]  # loads a model; the call runs it once on its input


def alternating(
    loaders: dict[str, Loader], rounds: int, *, calls: int | None = None, seconds: float = 0.05
) -> dict[str, list[float]]:
    """Seconds per call of each model, one value per round: the median of `calls` timed calls
    (None: as many as fill about `seconds`). Rounds visit the models in turn, the order
    alternating; a visit loads the model, warms it up, times it and frees it, so only one is
    alive at a time (live onnxruntime sessions slow each other down: their idle threads spin)."""
    times: dict[str, list[float]] = {k: [] for k in loaders}
    keys = list(loaders)
    for r in range(rounds):
        for k in keys if r % 2 == 0 else keys[::-1]:
            run = loaders[k]()
            for _ in range(3):
                run()
            n = calls or max(1, int(seconds / max(timed(run), 1e-6)))
            for _ in range(n // 5):
                run()
            times[k].append(float(np.median([timed(run) for _ in range(n)])))
            del run
            gc.collect()
    return times


def isa_line() -> str:
    """'vnni (avx2 avx512bw avx512_vnni; no amx_int8)': int8ptq's class of this CPU and the
    INT8 flags that decide it, present and absent."""
    cpu = cpu_info()
    missing = [x for x in ("avx512_vnni", "amx_int8") if x not in cpu.flags]
    tail = f"; no {', '.join(missing)}" if missing else ""
    return f"{cpu.isa} ({' '.join(cpu.int8_flags)}{tail})"


def commit() -> str:
    """The commit the figures were made with (+ "dirty" if the tree had changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" (src modified)" if dirty else "")


def machine() -> str:
    import onnxruntime

    try:
        import openvino

        ov = openvino.__version__.split("-")[0]
    except ImportError:
        ov = "-"
    return (
        f"{cpu_info().model}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, OpenVINO {ov}"
    )


def load_average() -> float:
    return os.getloadavg()[0]


def require_quiet(limit: float = 1.0, force: bool = False) -> None:
    """Timings are meaningless on a busy machine: refuse to time unless the 1-minute load
    average is below `limit` (or `force`)."""
    load = load_average()
    if load >= limit and not force:
        sys.exit(f"load average {load:.2f} >= {limit}: timings would be wrong (--force to time anyway)")


def update_section(name: str, body: str, command: str, when: str | None = None) -> None:
    """Replace (or add) the section `name` in BENCHMARKS.md."""
    stamp = when or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"<!-- {name}:begin -->\n## {name}\n\nCommand: `{command}`  \n"
        f"Commit: {commit()}  \nDate: {stamp}  \nMachine: {machine()}  \nISA: {isa_line()}\n\n"
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


LITES = "efficientnet_lite0,efficientnet_lite1,efficientnet_lite2"


def zoo_task(name: str, limit: int | None) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A zoo model's FP32 file (in a new temporary folder), its calibration images
    (calib.txt), the evaluation images and labels (eval.txt, the first `limit`) and FP32's
    logits on them."""
    entry = get_zoo(name)
    fp32 = export_zoo(name, Path(tempfile.mkdtemp(prefix=f"int8ptq-{name}-")) / "fp32.onnx")
    calib, _ = load_images("calib.txt", entry.preset, crop=entry.input_size)
    x, y = load_images("eval.txt", entry.preset, limit=limit, crop=entry.input_size)
    return fp32, calib, x, y, predict(ort_session(fp32), x)


def lite_rows(
    ap: argparse.ArgumentParser, rows_for: Callable[..., list[list[str]]], *extra: str
) -> list[list[str]]:
    """The table rows of every model named on the command line (default: the three Lites):
    `rows_for(model, limit, *the values of the `extra` options)`."""
    ap.add_argument("models", nargs="?", default=LITES)
    ap.add_argument("--limit", type=int, default=None, help="evaluation images (default: all)")
    args = ap.parse_args()
    more = [getattr(args, e) for e in extra]
    return [r for m in args.models.split(",") for r in rows_for(m, args.limit, *more)]


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


def int8ptq(*args: object, quiet: bool = True) -> None:
    """Run the `int8ptq` command line of the tree being benchmarked."""
    out = subprocess.DEVNULL if quiet else None
    subprocess.run([sys.executable, "-m", "int8ptq", *map(str, args)], check=True, stdout=out)


def export_zoo(name: str, out: Path, random_weights: bool = False) -> Path:
    if not out.exists():
        int8ptq("zoo", "export", name, "-o", out, *(["--random-weights"] if random_weights else []))
    return out
