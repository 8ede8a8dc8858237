"""Step 1 of the accuracy and speed benchmarks: the FP32 graph every tool quantizes.

For each zoo model it writes, once, into WORK/<model>/ (WORK: out/bench, or $INT8PTQ_BENCH_WORK):
- `fp32.onnx`: the model as `int8ptq zoo export` writes it;
- `prepared.onnx`: the same model after int8ptq's FP32 passes (constant folding, BN and Pad
  folding). int8ptq and every peer quantize this file, so no tool gets a better FP32 graph;
- `calib.npy`: the 100 calibration images (calib.txt), preprocessed for the model, the
  data every peer calibrates on (int8ptq reads calib.txt itself, with the same preset).

    python benchmarks/prepare.py [efficientnet_lite0,efficientnet_lite1,efficientnet_lite2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.ir import load_model, save_model  # noqa: E402
from int8ptq.pipeline import prepare_model  # noqa: E402
from int8ptq.zoo.registry import get  # noqa: E402

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def prepare(name: str, work: Path = common.WORK, random_weights: bool = False) -> Path:
    """WORK/<name>/ with fp32.onnx, prepared.onnx and calib.npy (each made only if missing)."""
    entry = get(name)
    d = work / name
    (d / "models").mkdir(parents=True, exist_ok=True)
    fp32 = common.export_zoo(name, d / "fp32.onnx", random_weights=random_weights)
    if not (d / "prepared.onnx").exists():
        save_model(prepare_model(load_model(fp32)).graph.to_model(), d / "prepared.onnx")
    if not (d / "calib.npy").exists():
        calib, _ = common.load_images("calib.txt", entry.preset, crop=entry.input_size)
        np.save(d / "calib.npy", calib)
    return d


def main() -> None:
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else LITES
    for n in names:
        print(prepare(n), flush=True)


if __name__ == "__main__":
    main()
