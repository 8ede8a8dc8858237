"""Speed of the real models (issue 13): FP32 against each tool's INT8 model at batch 1 and
2 threads, on onnxruntime and on OpenVINO, after benchmarks/realworld.py quantize.

Per model and backend, rounds visit every model in turn (the order alternates), so a change
of load hits all of them alike. A visit loads the model, warms it up, times `--calls` calls
(their median is the round's latency) and frees it: only one model is alive at a time, as in
a deployed process. (Several live onnxruntime sessions slow each other down: their idle
worker threads spin for work. On PP-OCRv5 cls that cut INT8's measured speed by half.)
Reported: the median latency over rounds, and the FP32/INT8 ratio (> 1: INT8 is faster) of
the median latencies, with the range of the per-round ratios. The input is the
largest held-out sample (a page, the widest line). The CPU, its ISA and the load average at
the start and the end are recorded with the figures (WORK/realworld/speed-<model>.json).

    python benchmarks/realworld_speed.py [--models yolo,det,rec,cls] [--rounds 7] [--calls 40]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import realworld as rw  # noqa: E402


def candidates(key: str) -> list[tuple[str, str, Path, dict]]:
    """(label, tool, file, sidecar): FP32 as shipped, int8ptq's model, each peer's best setting."""
    infos = rw.load(key)
    d = rw.WORK / key / "models"
    out: list[tuple[str, str, Path, dict]] = [("FP32 (as shipped)", "fp32", rw.model_file(key), {})]
    for slug, tool in (("int8ptq-default", "int8ptq"), ("int8ptq-openvino", "int8ptq-ov")):
        mine = next((i for i in infos if i["slug"] == slug and "metric" in i), None)
        if mine:
            out.append((mine["label"], tool, d / mine["file"], mine))
    for tool in ("ort", "nncf"):
        b = rw.best(infos, tool)
        if b:
            out.append((b["label"], tool, d / b["file"], b))
    return out


def _loader(path: Path, backend: str, x: np.ndarray) -> common.Loader:
    def load() -> Callable[[], object]:
        run = columns.runner(path, backend)
        return lambda: run(x)

    return load


def measure(key: str, x: np.ndarray, rounds: int, calls: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for backend in ("ort", "ov"):
        runners, labels = {}, {}
        for label, tool, f, info in candidates(key):
            if backend == "ort" and (f.suffix != ".onnx" or tool == "int8ptq-ov"):
                continue  # NNCF's IR; int8ptq's model laid out for OpenVINO
            failed = info.get("metric", {}).get(f"{backend}_error")
            if failed:  # it failed (or crashed) there when evaluated: not run again in this process
                rows.append({"model": key, "backend": backend, "tool": tool, "label": label, "error": failed})
                continue
            try:
                columns.runner(f, backend)  # loads here, or fails here with its own message
                runners[tool] = _loader(f, backend, x)
                labels[tool] = label
            except Exception as e:  # noqa: BLE001 - a model the backend cannot load: say so
                rows.append(
                    {"model": key, "backend": backend, "tool": tool, "label": label, "error": rw._one_line(e)}
                )
        times = common.alternating(runners, rounds, calls=calls)
        fp32 = np.array(times["fp32"])
        for tool, ts in times.items():
            per_round = fp32 / np.array(ts)
            rows.append(
                {
                    "model": key,
                    "backend": backend,
                    "tool": tool,
                    "label": labels[tool],
                    "ms": 1000 * float(np.median(ts)),
                    "ratio": float(np.median(fp32) / np.median(ts)),
                    "ratio_min": float(per_round.min()),
                    "ratio_max": float(per_round.max()),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(rw.TASKS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=40, help="timed calls per model per round")
    a = ap.parse_args()
    for key in a.models.split(","):
        xs = rw._load_list(rw.WORK / key / "eval.npz")
        x = max(xs, key=lambda s: s.size)[None]
        result: dict[str, object] = {
            "command": f"python benchmarks/realworld_speed.py --models {key} --rounds {a.rounds} "
            f"--calls {a.calls}",
            "commit": common.commit(),
            "machine": common.machine(),
            "isa": common.isa_line(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_start": [round(v, 2) for v in os.getloadavg()],
            "rounds": a.rounds,
            "calls": a.calls,
            "shape": list(x.shape),
        }
        print(result, flush=True)
        result["rows"] = measure(key, x, a.rounds, a.calls)
        result["load_end"] = [round(v, 2) for v in os.getloadavg()]
        (rw.WORK / f"speed-{key}.json").write_text(json.dumps(result, indent=1))
        print(f"{key}: load average at start {result['load_start']}, at end {result['load_end']}", flush=True)


if __name__ == "__main__":
    main()
