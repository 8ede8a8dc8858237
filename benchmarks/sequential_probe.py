"""Probe (issue 16): GPTQ-order statistics from one extra pass. Build the default model from
the FP32 statistics, run the calibration images through it collecting each weighted layer's
input moments (the layers before it already quantized), then round again from those.

Variants (the first row is the defaults, for reference):
- "sequential H": rounding and bias correction from the quantized model's input moments;
- "sequential H + mean shift": also correct each layer's output mean for the shift of its
  input mean (W mu - Q mu~), i.e. empirical bias correction measured in one pass.
Real kernels (onnxruntime's default session), 100 calibration / 1200 evaluation images.

    python benchmarks/sequential_probe.py [efficientnet_lite0,...] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.calib.collect import collect  # noqa: E402
from int8ptq.calib.covariance import CovarianceObserver  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.ir.graph import Graph  # noqa: E402
from int8ptq.pipeline import Statistics, build, calibrate, prepare_model  # noqa: E402
from int8ptq.quant import rounding  # noqa: E402


def sequential(prep, stats: Statistics, calib: np.ndarray) -> dict[str, CovarianceObserver]:  # noqa: ANN001
    g = Graph(build(prep, stats, QuantConfig(), prep.plan())[0])
    by_name = {n.name: n for n in g.nodes}
    found = {k: CovarianceObserver(o.geometry, o.rows_per_batch) for k, o in stats.weights.items()}
    requests = {f"w:{k}": (by_name[k].input[0], o) for k, o in found.items() if k in by_name}
    name = g.inputs[0].name
    collect(g, requests, ({name: calib[i : i + 16]} for i in range(0, len(calib), 16)))
    return found


def with_mean_shift(fp32: dict[str, CovarianceObserver], seq: dict[str, CovarianceObserver]):  # noqa: ANN201
    """Bias deltas W mu - Q mu~ (mu from FP32, mu~ from the quantized model's inputs), until
    the returned function is called."""

    def bias_delta(self, node, w, q, scale):  # noqa: ANN001, ANN202
        mu, mq = fp32[node].mean(), seq[node].mean() if node in seq else None
        if mu is None or mq is None or mu.shape != mq.shape:
            return original(self, node, w, q, scale)
        qs = q.astype(np.float64) * scale.astype(np.float64)[:, None]
        if mu.ndim == 2:
            return (w * mu).sum(axis=1) - (qs * mq).sum(axis=1), None
        return w.astype(np.float64) @ mu - qs @ mq, None

    original = rounding.CompensatingRounder.bias_delta
    rounding.CompensatingRounder.bias_delta = bias_delta  # type: ignore[method-assign]

    def restore() -> None:
        rounding.CompensatingRounder.bias_delta = original  # type: ignore[method-assign]

    return restore


def rows_for(name: str, limit: int | None) -> list[list[str]]:
    fp32, calib, x, y, ref = common.zoo_task(name, limit)
    fp_top1 = common.scores(ref, y, None)["top1"]
    prep = prepare_model(load_model(fp32))
    stats = calibrate(prep, calib, QuantConfig(), prep.plan())
    seq = sequential(prep, stats, calib)
    variants = [("defaults", stats), ("sequential H", dataclasses.replace(stats, weights=seq))]
    variants.append(("sequential H + mean shift", dataclasses.replace(stats, weights=seq)))
    rows = []
    for label, st in variants:
        restore = with_mean_shift(stats.weights, seq) if label.endswith("mean shift") else None
        model, _ = build(prep, st, QuantConfig(), prep.plan())
        if restore is not None:
            restore()
        path = fp32.with_name("int8.onnx")
        path.write_bytes(model.SerializeToString())
        s = common.scores(common.predict(common.ort_session(path), x), y, ref)
        drop = 100 * (fp_top1 - s["top1"])
        rows.append([name, label, f"{100 * s['agreement']:.2f}%", f"{s['cosine']:.4f}", f"{drop:+.2f}"])
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    rows = common.lite_rows(argparse.ArgumentParser(description=__doc__.splitlines()[0]), rows_for)
    print(common.md_table(["model", "rounding statistics", "agreement", "cosine", "top-1 drop"], rows))


if __name__ == "__main__":
    main()
