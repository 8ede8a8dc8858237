"""Speed of FP32 and INT8 models, every INT8 model made from the same FP32 graph.

Each backend's INT8 models are divided by the same backend's best FP32 graph: the model
after int8ptq's FP32 passes (`prepared.onnx`), which every tool quantizes. The model as
exported is shown for reference. Peers: each one's best setting on EfficientNet-Lite0 (from
the accuracy sweep), quantized from the same prepared graph by benchmarks/peers.py (NNCF
and Quark with the interpreters in $INT8PTQ_NNCF_PYTHON and $INT8PTQ_QUARK_PYTHON).

Timing needs a quiet machine: the script refuses to run while the load average is >= 1.

    python benchmarks/speed.py [--models efficientnet_lite0,resnet50] [--repeat 20] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import prepare  # noqa: E402
import tables  # noqa: E402

from int8ptq.runtime import time_runner  # noqa: E402
from int8ptq.zoo.registry import get  # noqa: E402

MODELS = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet50"]
PYTHON = {"ort": sys.executable}
PYTHON["nncf"] = os.environ.get("INT8PTQ_NNCF_PYTHON", sys.executable)
PYTHON["quark"] = os.environ.get("INT8PTQ_QUARK_PYTHON", sys.executable)


def peer_order() -> dict[str, list[str]]:
    """tool -> its settings, best first, as ranked on EfficientNet-Lite0 (accuracy sweep;
    AdaRound left out: its speed is its base setting's)."""
    rs = tables.rows(common.WORK / "efficientnet_lite0")
    order: dict[str, list[str]] = {}
    for tool in ("ort", "nncf", "quark"):
        mine = sorted((r for r in rs if r.tool == tool and "adaround" not in r.slug), key=tables.Row.rank)
        if mine:
            order[tool] = [r.slug for r in reversed(mine)]
    return order


def ensure_models(d: Path, order: dict[str, list[str]]) -> list[tuple[str, str, Path]]:
    """(label, tool, file) of the INT8 models to time: int8ptq's, and each peer's best setting
    on Lite0, or its best setting quantized for this model (settings of one format run at one
    speed); quantizes what is missing."""
    if not (d / "models" / "int8ptq-default.json").exists():
        import accuracy

        accuracy.quantize_ours(d)
    out = []
    for slug in ("int8ptq-default", "int8ptq-vnni"):
        info = json.loads((d / "models" / f"{slug}.json").read_text())
        out.append((info["label"], "int8ptq", d / "models" / info["file"]))
    for tool, slugs in order.items():
        slug = next((s for s in slugs if (d / "models" / f"{s}.json").exists()), slugs[0])
        meta = d / "models" / f"{slug}.json"
        if not meta.exists():
            script = Path(__file__).with_name("peers.py")
            subprocess.run([PYTHON[tool], str(script), tool, str(d), "--only", slug], check=True)
        info = json.loads(meta.read_text())
        out.append((info["label"], tool, d / "models" / info["file"]))
    return out


def measure(path: Path, backend: str, size: int, repeat: int) -> tuple[float, float]:
    """(batch-1 latency in ms, batch-16 images/s): medians after warm-up, 2 threads."""
    run = columns.runner(path, backend)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 3, size, size), dtype=np.float32)
    x16 = rng.standard_normal((16, 3, size, size), dtype=np.float32)
    b1 = float(np.median(time_runner(run, x1, warmup=5, repeat=repeat * 2)))
    b16 = float(np.median(time_runner(run, x16, warmup=3, repeat=repeat)))
    return 1000 * b1, 16 / b16


def run_model(name: str, order: dict[str, list[str]], repeat: int) -> list[list[str]]:
    entry = get(name)
    d = prepare.prepare(name, random_weights=not name.startswith("efficientnet_lite"))
    int8 = ensure_models(d, order)
    rows: list[list[str]] = []
    for backend, bname in (("ort", "onnxruntime"), ("ov", "OpenVINO")):
        exported = measure(d / "fp32.onnx", backend, entry.input_size, repeat)
        base = measure(d / "prepared.onnx", backend, entry.input_size, repeat)
        todo = [("FP32, as exported", d / "fp32.onnx", exported), ("FP32, prepared (baseline)", None, base)]
        for label, tool, f in int8:
            if backend == "ort" and f.suffix != ".onnx":
                continue
            todo.append((f"**{label}**" if tool == "int8ptq" else label, f, None))
        for label, f, got in todo:
            ms, ips = got or measure(f, backend, entry.input_size, repeat)  # type: ignore[arg-type]
            ratios = [
                f"{base[0] / ms:.2f}x",
                f"{ips:.1f}",
                f"{ips / base[1]:.2f}x",
                f"{ips / exported[1]:.2f}x",
            ]
            rows.append([name, bname, label, f"{ms:.2f}", *ratios])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--force", action="store_true", help="time even on a busy machine")
    a = ap.parse_args()
    order = peer_order()
    common.require_quiet(force=a.force)
    load = common.load_average()
    rows: list[list[str]] = []
    for m in a.models.split(","):
        rows += run_model(m, order, a.repeat)
    body = (
        f"2 threads; batch 1: median latency of {2 * a.repeat} runs, batch 16: median of {a.repeat}, "
        f"after warm-up; random input; load average {load:.2f} when timing started, "
        f"{common.load_average():.2f} when it ended. "
        "**Speed-ups are against the same backend's FP32 prepared graph** (the model after "
        "int8ptq's FP32 passes, which every tool quantizes); the last column is against the model "
        "as exported. OpenVINO runs FP32 in f32 (`INFERENCE_PRECISION_HINT=f32`). This CPU has "
        "AVX512-VNNI, so these are VNNI kernels. Peers: each one's best setting on EfficientNet-Lite0 "
        "where it was made for the model, else its best setting that was (one format runs at one "
        "speed), quantized from the same prepared graph; "
        "models other than the EfficientNet-Lites have random weights (speed does not depend on them) "
        "and calibrate on 100 images of calib.txt.\n\n"
    )
    head = ["model", "backend", "configuration", "batch 1 ms", "b1 speed-up", "batch 16 img/s"]
    head += ["b16 speed-up", "b16 vs as exported"]
    body += common.md_table(head, rows)
    common.update_section("Speed", body, f"python benchmarks/speed.py --models {a.models}")


if __name__ == "__main__":
    main()
