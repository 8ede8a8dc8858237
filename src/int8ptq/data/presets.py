"""Named preprocessing presets: image file -> float32 CHW array."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Preset:
    name: str
    resize: int | None  # shorter side before the crop; None: only upscale when smaller than crop
    crop: int
    mean: tuple[float, float, float]  # in 0..255 units, RGB order
    std: tuple[float, float, float]
    bgr: bool = False
    description: str = ""

    def with_crop(self, crop: int) -> Preset:
        """The same preset for another input size (resize keeps its ratio to the crop)."""
        if crop == self.crop:
            return self
        resize = None if self.resize is None else round(crop * self.resize / self.crop)
        return Preset(self.name, resize, crop, self.mean, self.std, self.bgr, self.description)

    def __call__(self, img: Image.Image) -> np.ndarray:
        img = _to_rgb(img)
        w, h = img.size
        target = self.resize if self.resize is not None else max(self.crop, min(w, h))
        if min(w, h) != target:
            r = target / min(w, h)
            img = img.resize((max(self.crop, round(w * r)), max(self.crop, round(h * r))), Image.BILINEAR)
            w, h = img.size
        left, top = (w - self.crop) // 2, (h - self.crop) // 2
        img = img.crop((left, top, left + self.crop, top + self.crop))
        x = np.asarray(img, dtype=np.float32)
        x = (x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        if self.bgr:
            x = x[..., ::-1]
        return np.ascontiguousarray(x.transpose(2, 0, 1))


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: 16-bit and float images are scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(a.max()), 1e-12)
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img.convert("RGB")


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "torchvision",
            256,
            224,
            (123.675, 116.28, 103.53),
            (58.395, 57.12, 57.375),
            description="resize 256, center crop 224, RGB, ImageNet mean/std",
        ),
        Preset(
            "efficientnet-lite",
            None,
            224,
            (127.0, 127.0, 127.0),
            (128.0, 128.0, 128.0),
            description="center crop 224, RGB, (x - 127) / 128",
        ),
        Preset(
            "caffe",
            256,
            224,
            (123.68, 116.78, 103.94),
            (1.0, 1.0, 1.0),
            bgr=True,
            description="resize 256, center crop 224, BGR, mean subtraction (0..255)",
        ),
        Preset(
            "inception",
            256,
            224,
            (127.5, 127.5, 127.5),
            (127.5, 127.5, 127.5),
            description="resize 256, center crop 224, RGB, scaled to [-1, 1]",
        ),
    ]
}
