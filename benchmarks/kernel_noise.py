"""Kernels against kernels: what separates the accuracy columns of one INT8 model.

The accuracy sections score each model in four columns (benchmarks/columns.py): onnxruntime
and OpenVINO on this CPU's VNNI kernels, OpenVINO capped at AVX2 (the real vpmaddubsw
kernels, int16 pairs), and the integer-exact QDQ graph. This script compares those columns
with each other on the logits `benchmarks/accuracy.py` kept for int8ptq's two models
(the portable default and `--target-isa vnni`): for each pair of columns, the largest and
the rms logit difference over the 1200 images and how often their top-1 differs, next to
each column's rms distance to FP32.

A pair that saturates on AVX2 shows as AVX2 against VNNI on OpenVINO (the same runtime,
the same graph, only the ISA differs). Everything else is how two runtimes round the same
computation: the difference between them is the noise floor of the agreement columns.

    python benchmarks/accuracy.py ...   # first: evaluates and keeps the logits
    python benchmarks/kernel_noise.py [efficientnet_lite0,...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import prepare  # noqa: E402

PAIRS = [("ov", "ov-avx2"), ("ort", "exact"), ("ov", "exact"), ("ort", "ov")]
NAMES = {"ort": "onnxruntime", "ov": "OpenVINO VNNI", "ov-avx2": "OpenVINO AVX2", "exact": "integer-exact"}
SLUGS = {"int8ptq-default": "defaults (portable)", "int8ptq-vnni": "--target-isa vnni"}


def _logits(d: Path, slug: str) -> dict[str, np.ndarray]:
    """The kept logits of `slug` in every column whose result belongs to the current model file."""
    current = columns.load_results(d).get(slug, {})
    paths = {c: columns.logits_path(d, slug, c) for c in current}
    return {c: np.load(p) for c, p in paths.items() if p.exists()}


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


def rows(d: Path) -> list[list[str]]:
    ref = np.load(d / "ref.npy")
    out = []
    for slug, label in SLUGS.items():
        logits = _logits(d, slug)
        for a, b in PAIRS:
            if a not in logits or b not in logits:
                continue
            x, y = logits[a], logits[b]
            diff = np.abs(x.astype(np.float64) - y).max()
            same = float(np.mean(x.argmax(1) == y.argmax(1)))
            out.append(
                [
                    d.name,
                    label,
                    f"{NAMES[a]} / {NAMES[b]}",
                    f"{diff:.4f}" if diff else "0 (bit-identical)",
                    f"{_rms(x, y):.4f}",
                    f"{100 * (1 - same):.2f}%",
                    f"{_rms(x, ref):.4f} / {_rms(y, ref):.4f}",
                ]
            )
    return out


HEAD = [
    "model",
    "int8ptq build",
    "columns compared",
    "largest logit difference",
    "rms logit difference",
    "images whose top-1 differs",
    "rms distance to FP32 (each column)",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="?", default=",".join(prepare.LITES))
    a = ap.parse_args()
    table = [r for n in a.models.split(",") for r in rows(common.WORK / n)]
    if not table:
        sys.exit("no kept logits: run benchmarks/accuracy.py first")
    body = (
        "The logits of int8ptq's models on the 1200 eval.txt images, kept by "
        "`benchmarks/accuracy.py`, compared column against column (the columns of the accuracy "
        "sections). OpenVINO VNNI against OpenVINO AVX2 is one runtime and one graph on two ISAs: "
        "an int16 pair that saturates shows there. The other pairs are two runtimes computing the "
        "same model; their difference is rounding (a value on a quantization step's edge goes one "
        "step either way in one of them), the noise floor of the agreement columns.\n\n"
        + common.md_table(HEAD, table)
    )
    common.update_section("Kernels against kernels", body, f"python benchmarks/kernel_noise.py {a.models}")


if __name__ == "__main__":
    main()
