"""`tune` on a real model with its own task metric (issue 13): how far FP32 fallbacks take
it, and what they cost.

The metric is the example's (box F1, text-pixel F1, strings identical, argmax identical),
passed to `int8ptq.tune.tune(..., metric=...)`. Tuning runs on a third set of samples,
disjoint from the calibration samples and from the held-out ones that `realworld.py` scores;
the best model is then scored on those held-out samples (onnxruntime). Writes its section
of BENCHMARKS.md.

    python benchmarks/realworld_tune.py --model yolo [--max-drop 0.03] [--time-budget 900]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import realworld as rw  # noqa: E402

from int8ptq.tune import TuneConfig, tune  # noqa: E402

HELD_OUT_PHOTOS = 200  # the first photos of eval.txt: realworld.py scores on them


def tune_samples(key: str, n: int) -> list[np.ndarray]:
    """Samples of the model's own kind, none of them in its calibration or held-out sets."""
    ex = rw.EX
    if key == "yolo":
        lines = (ex.yolo.IMAGENET / "eval.txt").read_text().split("\n")
        files = [ex.yolo.IMAGENET / ln.split()[0] for ln in lines if ln.strip()]
        if n > len(files) - HELD_OUT_PHOTOS:
            raise SystemExit(f"--samples: at most {len(files) - HELD_OUT_PHOTOS} photos are not held out")
        return [ex.yolo.letterbox(f) for f in files[-n:]]
    if key == "det":
        return list(ex.det.pages(n, seed=23))
    if key == "rec":
        return list(ex.rec.lines(n, seed=3)[0])
    if key == "cls":
        return list(ex.cls.rotated_lines(n, seed=13)[0])
    raise SystemExit(f"unknown model {key!r}: one of {', '.join(rw.TASKS)}")


def per_sample(batches: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """tune's outputs (one {name: array} per batch) as realworld's scores read them: the first
    output of each sample, with its batch axis of 1."""
    out = []
    for b in batches:
        first = next(iter(b.values()))
        out += [first[i : i + 1] for i in range(len(first))]
    return out


def held_out_score(task: rw.Task, model: Path) -> float:
    d = rw.WORK / task.key
    got = d / ".out-tuned.npz"
    rw.child("outputs", model, "ort", d / "eval.npz", got)
    try:
        return task.score(rw._load_list(d / "ref-ort.npz"), rw._load_list(got))
    finally:
        got.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolo", help="yolo, det, rec or cls")
    ap.add_argument("--max-drop", type=float, default=0.03, help="a fraction of the metric")
    ap.add_argument("--time-budget", type=float, default=900.0, help="seconds")
    ap.add_argument("--samples", type=int, default=200, help="tuning samples")
    a = ap.parse_args()
    task = rw.make_task(a.model)
    d = rw.prepare(task)
    name = onnx.load(str(task.fp32), load_external_data=False).graph.input[0].name
    data = [{name: x[None]} for x in tune_samples(a.model, a.samples)]

    def metric(fp32: list, int8: list, inputs: list) -> float:  # noqa: ARG001
        return task.score(per_sample(fp32), per_sample(int8))

    out = d / "models" / "int8ptq-tuned.onnx"
    t = time.perf_counter()
    budget = TuneConfig(a.max_drop, time_budget=a.time_budget)
    res = tune(task.fp32, out, d / "calib", data, tcfg=budget, metric=metric)
    seconds = time.perf_counter() - t
    best = res.best
    drop = lambda tr: "-" if tr.drop is None else f"{tr.drop:.3f}"  # noqa: E731
    rows = [[str(tr.index), tr.name, tr.method, str(len(tr.fallback)), drop(tr)] for tr in res.trials]
    held = held_out_score(task, out) if best is not None else float("nan")
    cmd = " ".join(["python benchmarks/realworld_tune.py", *sys.argv[1:]])
    text = (
        f"Metric: {task.metric} against FP32; budget: a drop of {a.max_drop} on {len(data)} tuning "
        f"samples (neither calibration nor held-out). {len(res.trials)} trials in {seconds:.0f} s; "
        f"within budget: {'yes' if res.met else 'no'}.\n\n"
        f"Best: trial {best.index if best else '-'} ({best.name if best else '-'}), "
        f"{len(best.fallback) if best else 0} layers in FP32; {task.metric} on the held-out samples "
        f"(onnxruntime): {held:.3f} ({task.data}).\n\n"
    )
    table = common.md_table(["#", "trial", "method", "FP32 layers", "drop on the tuning samples"], rows)
    common.update_section(f"tune with the task metric: {task.name}", text + table, cmd)
    print(text)


if __name__ == "__main__":
    main()
