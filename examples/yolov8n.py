"""YOLOv8n detector (nudenet 3.4.2, `320n.onnx`: opset 17, dynamic H and W) -> INT8.

Calibrate on the shared ImageNet photos of calib.txt, then detect on the photos of eval.txt
with FP32 and INT8: boxes after NMS, matched by class and IoU >= 0.5; F1 against FP32.

    python examples/yolov8n.py --calib 64 --eval 200
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from common import IMAGENET, base_args, finish, package_file, peer, quantize_cli, run, session
from PIL import Image

MODEL = ("nudenet", "320n.onnx")
SIZE = 320
SCORE, NMS_IOU, MATCH_IOU = 0.25, 0.45, 0.5


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


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (n, 4) and b (m, 4), x1 y1 x2 y2: (n, m)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def boxes(output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's YOLOv8 output (4 + classes, anchors) -> boxes (x1 y1 x2 y2) and classes
    after the score threshold and NMS."""
    p = output.T
    cls, score = p[:, 4:].argmax(1), p[:, 4:].max(1)
    keep = score >= SCORE
    p, cls, score = p[keep], cls[keep], score[keep]
    xy, wh = p[:, :2], p[:, 2:4]
    b = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    order, chosen = np.argsort(-score), []
    while len(order):
        i, order = order[0], order[1:]
        chosen.append(i)
        order = order[iou(b[i : i + 1], b[order])[0] <= NMS_IOU]
    return b[chosen], cls[chosen]


def matched(ref: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray]) -> int:
    """Boxes of `got` matched one-to-one to boxes of `ref` of the same class with IoU >= 0.5."""
    n = 0
    for c in np.intersect1d(ref[1], got[1]):
        a, b = ref[0][ref[1] == c], got[0][got[1] == c]
        m = iou(a, b)
        while m.size and m.max() >= MATCH_IOU:
            i, j = np.unravel_index(m.argmax(), m.shape)
            n += 1
            m[i, :], m[:, j] = -1, -1
    return n


def f1_of_outputs(refs: list[np.ndarray], gots: list[np.ndarray]) -> tuple[float, int]:
    """Box F1 of one model's outputs (one image each) against the reference's; the number of
    reference boxes."""
    tp = nr = ng = 0
    for ref, got in zip(refs, gots, strict=True):
        r, g = boxes(ref), boxes(got)
        tp, nr, ng = tp + matched(r, g), nr + len(r[0]), ng + len(g[0])
    return (2 * tp / (nr + ng) if nr + ng else 1.0), nr


def box_f1(model_ref: Path, model: Path, xs: np.ndarray) -> tuple[float, int]:
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
    f1, n = box_f1(fp32, work / "yolo-int8.onnx", ex)
    res = {"model": "YOLOv8n (nudenet 320n)", "photos": len(ex), "fp32_boxes": n, "box_f1": f1}
    res["quantize_seconds"] = q["wall_seconds"]
    if a.ort:
        from ort_baseline import quantize_ort

        def ort_f1() -> float:
            quantize_ort(fp32, work / "yolo-ort.onnx", list(cx))
            return box_f1(fp32, work / "yolo-ort.onnx", ex)[0]

        peer(res, "ort_box_f1", ort_f1)
    finish(res, a.json)


if __name__ == "__main__":
    main()
