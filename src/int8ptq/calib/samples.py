"""A small sample of an activation as the rows its pointwise consumers multiply: one row per
pixel (every channel at one position) of an N, C, H, W tensor, one row per vector along the
last axis otherwise. Output-aware ranges (algorithms.OutputAwareRanges) quantize these rows
with candidate ranges and measure the error each causes in the consumers' outputs.

The reducer (one batch -> rows) runs in the graph like the others (reducers.py): a strided
MaxPool with a 1x1 kernel takes a grid of pixels cheaply. The observer keeps rows up to a
cap, so its memory is bounded whatever the number of images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from int8ptq.calib.reducers import Shape, _seeded_choice
from int8ptq.ir.graph import Graph


@dataclass(frozen=True)
class PixelRowReducer:
    """About `rows` rows per image: pixels of a strided grid (N, C, H, W tensors read along
    axis 1), or a seeded choice of the vectors along the last axis (`last_axis`, or tensors
    of other ranks)."""

    per_image: Shape | None
    rows: int
    seed: int = 0
    last_axis: bool = False
    stride: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        stride = 1
        if self.spatial:
            assert self.per_image is not None
            _, h, w = self.per_image
            # a grid of about 16 pixels per row wanted; each batch then keeps a seeded choice
            stride = max(1, int(np.ceil(np.sqrt(h * w / max(16 * self.rows, 1)))))
        object.__setattr__(self, "stride", stride)

    @property
    def spatial(self) -> bool:
        return not self.last_axis and self.per_image is not None and len(self.per_image) == 3

    def add_nodes(self, g: Graph, tensor: str) -> list[str]:
        if not self.spatial or self.stride == 1:
            return [tensor]
        grid = g.fresh(f"{tensor}_pixels")
        s = self.stride
        g.add_node("MaxPool", [tensor], [grid], kernel_shape=[1, 1], strides=[s, s])
        return [grid]

    def from_outputs(self, outs: Sequence[np.ndarray]) -> np.ndarray | None:
        rows = self._rows(np.asarray(outs[0], np.float32), len(outs[0]))
        return rows if np.isfinite(rows).all() else None

    def from_array(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        spatial = not self.last_axis and x.ndim == 4
        if spatial:
            x = x[:, :, :: self.stride, :: self.stride]
        rows = self._rows(x, len(x))
        return rows[np.isfinite(rows).all(axis=1)]

    def _rows(self, x: np.ndarray, images: int) -> np.ndarray:
        by_channel = x.ndim == 4 and not self.last_axis
        rows = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]) if by_channel else x.reshape(-1, x.shape[-1])
        keep = self.rows * max(images, 1)
        return rows if len(rows) <= keep else rows[_seeded_choice(len(rows), keep, self.seed)]


ELEMENTS = 1 << 19  # values kept per tensor (2 MB): the row cap is this over the row width


class RowSampleObserver:
    """Keeps the first `cap` rows the reducer gives (about `rows` per image)."""

    def __init__(self, rows: int = 4, cap: int = 512, last_axis: bool = False) -> None:
        self.rows_per_image, self.cap, self.last_axis = rows, cap, last_axis
        self.parts: list[np.ndarray] = []
        self.count = 0
        self.nonfinite = 0

    @staticmethod
    def for_width(
        width: int, *, last_axis: bool = False, elements: int = ELEMENTS, images: int = 100
    ) -> RowSampleObserver:
        """An observer keeping about `elements` values of rows `width` long, spread over
        `images` images: narrow tensors keep many rows (clipping is a rare event; its cost
        is measured better on more of them), wide ones at least a few per image."""
        cap = max(elements // max(width, 1), 256)
        return RowSampleObserver(int(np.clip(cap // images, 4, 64)), cap, last_axis)

    def reducer(self, per_image: Shape | None) -> PixelRowReducer:
        return PixelRowReducer(per_image, self.rows_per_image, last_axis=self.last_axis)

    def add(self, rows: np.ndarray) -> None:
        room = self.cap - self.count
        if room > 0 and len(rows):
            self.parts.append(np.ascontiguousarray(rows[:room], np.float32))
            self.count += min(room, len(rows))

    def update(self, x: np.ndarray) -> None:
        """Fold in one batch of the whole tensor."""
        x = np.asarray(x, np.float32)
        self.add(self.reducer(x.shape[1:] if x.ndim >= 3 else None).from_array(x))

    def sample(self) -> np.ndarray | None:
        """The rows kept, (M, K); None if there are none."""
        return np.concatenate(self.parts) if self.parts else None
