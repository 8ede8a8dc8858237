"""Bounded activations: a Clip's output (ReLU6) ranged up to the Clip's bound, on the
EfficientNet-Lites.

The MSE range of a ReLU6 output fits the calibration histogram; on Lite2 it clipped the
depthwise output of block 19 at 3.5 of 6, and on held-out images that clipping was most of
the logits' error. Since `activation_bounds` (algorithms.py: `bounded_ranges`), a Clip's
output whose calibration maximum reaches half its bound is ranged up to the bound. This
script builds the defaults and `--no-activation-bounds` from one calibration pass and
scores both in the columns of benchmarks/columns.py (real AVX2 kernels among them).

    python benchmarks/bounded_ranges.py [efficientnet_lite0,...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import prepare  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import build, calibrate, prepare_model  # noqa: E402

MODELS = {  # slug -> (label, config)
    "bounds": ("Clip outputs up to the bound (default)", QuantConfig()),
    "no-bounds": ("--no-activation-bounds (before)", QuantConfig(activation_bounds=False)),
}


def build_models(d: Path) -> None:
    prep = prepare_model(load_model(d / "prepared.onnx"))
    plan = prep.plan()
    stats = calibrate(prep, np.load(d / "calib.npy"), QuantConfig(), plan)
    (d / "models").mkdir(exist_ok=True)
    for slug, (label, cfg) in MODELS.items():
        model, _ = build(prep, stats, cfg, plan)
        f = d / "models" / f"{slug}.onnx"
        f.write_bytes(model.SerializeToString())
        info = {"tool": "int8ptq", "slug": slug, "label": label, "file": f.name, "commit": common.commit()}
        (d / "models" / f"{slug}.json").write_text(json.dumps(info, indent=1))


def rows(d: Path, res: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    out = []
    for slug, (label, _) in MODELS.items():
        r = res.get(slug, {})
        out.append([d.name, label, *columns.agreement_cells(r, columns.BUILD_COLUMNS)])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="?", default=common.LITES)
    names = ap.parse_args().models.split(",")
    table = []
    for n in names:
        d = prepare.prepare(n, common.WORK / "bounded_ranges")
        build_models(d)
        table += rows(d, columns.score_builds(d, list(MODELS)))
    cols = ["model", "activation ranges", *columns.BUILD_HEADERS]
    body = (
        "One calibration pass per model (100 calib.txt images), two builds from it; 1200 eval.txt"
        " images, agreement with the FP32 top-1. Columns as in the accuracy sections. Every other"
        " setting is the default (portable target, MSE ranges, compensating rounding).\n\n"
        + common.md_table(cols, table)
    )
    command = "python benchmarks/bounded_ranges.py " + ",".join(names)
    common.update_section("Bounded activations", body, command)


if __name__ == "__main__":
    main()
