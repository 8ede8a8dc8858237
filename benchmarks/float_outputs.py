"""Float outputs on onnxruntime: a MatMul or Gemm whose output only float ops read (a
classifier's or a recognizer's head before its Softmax) keeps it float, since onnxruntime
has a kernel for that (MatMulIntegerToFloat; QGemm without an output scale). Before commit
3fb70d3, the layout for onnxruntime quantized every quantized op's output.

From one calibration pass per model, both layouts (`old`: rules.OpRule.float_output off),
timed against FP32 on onnxruntime (rounds alternate, one session alive at a time) and
scored with the task metric against FP32 on the held-out samples of benchmarks/realworld.py
(its work folders must exist: `python benchmarks/realworld.py quantize --only int8ptq`).

    python benchmarks/float_outputs.py [--models rec,cls] [--rounds 9]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import placement_speed as ps  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import build, calibrate, prepare_model  # noqa: E402
from int8ptq.quant import plan as plan_module  # noqa: E402

OLD_RULES = {k: dataclasses.replace(r, float_output=False) for k, r in plan_module.RULES.items()}


def rows_for(key: str, rounds: int, d: Path) -> list[str]:
    subject = ps.real_subject(key)
    prep = prepare_model(load_model(subject.fp32))
    new = prep.plan()
    with mock.patch.object(plan_module, "RULES", OLD_RULES):
        old = prep.plan()
    stats = calibrate(prep, subject.calib, QuantConfig(), old)  # old quantizes every tensor new does
    paths = {"FP32": subject.fp32}
    for name, plan in (("old", old), ("new", new)):
        paths[name] = d / f"{key}-{name}.onnx"
        onnx.save(build(prep, stats, QuantConfig(), plan)[0], str(paths[name]))
    scores = {k: subject.score(p)["ort"] for k, p in paths.items() if k != "FP32"}
    loaders = {k: ps._loader(p, "ort", subject.x) for k, p in paths.items()}
    times = common.alternating(loaders, rounds, calls=40)
    ratio = ps._ratios(times, "FP32")
    floats = len(set(old.activations) - set(new.activations))
    row = [key, subject.metric, str(floats), f"{1000 * np.median(times['FP32']):.2f}"]
    row += [f"{ratio[k]:.2f}x / {scores[k]:.3f}" for k in ("old", "new")]
    print(row, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="rec,cls")
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [rows_for(k, a.rounds, Path(tmp)) for k in a.models.split(",")]
    cols = ["model", "metric", "outputs left float", "FP32 ms (onnxruntime)"]
    cols += ["FP32/INT8 / metric: every output quantized (before)", "the same: float outputs (now)"]
    body = (
        f"Batch 1, 2 threads, onnxruntime, median of {a.rounds} alternating rounds of 40 calls; the"
        " metric on the held-out samples of \"Real models as shipped\", against FP32.\n\n"
        + common.md_table(cols, rows)
    )
    common.update_section("Float outputs on onnxruntime", body, "python benchmarks/float_outputs.py")


if __name__ == "__main__":
    main()
