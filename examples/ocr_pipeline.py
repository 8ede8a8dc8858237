"""PP-OCRv5 det + cls + rec as one OCR pipeline, FP32 against INT8, on rendered pages.

Each INT8 model is quantized as in its own example (or given with --det/--cls/--rec). The
pipeline: text mask (probability > 0.3) -> connected regions -> boxes grown as DB's unclip
does -> crops -> orientation (turned when the classifier says 180 with score > 0.9) -> greedy
CTC. Judged by the share of FP32's lines that INT8 reads identically, page by page.

    python examples/ocr_pipeline.py --eval 10
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import ocr_cls
import ocr_det
import ocr_rec
from common import (
    base_args,
    cjk_chars,
    ctc_greedy,
    det_input,
    finish,
    fonts,
    ocr_dict,
    package_file,
    quantize_cli,
    rec_input,
    render_page,
    run,
    save_samples,
    session,
)
from PIL import Image
from scipy import ndimage

UNCLIP = 1.5


def regions(prob: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x1, y1, x2, y2) of the connected text regions, grown by DB's unclip distance."""
    labels, _ = ndimage.label(prob > ocr_det.THRESHOLD)
    out = []
    h, w = prob.shape
    for sl in ndimage.find_objects(labels):
        y1, y2, x1, x2 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        bw, bh = x2 - x1, y2 - y1
        if bw < 4 or bh < 4:
            continue
        d = int(round(bw * bh * UNCLIP / (2 * (bw + bh))))
        out.append((max(0, x1 - d), max(0, y1 - d), min(w, x2 + d), min(h, y2 + d)))
    return sorted(out, key=lambda b: (b[1], b[0]))


def read_page(img: Image.Image, det, cls, rec, chars: list[str]) -> list[str]:  # noqa: ANN001
    prob = run(det, det_input(img)[None])[0, 0]
    texts = []
    for box in regions(prob):
        crop = img.crop(box)
        p = run(cls, ocr_cls.cls_input(crop)[None])[0]
        if p.argmax() == 1 and p.max() > 0.9:
            crop = crop.rotate(180)
        texts.append(ctc_greedy(run(rec, rec_input(crop)[None]), chars)[0])
    return texts


def quantize_all(work: Path, n: int) -> dict[str, Path]:
    out = {}
    det_calib = save_samples(work / "det-calib", "x", ocr_det.pages(n, seed=21))
    out["det"] = work / "det-int8.onnx"
    quantize_cli(package_file(*ocr_det.MODEL), out["det"], det_calib)
    rec_calib = save_samples(work / "rec-calib", "x", ocr_rec.lines(2 * n, seed=1)[0])
    out["rec"] = work / "rec-int8.onnx"
    quantize_cli(package_file(*ocr_rec.MODEL), out["rec"], rec_calib)
    np.savez(work / "cls-calib.npz", x=ocr_cls.rotated_lines(2 * n, seed=11)[0])
    out["cls"] = work / "cls-int8.onnx"
    quantize_cli(package_file(*ocr_cls.MODEL), out["cls"], work / "cls-calib.npz")
    return out


def main() -> None:
    ap = base_args(__doc__.splitlines()[0])
    for k in ("det", "cls", "rec"):
        ap.add_argument(f"--{k}", type=Path, help=f"an INT8 {k} model (default: quantize one)")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="ocr-"))
    work.mkdir(parents=True, exist_ok=True)
    given = {k: getattr(a, k) for k in ("det", "cls", "rec")}
    int8 = given if all(given.values()) else quantize_all(work, a.calib)
    chars, rng, fs = ocr_dict(), np.random.default_rng(31), fonts()
    names = {"det": ocr_det.MODEL, "cls": ocr_cls.MODEL, "rec": ocr_rec.MODEL}
    f = {k: session(package_file(*m)) for k, m in names.items()}
    q = {k: session(int8[k]) for k in names}
    same = total = truth_f = truth_q = n_truth = 0
    for i in range(a.eval):
        img, truth = render_page(rng, fs, ocr_det.SIZES[i % len(ocr_det.SIZES)], cjk_chars(chars))
        ref = read_page(img, f["det"], f["cls"], f["rec"], chars)
        got = read_page(img, q["det"], q["cls"], q["rec"], chars)
        same += sum((Counter(ref) & Counter(got)).values())
        total += max(len(ref), len(got))
        truth_f += sum((Counter(ref) & Counter(truth)).values())
        truth_q += sum((Counter(got) & Counter(truth)).values())
        n_truth += len(truth)
    finish(
        {
            "model": "PP-OCRv5 det+cls+rec",
            "pages": a.eval,
            "lines_identical": same / max(total, 1),
            "fp32_lines_exact": truth_f / max(n_truth, 1),
            "int8_lines_exact": truth_q / max(n_truth, 1),
        },
        a.json,
    )


if __name__ == "__main__":
    main()
