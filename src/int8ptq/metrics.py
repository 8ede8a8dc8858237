"""Per-image records (top-k classes, logit cosine against a reference) and the metrics
computed from them. Every evaluation path (local, processes, Ray, benchmarks) uses these."""

from __future__ import annotations

import numpy as np

TOPK = 5


def _flat(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y.reshape(len(y), -1)


def top_classes(logits: np.ndarray, k: int = TOPK) -> np.ndarray:
    """(n, min(k, classes)) int32, best first; ties keep the lower class index."""
    y = _flat(logits)
    return np.argsort(-y, axis=1, kind="stable")[:, : min(k, y.shape[1])].astype(np.int32)


def cosine(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per-image cosine of two models' logits, (n,) float64."""
    a, b = _flat(ref), _flat(other)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def top1(top: np.ndarray, labels: np.ndarray) -> float | None:
    known = labels >= 0
    return float((top[known, 0] == labels[known]).mean()) if known.any() else None


def top5(top: np.ndarray, labels: np.ndarray) -> float | None:
    known = labels >= 0
    return float((top[known] == labels[known, None]).any(1).mean()) if known.any() else None


def agreement(top: np.ndarray, ref_top: np.ndarray) -> float | None:
    return float((top[:, 0] == ref_top[:, 0]).mean()) if len(top) else None
