"""Streaming accuracy metrics: per batch reduced, summed across batches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _flat_logits(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y.reshape(len(y), -1)


@dataclass
class Accuracy:
    """Top-1/top-5 over images with a known label."""

    top1: int = 0
    top5: int = 0
    labelled: int = 0
    images: int = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        y = _flat_logits(logits)
        self.images += len(y)
        known = labels >= 0
        if not known.any():
            return
        y, lbl = y[known], labels[known]
        k = min(5, y.shape[1])
        top = np.argsort(-y, axis=1, kind="stable")[:, :k]
        self.top1 += int((top[:, 0] == lbl).sum())
        self.top5 += int((top == lbl[:, None]).any(axis=1).sum())
        self.labelled += int(known.sum())

    def result(self) -> dict[str, float | int | None]:
        n = self.labelled
        return {
            "images": self.images,
            "labelled": n,
            "top1": self.top1 / n if n else None,
            "top5": self.top5 / n if n else None,
        }


@dataclass
class Agreement:
    """How a model's outputs match a reference (FP32) model's on the same inputs."""

    same_top1: int = 0
    cosine_sum: float = 0.0
    images: int = 0
    cosines: list[float] = field(default_factory=list, repr=False)

    def update(self, ref: np.ndarray, other: np.ndarray) -> None:
        a, b = _flat_logits(ref), _flat_logits(other)
        self.same_top1 += int((a.argmax(1) == b.argmax(1)).sum())
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        cos = (a * b).sum(1) / np.maximum(na * nb, 1e-30)
        self.cosine_sum += float(cos.sum())
        self.images += len(a)

    def result(self) -> dict[str, float | None]:
        n = self.images
        return {"agreement": self.same_top1 / n if n else None, "cosine": self.cosine_sum / n if n else None}
