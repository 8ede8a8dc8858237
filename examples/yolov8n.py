"""YOLOv8n detector (nudenet 3.4.2, `320n.onnx`: opset 17, dynamic H and W) -> INT8.

Calibrate on the shared ImageNet photos of calib.txt, then detect on the photos of eval.txt
with FP32 and INT8: boxes after NMS, matched by class and IoU >= 0.5; F1 against FP32.

    python examples/yolov8n.py --calib 64 --eval 200
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from common import IMAGENET, base_args, box_f1, finish, nms, package_file, peer, quantize_cli, run, session
from PIL import Image

MODEL = ("nudenet", "320n.onnx")
SIZE = 320
SCORE, NMS_IOU = 0.25, 0.45


def letterbox(path: Path, size: int = SIZE) -> np.ndarray:
    """Pad to a square (bottom and right, black), resize to `size`, RGB / 255, CHW."""
    with Image.open(path) as im:
        img = im.convert("RGB")
    side = max(img.size)
    sq = Image.new("RGB", (side, side))
    sq.paste(img, (0, 0))
    a = np.asarray(sq.resize((size, size), Image.BILINEAR), np.float32) / 255.0
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def photos(list_name: str, n: int) -> np.ndarray:
    lines = (IMAGENET / list_name).read_text().split("\n")
    files = [IMAGENET / ln.split()[0] for ln in lines if ln.strip()][:n]
    return np.stack([letterbox(f) for f in files])


def boxes(output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's YOLOv8 output (4 + classes, anchors) -> boxes (x1 y1 x2 y2) and classes
    after the score threshold and NMS."""
    p = output.T
    cls, score = p[:, 4:].argmax(1), p[:, 4:].max(1)
    keep = score >= SCORE
    p, cls, score = p[keep], cls[keep], score[keep]
    xy, wh = p[:, :2], p[:, 2:4]
    b = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    chosen = nms(b, score, NMS_IOU)
    return b[chosen], cls[chosen]


def f1_of_outputs(refs: list[np.ndarray], gots: list[np.ndarray]) -> tuple[float, int]:
    """Box F1 of one model's outputs (one image each) against the reference's; the number of
    reference boxes."""
    return box_f1([boxes(r) for r in refs], [boxes(g) for g in gots])


def model_f1(model_ref: Path, model: Path, xs: np.ndarray) -> tuple[float, int]:
    f, q = session(model_ref), session(model)
    return f1_of_outputs([run(f, x[None])[0] for x in xs], [run(q, x[None])[0] for x in xs])


def main() -> None:
    ap = base_args(__doc__.splitlines()[0])
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="yolo-"))
    work.mkdir(parents=True, exist_ok=True)
    fp32 = package_file(*MODEL)
    cx = photos("calib.txt", a.calib)
    np.savez(work / "calib.npz", images=cx)  # one array per input name
    q = quantize_cli(fp32, work / "yolo-int8.onnx", work / "calib.npz")
    ex = photos("eval.txt", a.eval)
    f1, n = model_f1(fp32, work / "yolo-int8.onnx", ex)
    res = {"model": "YOLOv8n (nudenet 320n)", "photos": len(ex), "fp32_boxes": n, "box_f1": f1}
    res["quantize_seconds"] = q["wall_seconds"]
    if a.ort:
        from ort_baseline import quantize_ort

        def ort_f1() -> float:
            quantize_ort(fp32, work / "yolo-ort.onnx", list(cx))
            return model_f1(fp32, work / "yolo-ort.onnx", ex)[0]

        peer(res, "ort_box_f1", ort_f1)
    finish(res, a.json)


if __name__ == "__main__":
    main()
