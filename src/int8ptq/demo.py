"""The offline demo: EfficientNet-Lite0 with real weights, calibrated and checked on the
sample photos that scikit-image ships, so it runs with no download and no dataset."""

from __future__ import annotations

from pathlib import Path

from int8ptq.data.dataset import Dataset
from int8ptq.errors import UserError

SAMPLE_PHOTOS = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "color.png",
]


def sample_photos() -> Dataset:
    try:
        import skimage.data
    except ImportError:
        raise UserError("the demo needs scikit-image's sample photos: pip install 'int8ptq[zoo]'") from None
    folder = Path(skimage.data.__file__).parent
    files = [folder / f for f in SAMPLE_PHOTOS if (folder / f).is_file()]
    if not files:
        raise UserError(f"no sample photos found in {folder}")
    return Dataset("scikit-image sample photos", files=files, labels=[-1] * len(files))


def run_demo(out_dir: Path) -> dict[str, object]:
    from int8ptq.api import benchmark, evaluate, quantize
    from int8ptq.zoo.export import export

    photos = sample_photos()
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / "efficientnet_lite0.onnx", out_dir / "efficientnet_lite0.int8.onnx"
    export("efficientnet_lite0", fp32)
    q = quantize(fp32, int8, photos)
    ev = evaluate([fp32, int8], photos)
    bench = benchmark([fp32, int8], batches=[16], threads=[2], backends=["ort"], warmup=2, repeat=5)
    speedup = bench.rows[-1].speedup or 0.0
    table = {
        "FP32 model": f"{fp32} ({q.fp32_bytes / 1e6:.1f} MB)",
        "INT8 model": f"{int8} ({q.int8_bytes / 1e6:.1f} MB, {100 * q.int8_bytes / q.fp32_bytes:.0f}%)",
        "calibration": f"{q.calib_images} sample photos, {q.seconds:.1f} s",
        "speed-up, batch 16, 2 threads": f"{speedup:.2f}x ({bench.rows[0].images_per_s:.0f} -> "
        f"{bench.rows[-1].images_per_s:.0f} images/s)",
        "top-1 agreement with FP32": f"{100 * (ev.models[1].agreement or 0):.1f}% "
        f"of {ev.models[1].images} photos",
        "logit cosine": f"{ev.models[1].cosine:.4f}",
    }
    return {"table": table, "quantize": q.to_dict(), "evaluate": ev.to_dict(), "benchmark": bench.to_dict()}
