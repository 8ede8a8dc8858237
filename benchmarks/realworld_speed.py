"""Speed of the real models (issue 13): FP32 against each tool's INT8 model at batch 1 and
2 threads, on onnxruntime and on OpenVINO, after benchmarks/realworld.py quantize.

Per model and backend, every model is loaded once and the repeats are interleaved: round r
times `--calls` calls of each model in turn (the starting model rotates), so a change of
load hits all of them alike. Reported: the median latency, and the FP32/INT8 ratio (> 1:
INT8 is faster) of the median latencies, with the range of the per-round ratios. The input is the
largest held-out sample (a page, the widest line). The CPU, its ISA and the load average at
the start and the end are recorded with the figures (WORK/realworld/speed.json).

    python benchmarks/realworld_speed.py [--models yolo,det,rec,cls] [--rounds 15] [--calls 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import realworld as rw  # noqa: E402

SPEED_JSON = rw.WORK / "speed.json"


def candidates(task: rw.Task) -> list[tuple[str, str, Path]]:
    """(label, tool, file): FP32 as shipped, int8ptq's model, each peer's best setting."""
    infos = rw.load(task.key)
    d = rw.WORK / task.key / "models"
    out = [("FP32 (as shipped)", "fp32", task.fp32)]
    mine = next((i for i in infos if i["slug"] == "int8ptq-default" and "metric" in i), None)
    if mine:
        out.append((mine["label"], "int8ptq", d / mine["file"]))
    for tool in ("ort", "nncf"):
        b = rw.best(infos, tool)
        if b:
            out.append((b["label"], tool, d / b["file"]))
    return out


def interleaved(
    runners: dict[str, Callable[[np.ndarray], object]], x: np.ndarray, rounds: int, calls: int
) -> dict[str, list[float]]:
    """Seconds per call of each runner, one value per round; rounds interleave the runners."""
    for run in runners.values():
        for _ in range(3):
            run(x)
    keys, times = list(runners), {k: [] for k in runners}
    for r in range(rounds):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t = time.perf_counter()
            for _ in range(calls):
                runners[k](x)
            times[k].append((time.perf_counter() - t) / calls)
    return times


def measure(task: rw.Task, x: np.ndarray, rounds: int, calls: int) -> list[dict[str, object]]:
    key, rows = task.key, []
    for backend in ("ort", "ov"):
        runners, labels = {}, {}
        for label, tool, f in candidates(task):
            if backend == "ort" and f.suffix != ".onnx":
                continue
            try:
                runners[tool] = columns.runner(f, backend)
                labels[tool] = label
            except Exception as e:  # noqa: BLE001 - a model the backend cannot load: say so
                rows.append(
                    {"model": key, "backend": backend, "tool": tool, "label": label, "error": rw._one_line(e)}
                )
        times = interleaved(runners, x, rounds, calls)
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
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=5, help="calls per model per round")
    a = ap.parse_args()
    result: dict[str, object] = {
        "command": f"python benchmarks/realworld_speed.py --models {a.models} --rounds {a.rounds} "
        f"--calls {a.calls}",
        "commit": common.commit(),
        "machine": common.machine(),
        "isa": common.isa_line(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": [round(v, 2) for v in os.getloadavg()],
        "rounds": a.rounds,
        "calls": a.calls,
    }
    print(result, flush=True)
    rows, shapes = [], {}
    for key in a.models.split(","):
        task = rw.make_task(key)
        x = max(task.eval, key=lambda s: s.size)[None]
        shapes[key] = list(x.shape)
        rows += measure(task, x, a.rounds, a.calls)
    result.update(rows=rows, shapes=shapes, load_end=[round(v, 2) for v in os.getloadavg()])
    SPEED_JSON.write_text(json.dumps(result, indent=1))
    print(f"load average at start {result['load_start']}, at end {result['load_end']}")


if __name__ == "__main__":
    main()
