"""The offline demo: EfficientNet-Lite0 with real weights, quantized and checked on the
sample images that scikit-image ships, so it runs with no download and no dataset.

Calibration and evaluation never share a photo: the model calibrates on the textures,
microscopy, astronomy and other sample images, and is checked on the photos of everyday
objects it never saw, each shown with its FP32 and INT8 top-1 class side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from int8ptq.data.dataset import Dataset
from int8ptq.errors import UserError

# checked on, never calibrated on: photos of things ImageNet has classes for
EVAL_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
# calibrated on, never checked on
CALIB_PHOTOS = [
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "color.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "page.png",
    "text.png",
    "clock_motion.png",
    "chessboard_RGB.png",
    "logo.png",
    "cell.png",
    "microaneurysms.png",
]


def sample_photos(names: list[str]) -> Dataset:
    try:
        import skimage.data
    except ImportError:
        raise UserError("the demo needs scikit-image's sample photos: pip install 'int8ptq[zoo]'") from None
    folder = Path(skimage.data.__file__).parent
    files = [folder / f for f in names if (folder / f).is_file()]
    if not files:
        raise UserError(f"no sample photos found in {folder}")
    return Dataset("scikit-image sample photos", files=files, labels=[-1] * len(files))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def side_by_side(fp32: Path, int8: Path, photos: Dataset) -> list[dict[str, Any]]:
    """Each photo's top-1 class (ImageNet index) and its probability, FP32 and INT8."""
    from int8ptq.api import load
    from int8ptq.data.model_input import image_input, preset_for
    from int8ptq.ir import load_model

    proto = load_model(fp32)
    preset = preset_for(proto, None, image_input(proto))
    ref, q = load(fp32), load(int8)
    out: list[dict[str, object]] = []
    for b in photos.batches(len(photos), preset):
        p_ref, p_q = _softmax(ref.run(b.x)), _softmax(q.run(b.x))
        for name, a, c in zip(b.names, p_ref, p_q, strict=True):
            i, j = int(a.argmax()), int(c.argmax())
            row = {"photo": name, "fp32_class": i, "fp32_p": float(a[i])}
            out.append({**row, "int8_class": j, "int8_p": float(c[j])})
    return out


def run_demo(out_dir: Path) -> dict[str, Any]:  # JSON-like: what --json prints
    from int8ptq.api import benchmark, evaluate, quantize
    from int8ptq.zoo.export import export

    calib, held_out = sample_photos(CALIB_PHOTOS), sample_photos(EVAL_PHOTOS)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / "efficientnet_lite0.onnx", out_dir / "efficientnet_lite0.int8.onnx"
    export("efficientnet_lite0", fp32)
    q = quantize(fp32, int8, calib)
    ev = evaluate([fp32, int8], held_out)
    photos = side_by_side(fp32, int8, held_out)
    bench = benchmark([fp32, int8], batches=[16], threads=[2], backends=["ort"], warmup=2, repeat=5)
    speedup = bench.rows[-1].speedup or 0.0
    table = {
        "FP32 model": f"{fp32} ({q.fp32_bytes / 1e6:.1f} MB)",
        "INT8 model": f"{int8} ({q.int8_bytes / 1e6:.1f} MB, {100 * q.int8_bytes / q.fp32_bytes:.0f}%)",
        "calibration": f"{q.calib_images} sample images, none of those below, {q.seconds:.1f} s",
        "speed-up, batch 16, 2 threads": f"{speedup:.2f}x ({bench.rows[0].images_per_s:.0f} -> "
        f"{bench.rows[-1].images_per_s:.0f} images/s)",
    }
    for p in photos:
        same = "same" if p["fp32_class"] == p["int8_class"] else "DIFFERENT"
        table[f"{p['photo']} (held out)"] = (
            f"FP32 class {p['fp32_class']} ({100 * p['fp32_p']:.0f}%) | "
            f"INT8 class {p['int8_class']} ({100 * p['int8_p']:.0f}%) | {same}"
        )
    agree = ev.models[1].agreement or 0.0
    table["top-1 agreement with FP32"] = f"{100 * agree:.0f}% of {ev.models[1].images} held-out photos"
    table["logit cosine"] = f"{ev.models[1].cosine:.4f}"
    return {
        "table": table,
        "photos": photos,
        "quantize": q.to_dict(),
        "evaluate": ev.to_dict(),
        "benchmark": bench.to_dict(),
    }
