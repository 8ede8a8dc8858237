"""Named preprocessing presets (image file -> float32 CHW array), and `Preprocessing`: a preset
overridden one field at a time, as the CLI flags, YAML and Python give it."""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from int8ptq.errors import UserError

PREPROCESSING_KEY = "int8ptq.preprocessing"  # model metadata: the values used (JSON)


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
            size = (max(self.crop, round(w * r)), max(self.crop, round(h * r)))
            img = img.resize(size, Image.Resampling.BILINEAR)
            w, h = img.size
        left, top = (w - self.crop) // 2, (h - self.crop) // 2
        img = img.crop((left, top, left + self.crop, top + self.crop))
        x: np.ndarray = np.asarray(img, dtype=np.float32)
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


class Layout(str, enum.Enum):
    NCHW = "NCHW"
    NHWC = "NHWC"


@dataclass(frozen=True)
class Preprocessing:
    """A preset and the fields to override; None everywhere means "from the preset". The preset
    itself defaults to the values recorded in the model, else its named preset, else torchvision."""

    preset: str | None = None  # base preset name
    mean: tuple[float, float, float] | None = None  # 0..255 units, RGB order
    std: tuple[float, float, float] | None = None
    size: int | None = None  # center crop (the model's input size)
    resize: int | None = None  # shorter side before the crop; 0: no resize (only upscale if smaller)
    bgr: bool | None = None  # channel order fed to the model
    layout: Layout | None = None  # NCHW or NHWC; default: read from the model's input shape

    def __post_init__(self) -> None:
        for k in ("mean", "std"):
            v = getattr(self, k)
            if v is not None:
                if len(v) != 3:
                    raise UserError(f"{k} needs 3 values (R,G,B), got {len(v)}")
                object.__setattr__(self, k, tuple(float(c) for c in v))
        if self.std is not None and min(self.std) <= 0:
            raise UserError(f"std must be positive, got {self.std}")
        if self.size is not None and self.size < 1:
            raise UserError(f"size must be at least 1, got {self.size}")
        if self.resize is not None and self.resize < 0:
            raise UserError(f"resize must be 0 (none) or positive, got {self.resize}")
        if self.layout is not None:
            try:
                object.__setattr__(self, "layout", Layout(str(self.layout).upper()))
            except ValueError:
                raise UserError(f"layout must be NCHW or NHWC, got {self.layout!r}") from None

    @staticmethod
    def of(value: str | Preprocessing | None) -> Preprocessing:
        return value if isinstance(value, Preprocessing) else Preprocessing(preset=value)

    def apply(self, base: Preset, static_size: int | None) -> Preset:
        """`base` with these overrides, at the model's static input size when it has one."""
        if self.size is not None and static_size is not None and self.size != static_size:
            raise UserError(f"size {self.size} does not match the model's {static_size}x{static_size} input")
        p = base.with_crop(self.size or static_size or base.crop)
        changes: dict[str, Any] = {
            k: getattr(self, k) for k in ("mean", "std", "bgr") if getattr(self, k) is not None
        }
        if self.resize is not None:
            changes["resize"] = self.resize or None
        return dataclasses.replace(p, **changes) if changes else p


def record(p: Preset, layout: str) -> str:
    """The values used, as the model's `int8ptq.preprocessing` metadata."""
    fields = {"resize": p.resize, "size": p.crop, "mean": list(p.mean), "std": list(p.std), "bgr": p.bgr}
    return json.dumps({"preset": p.name, **fields, "layout": layout}, sort_keys=True)


def from_record(text: str) -> tuple[Preset, Layout | None] | None:
    """A preset from recorded metadata; None if it is not readable (an older or foreign model)."""
    try:
        d = json.loads(text)
        p = Preset(
            str(d["preset"]),
            None if d["resize"] is None else int(d["resize"]),
            int(d["size"]),
            tuple(float(v) for v in d["mean"]),  # type: ignore[arg-type]  # three values
            tuple(float(v) for v in d["std"]),  # type: ignore[arg-type]  # three values
            bool(d["bgr"]),
            "recorded in the model",
        )
        return p, Layout(d["layout"]) if d.get("layout") else None
    except (ValueError, KeyError, TypeError):
        return None
