"""Accuracy of int8ptq and its peers, every tool quantizing the same FP32 graph.

Steps (each resumable; results are cached per model file in WORK/<model>/):
1. benchmarks/prepare.py: the prepared FP32 graph and the calibration array;
2. benchmarks/peers.py: each peer's sweep of settings (in its own environment if need be);
3. this script: int8ptq's settings (`--ours`), then every model evaluated on eval.txt
   (1200 images) in every column of benchmarks/columns.py, then the BENCHMARKS.md sections
   "Accuracy: EfficientNet-LiteK" and "Portable default".

    python benchmarks/accuracy.py [efficientnet_lite0,...] [--ours] [--columns ort,ov,ov-avx2,exact]

Accuracy does not depend on the machine's load; the quantize times do, so each records the
load average it was measured under.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import prepare  # noqa: E402
import tables  # noqa: E402

from int8ptq.zoo.registry import get  # noqa: E402

# int8ptq's settings: slug -> extra `int8ptq quantize` arguments
OURS = {"int8ptq-default": [], "int8ptq-vnni": ["--target-isa", "vnni"]}


def quantize_ours(d: Path) -> None:
    """int8ptq quantizes prepared.onnx (its FP32 passes then change nothing) through its CLI."""
    for slug, extra in OURS.items():
        out, q = d / "models" / f"{slug}.onnx", d / "models" / f"{slug}.quantize.json"
        load = common.load_average()
        args = ["quantize", d / "prepared.onnx", "-o", out, "--calib", common.DATA / "calib.txt"]
        common.int8ptq(*args, *extra, "--json", q)
        r = json.loads(q.read_text())
        target = r.get("target_isa", "?")
        label = "int8ptq defaults" if not extra else "int8ptq " + " ".join(extra)
        info = {
            "tool": "int8ptq",
            "version": common.commit(),
            "slug": slug,
            "label": f"{label} (target {target})",
            "options": {"args": extra, "target_isa": target},
            "file": out.name,
            "calib_images": r.get("calib_images"),
            "seconds": round(float(r["seconds"]), 1),
            "load_before": round(load, 2),
            "load_after": round(common.load_average(), 2),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        (d / "models" / f"{slug}.json").write_text(json.dumps(info, indent=1))
        print(f"{d.name}: {info['label']}: {info['seconds']} s", flush=True)


def evaluate(d: Path, cols: list[str], exact_all: bool) -> None:
    """Every model in every column, but the slow integer-exact column only for int8ptq's
    models and each peer's best (unless `exact_all`)."""
    columns.eval_arrays(d)  # once, before the column processes read them
    for c in cols:
        if c == "exact" and not exact_all:
            rs = tables.rows(d)
            bests = [r for col in (None, "ov-avx2") for r in tables.best_rows(rs, col)]
            best = {r.slug for r in bests if r.tool != "fp32"}
            columns.spawn(d, c, ["fp32", *sorted(best)])
        else:
            columns.spawn(d, c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="?", default=",".join(prepare.LITES))
    ap.add_argument("--ours", action="store_true", help="(re)quantize int8ptq's settings first")
    ap.add_argument("--columns", default=",".join(columns.COLUMNS))
    ap.add_argument("--no-eval", action="store_true", help="only rewrite BENCHMARKS.md from the cache")
    ap.add_argument("--exact-all", action="store_true", help="the integer-exact column for every setting")
    a = ap.parse_args()
    names = a.models.split(",")
    for n in names:
        d = prepare.prepare(n)
        if a.ours:
            quantize_ours(d)
        if not a.no_eval:
            evaluate(d, a.columns.split(","), a.exact_all)
        entry = get(n)
        lite = n.startswith("efficientnet_lite")
        title = "Accuracy: EfficientNet-Lite" + n[-1] if lite else f"Accuracy: {n}"
        body = tables.accuracy_section(d, entry.source, entry.preset, entry.input_size)
        common.update_section(title, body, f"python benchmarks/accuracy.py {n}")
    lites = [n for n in prepare.LITES if (common.WORK / n / "results").exists()]
    if lites:
        body = tables.portable_section([common.WORK / n for n in lites])
        cmd = f"python benchmarks/accuracy.py {','.join(lites)} --ours"
        common.update_section("Portable default", body, cmd)


if __name__ == "__main__":
    main()
