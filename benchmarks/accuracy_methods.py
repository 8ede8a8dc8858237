"""Accuracy methods side by side on the EfficientNet-Lites: calibrate once, build each
configuration from the same statistics (minmax from a calibration of its own, which keeps the
true extremes), without the hotspot measure, score it with real kernels (onnxruntime's default
session) and integer-exact (every graph optimization off). 100 calibration images
(calib.txt), the 1200 evaluation images (eval.txt), FP32 logits as the reference.
Writes benchmarks/results/accuracy_methods.md (BENCHMARKS.md is bench's).

    python benchmarks/accuracy_methods.py [efficientnet_lite0,...] [--limit N] [--only defaults,kl]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import onnxruntime as ort  # noqa: E402

from int8ptq.calib.ranges import RangeMethod  # noqa: E402
from int8ptq.config import QuantConfig, Rounding  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import build, calibrate, prepare_model  # noqa: E402

CONFIGS = {
    "defaults": QuantConfig(),
    "nearest rounding": QuantConfig(rounding=Rounding.NEAREST),
    "ranges: minmax": QuantConfig(method=RangeMethod.MINMAX),
    "ranges: percentile": QuantConfig(method=RangeMethod.PERCENTILE),
    "ranges: kl": QuantConfig(method=RangeMethod.KL),
    "ranges: output": QuantConfig(method=RangeMethod.OUTPUT),
}
OUT = Path(__file__).resolve().parent / "results" / "accuracy_methods.md"


def _session(model, exact: bool):  # noqa: ANN001, ANN202
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = 2, 1, 3
    if exact:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x})[0]


def rows_for(name: str, limit: int | None, only: list[str] | None = None) -> list[list[str]]:
    fp32, calib, x, y, ref = common.zoo_task(name, limit)
    fp_top1 = common.scores(ref, y, None)["top1"]
    t = time.perf_counter()
    prep = prepare_model(load_model(fp32))
    plan = prep.plan()
    stats = calibrate(prep, calib, QuantConfig(), plan, samples=True)  # + rows for "output"
    t_cal = time.perf_counter() - t
    rows = []
    for label, cfg in CONFIGS.items():
        if only and not any(o in label for o in only):
            continue
        t = time.perf_counter()
        # minmax needs the true extremes, which a histogram keeps only from a sample of values
        own = None if cfg.method.needs_histogram else calibrate(prep, calib, cfg, plan)
        t_own = time.perf_counter() - t
        t = time.perf_counter()
        model, _ = build(prep, own or stats, cfg, plan)
        t_build = time.perf_counter() - t
        cells = [name, label]
        for exact in (False, True):
            s = common.scores(common.predict(_session(model, exact), x), y, ref)
            drop = 100 * (fp_top1 - s["top1"])
            cells += [f"{100 * s['agreement']:.2f}%", f"{s['cosine']:.4f}", f"{drop:+.2f}"]
        rows.append([*cells, f"{t_own if own else t_cal:.0f} + {t_build:.0f} s"])
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", type=lambda v: v.split(","), help="parts of configuration names: defaults,kl")
    rows = common.lite_rows(ap, rows_for, "only")
    cols = ["model", "configuration", "agreement (real)", "cosine (real)", "top-1 drop (real)"]
    cols += ["agreement (exact)", "cosine (exact)", "top-1 drop (exact)", "calibrate + build"]
    OUT.parent.mkdir(exist_ok=True)
    cmd = " ".join(["python benchmarks/accuracy_methods.py", *sys.argv[1:]])
    head = f"# Accuracy methods\n\nCommand: `{cmd}`  \nMachine: {common.machine()}\n\n"
    OUT.write_text(head + common.md_table(cols, rows))


if __name__ == "__main__":
    main()
