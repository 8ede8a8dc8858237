"""Error hotspots (src/int8ptq/hotspots.py): an activation whose rounding alone causes a fifth
of the output error stays float with its layers, when they cost under 5% of the compute.

From one calibration pass per model, the defaults (hotspots kept float) and
`--no-float-hotspots` (every layer it can in INT8) are built, timed against FP32 on
onnxruntime (batch 1, 2 threads, rounds alternate, one session alive at a time) and scored:
the EfficientNet-Lites in the columns of benchmarks/columns.py (real AVX2 kernels among
them), the real models by their task metric on the held-out samples of
benchmarks/realworld.py (its work folders must exist: `python benchmarks/realworld.py
quantize --only int8ptq`).

    python benchmarks/hotspots.py [--models efficientnet_lite0,...,yolo,det,rec,cls] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import placement_speed as ps  # noqa: E402
import prepare  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import Calibrated, build, calibrate_model  # noqa: E402

BUILDS = {"hot": "hotspots float (default)", "all": "--no-float-hotspots"}
REAL = ("yolo", "det", "rec", "cls")


def _builds(fp32: Path, calib: object, out: Path) -> tuple[Calibrated, dict[str, Path]]:
    cfg = QuantConfig()
    cal = calibrate_model(load_model(fp32), calib, cfg)  # type: ignore[arg-type]
    plain = cal.prep.plan(cfg.exclude, cfg.runtime)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for slug, plan in (("hot", cal.plan), ("all", plain)):
        paths[slug] = out / f"{slug}.onnx"
        onnx.save(build(cal.prep, cal.stats, cfg, plan)[0], str(paths[slug]))
        info = {"tool": "int8ptq", "slug": slug, "label": BUILDS[slug], "file": paths[slug].name}
        paths[slug].with_suffix(".json").write_text(json.dumps(info | {"commit": common.commit()}, indent=1))
    return cal, paths


def _found(cal: Calibrated) -> str:
    reasons = sorted(set(cal.hotspots.values()))
    return "; ".join(reasons) if reasons else "none"


def _speed(fp32: Path, paths: dict[str, Path], x: np.ndarray, rounds: int) -> dict[str, float]:
    loaders = {"FP32": ps._loader(fp32, "ort", x)} | {k: ps._loader(p, "ort", x) for k, p in paths.items()}
    return ps._ratios(common.alternating(loaders, rounds, calls=40), "FP32")


def lite_rows(name: str, rounds: int) -> list[list[str]]:
    d = prepare.prepare(name, common.WORK / "hotspots")
    cal, paths = _builds(d / "prepared.onnx", np.load(d / "calib.npy"), d / "models")
    res = columns.score_builds(d, list(BUILDS))
    x = np.load(d / "calib.npy")[:1]  # one calibration image: the timing input
    ratio = _speed(d / "prepared.onnx", paths, x, rounds)
    rows = []
    for slug, label in BUILDS.items():
        cells = [name, label, _found(cal) if slug == "hot" else "-"]
        cells += [*columns.agreement_cells(res.get(slug, {}), columns.BUILD_COLUMNS), f"{ratio[slug]:.2f}x"]
        rows.append(cells)
        print(cells, flush=True)
    return rows


def real_rows(key: str, rounds: int, out: Path) -> list[list[str]]:
    subject = ps.real_subject(key)
    cal, paths = _builds(subject.fp32, subject.calib, out / key)
    ratio = _speed(subject.fp32, paths, subject.x, rounds)
    rows = []
    for slug, label in BUILDS.items():
        score = subject.score(paths[slug])["ort"]
        cells = [key, label, _found(cal) if slug == "hot" else "-", f"{subject.metric} {score:.3f}"]
        cells += [f"{ratio[slug]:.2f}x"]
        rows.append(cells)
        print(cells, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join([*common.LITES.split(","), *REAL]))
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    names = a.models.split(",")
    lites = [r for n in names if n not in REAL for r in lite_rows(n, a.rounds)]
    real = [r for n in names if n in REAL for r in real_rows(n, a.rounds, common.WORK / "hotspots")]
    cols = ["model", "build", "hotspots found", *columns.BUILD_HEADERS, "FP32/INT8 (onnxruntime)"]
    body = (
        "One calibration pass per model, two builds from it. Lites: 100 calib.txt images, 1200"
        " eval.txt images, agreement with the FP32 top-1, columns as in the accuracy sections."
        " Real models: the data and task metric of \"Real models as shipped\" (held-out samples, on"
        f" onnxruntime). Speed: batch 1, 2 threads, onnxruntime, median of {a.rounds} alternating"
        " rounds of 40 calls (Lites: a calibration image; real models: the largest held-out sample).\n\n"
    )
    body += common.md_table(cols, lites) if lites else ""
    if real:
        real_cols = ["model", "build", "hotspots found", "metric", "FP32/INT8 (onnxruntime)"]
        body += "\n" + common.md_table(real_cols, real)
    common.update_section("Error hotspots", body, "python benchmarks/hotspots.py --models " + a.models)


if __name__ == "__main__":
    main()
