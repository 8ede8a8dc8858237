"""How much a real model's task score moves with the calibration set: each configuration is
made from several draws of calibration samples of the same kind and size, and each result is
scored against FP32 on the same held-out samples (onnxruntime, real kernels of this CPU).

A score near a threshold metric (box F1, strings identical) flips with a few samples, so one
calibration draw can make a configuration look better or worse than it is; the mean and the
spread over draws compare configurations fairly. Draw 0 is benchmarks/realworld.py's set.

- yolo: 64 of the 100 calib.txt photos (draw 0: the first 64); 600 eval.txt photos.
- rec: 48 rendered lines (draw 0: seed 1, draw i: seed 100 + i); 400 held-out lines (seed 2).
- cls: 64 rendered lines, every other turned (draw 0: seed 11, draw i: 110 + i); 600 held out.

    python benchmarks/calib_spread.py [--models yolo,rec,cls] [--draws 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import onnx  # noqa: E402
import realworld as rw  # noqa: E402

from int8ptq.api import quantize  # noqa: E402
from int8ptq.calib.ranges import RangeMethod  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402

CONFIGS = {  # mse ranges from histograms of this many values per calibration sample, and minmax
    "mse, 2048 values per sample": QuantConfig(histogram_samples=2048),
    "mse, 65536 values per sample": QuantConfig(histogram_samples=65536),
    "mse, every value": QuantConfig(histogram_samples=None),
    "minmax": QuantConfig(method=RangeMethod.MINMAX),
}
N_EVAL = {"yolo": 600, "rec": 400, "cls": 600}
DESCRIBED = {
    "yolo": "yolo: 64 of the 100 calib.txt photos, so two draws share about 41; 600 eval.txt photos",
    "rec": "rec: 48 rendered lines; 400 held-out lines",
    "cls": "cls: 64 rendered lines, every other turned; 600 held-out lines",
}
YOLO_CALIB, YOLO_POOL = 64, 100


def _yolo_draw(i: int) -> list[np.ndarray]:
    pool = rw.EX.yolo.photos("calib.txt", YOLO_POOL)
    if i == 0:
        return list(pool[:YOLO_CALIB])
    picked = np.sort(np.random.default_rng(i).choice(len(pool), YOLO_CALIB, replace=False))
    return list(pool[picked])


DRAWS: dict[str, Callable[[int], list[np.ndarray]]] = {
    "yolo": _yolo_draw,
    "rec": lambda i: list(rw.EX.rec.lines(48, seed=1 if i == 0 else 100 + i)[0]),
    "cls": lambda i: list(rw.EX.cls.rotated_lines(64, seed=11 if i == 0 else 110 + i)[0]),
}


def outputs(path: Path, xs: list[np.ndarray]) -> list[np.ndarray]:
    run = columns.runner(path, "ort")
    return [np.asarray(run(x[None])) for x in xs]


def scores_for(key: str, draws: int, d: Path) -> tuple[rw.Task, dict[str, tuple[list[float], list[float]]]]:
    """The task, and configuration -> (the score of each draw, the quantize time of each draw)."""
    task = rw.make_task(key, n_eval=N_EVAL[key])
    name = onnx.load(task.fp32, load_external_data=False).graph.input[0].name
    ref = outputs(task.fp32, task.eval)
    got: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in CONFIGS}
    for i in range(draws):
        calib = [{name: x[None]} for x in DRAWS[key](i)]
        for label, cfg in CONFIGS.items():
            out = d / f"{key}-{i}.onnx"
            t = time.perf_counter()
            quantize(task.fp32, out, calib, config=cfg)
            got[label][1].append(time.perf_counter() - t)
            got[label][0].append(task.score(ref, outputs(out, task.eval)))
            print(key, i, label, f"{got[label][0][-1]:.4f}", f"{got[label][1][-1]:.0f} s", flush=True)
    return task, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="yolo,rec,cls")
    ap.add_argument("--draws", type=int, default=5)
    a = ap.parse_args()
    if a.draws < 2:
        raise SystemExit("--draws: at least 2 (a spread needs two draws)")
    keys = a.models.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            task, got = scores_for(key, a.draws, Path(tmp))
            for label, (s, secs) in got.items():
                v = np.array(s)
                rows.append(
                    [task.name, task.metric, label, f"{v.mean():.3f}", f"{v.std(ddof=1):.3f}"]
                    + [f"{v.min():.3f} - {v.max():.3f}", f"{v[0]:.3f}", f"{np.mean(secs):.0f} s"]
                )
    cols = ["model", "metric", "configuration", "mean", "sd", "min - max", "draw 0", "quantize"]
    body = (
        f"Each configuration made from {a.draws} calibration draws of the same kind and size ("
        + "; ".join(DESCRIBED[k] for k in keys)
        + "), fed to `int8ptq.quantize` as one sample per batch, and scored against FP32 on"
        " onnxruntime on held-out samples. Draw 0 holds benchmarks/realworld.py's samples, which"
        " that script feeds as a folder of .npz files through the CLI, batched (range histograms"
        " do not depend on the batching, but the weight-rounding statistics still do, so its"
        " draw-0 score can differ from realworld.py's). sd: the sample standard deviation over"
        " draws.\n\n"
        + common.md_table(cols, rows)
    )
    cmd = f"python benchmarks/calib_spread.py --models {a.models} --draws {a.draws}"
    common.update_section("Calibration spread", body, cmd)


if __name__ == "__main__":
    main()
