"""Evaluation throughput by executor, and a scaling estimate from measured per-shard cost.

EfficientNet-Lite0 FP32 + INT8 on the 1200 images of eval.txt: local (this process),
processes (2 workers) and a local Ray instance (2 workers), in one run. Then each shard's
cost, measured here, gives the time for W workers on the 50,000-image validation set:
start-up + ceil(shards / W) x shard cost. Writes the "Scaling" section of BENCHMARKS.md.

    python benchmarks/scaling.py
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402

from int8ptq.api import evaluate, quantize  # noqa: E402
from int8ptq.data.dataset import open_dataset  # noqa: E402
from int8ptq.runtime import model_bytes  # noqa: E402
from int8ptq.shard.executors import Executor, run_shards  # noqa: E402
from int8ptq.shard.work import EvalJob, make_shards  # noqa: E402


def main() -> None:
    w = Path(tempfile.mkdtemp(prefix="int8ptq-scale-"))
    fp32 = common.export_zoo("efficientnet_lite0", w / "fp32.onnx")
    int8 = w / "int8.onnx"
    quantize(fp32, int8, common.DATA / "calib.txt")
    data = common.DATA / "eval.txt"
    n = len(open_dataset(data))
    rows, results = [], {}
    for label, ex, workers in [
        ("local (1 process, 2 threads)", "local", None),
        ("processes, 2 workers", "processes", 2),
        ("ray (local instance), 2 workers", "ray", 2),
    ]:
        t = time.perf_counter()
        r = evaluate([fp32, int8], data, threads=2 if ex == "local" else None, executor=ex, workers=workers)
        sec = time.perf_counter() - t
        results[label] = r
        rows.append(
            [
                label,
                f"{sec:.1f} s",
                f"{2 * n / sec:.1f}",
                f"{100 * r.models[1].top1:.2f}%",
                f"{100 * r.models[1].agreement:.2f}%",
            ]
        )
        print(rows[-1], flush=True)
    same = len({tuple((m.top1, m.top5, m.agreement) for m in r.models) for r in results.values()}) == 1
    # per-shard cost: 64-image shards, one worker with one thread (what each of W workers would do)
    job = EvalJob(
        (model_bytes(fp32), model_bytes(int8)), str(data), "efficientnet-lite", 224, "NCHW", 16, "ort", 1
    )
    shards = make_shards(n, 16, 64)
    stamps = [time.perf_counter()]
    run_shards(job, shards, Executor("local"), None, lambda _: stamps.append(time.perf_counter()))
    cost = float(np.median(np.diff(stamps[1:]))) if len(stamps) > 2 else stamps[-1] - stamps[0]
    startup = 10.0  # worker start and model load, measured as the processes run's overhead above, rounded up
    total = math.ceil(50_000 / 64)
    est = [
        [
            str(k),
            f"{(startup + math.ceil(total / k) * cost) / 60:.1f} min",
            f"{2 * 50_000 / (startup + math.ceil(total / k) * cost):.0f}",
        ]
        for k in (1, 2, 4, 8, 16, 32, 64)
    ]
    body = (
        f"EfficientNet-Lite0, FP32 and INT8 together (each image runs through both), {n} images of eval.txt. "
        f"All executors gave {'identical' if same else 'DIFFERENT'} top-1, top-5 and agreement.\n\n"
    )
    body += common.md_table(["executor", "wall time", "inferences/s", "INT8 top-1", "agreement"], rows)
    body += (
        f"\nScaling estimate for the 50,000-image validation set ({total} shards of 64 images): one shard "
        f"costs {cost:.2f} s on one worker with one thread (median, measured here); W workers need "
        f"{startup:.0f} s start-up + ceil(shards / W) x shard cost. It assumes one core per worker and "
        "data readable by every worker.\n\n"
    )
    body += common.md_table(["workers (1 thread each)", "estimated time", "inferences/s"], est)
    common.update_section("Scaling", body, "python benchmarks/scaling.py")


if __name__ == "__main__":
    main()
