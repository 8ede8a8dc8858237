"""YOLOv8n's class scores through INT8: the error of the class logit (INT8 - FP32, in logit units)
binned by FP32's logit, for the int8ptq models benchmarks/realworld.py made (defaults: mse
ranges; `--method minmax`), on onnxruntime and OpenVINO, with the box F1 against FP32.

A detection is kept when its score passes 0.25 (logit -1.1), so a mean error below zero on the
confident bins removes boxes that FP32 keeps; noise of either sign moves boxes across the
threshold both ways. Writes its section of BENCHMARKS.md.

    python benchmarks/realworld.py quantize --models yolo --only int8ptq-default,int8ptq-minmax
    python benchmarks/detection_bias.py [--photos 600]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import realworld as rw  # noqa: E402

FILES = ("int8ptq-default", "int8ptq-minmax")
BACKENDS = {"ort": "onnxruntime", "ov": "OpenVINO"}
EDGES = (-8.0, -5.0, -3.0, -1.5, 0.0, np.inf)  # FP32 class logit bins (below -8: background)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.asarray(np.log(p / (1 - p)))


def outputs(path: Path, backend: str, xs: list[np.ndarray]) -> list[np.ndarray]:
    run = columns.runner(path, backend)
    return [np.asarray(run(x[None]))[0] for x in xs]


def error_cells(ref: list[np.ndarray], got: list[np.ndarray]) -> list[str]:
    """Per FP32-logit bin: mean and standard deviation of the class logit's INT8 error."""
    r = np.concatenate([logit(o[4:]).ravel() for o in ref])
    g = np.concatenate([logit(o[4:]).ravel() for o in got])
    cells = []
    for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True):
        d = (g - r)[(r >= lo) & (r < hi)]
        cells.append(f"{d.mean():+.3f} ± {d.std():.3f} ({d.size})" if d.size else "-")
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=600, help="eval.txt photos")
    a = ap.parse_args()
    task = rw.make_task("yolo", n_eval=a.photos)
    models = rw.WORK / "yolo" / "models"
    missing = [f for f in FILES if not (models / f"{f}.onnx").exists()]
    if missing:
        raise SystemExit(
            f"missing {', '.join(missing)} in {models}: run benchmarks/realworld.py quantize first"
        )
    rows = []
    for backend, label in BACKENDS.items():
        ref = outputs(task.fp32, backend, task.eval)
        for f in FILES:
            got = outputs(models / f"{f}.onnx", backend, task.eval)
            f1 = task.score([[o] for o in ref], [[o] for o in got])
            rows.append([label, f, f"{f1:.3f}", *error_cells(ref, got)])
            print(rows[-1], flush=True)
    bins = [f"[{lo:g}, {hi:g})" for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True)]
    cols = ["backend", "file", "box F1", *(f"logit error, FP32 logit in {b}" for b in bins)]
    body = (
        f"YOLOv8n (nudenet 320n.onnx) on {a.photos} eval.txt photos (letterboxed to 320): the class logits'"
        " INT8 error (mean ± standard deviation (count) of INT8 - FP32, per bin of FP32's logit; a box"
        " is kept at logit -1.1, score 0.25) and the box F1 against FP32, on each backend against FP32"
        " on the same backend. Files: benchmarks/realworld.py's (64 calibration photos).\n\n"
        + common.md_table(cols, rows)
    )
    common.update_section(
        "YOLOv8n: confident scores", body, f"python benchmarks/detection_bias.py --photos {a.photos}"
    )


if __name__ == "__main__":
    main()
