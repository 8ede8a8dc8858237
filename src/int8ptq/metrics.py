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


class ErrorSums:
    """Running sums of a reference tensor against its quantized version, over batches:
    whole-tensor SQNR and cosine without keeping the tensors."""

    def __init__(self) -> None:
        self.signal = 0.0  # sum ref^2
        self.noise = 0.0  # sum (ref - got)^2
        self.dot = 0.0  # sum ref * got
        self.got = 0.0  # sum got^2
        self.max_err = 0.0

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        a, b = np.asarray(ref, np.float64).ravel(), np.asarray(got, np.float64).ravel()
        d = a - b
        self.add_sums(float(a @ a), float(d @ d), float(a @ b), float(b @ b), d)

    def add_sums(self, signal: float, noise: float, dot: float, got: float, diff: np.ndarray) -> None:
        """Add sums computed elsewhere (per channel, say); `diff` is ref - got."""
        self.signal += float(signal)
        self.noise += float(noise)
        self.dot += float(dot)
        self.got += float(got)
        self.max_err = max(self.max_err, float(np.abs(diff).max()) if diff.size else 0.0)

    def cosine(self) -> float:
        norm = self.signal * self.got
        return float(self.dot / np.sqrt(norm)) if norm > 0 else 1.0

    def sqnr_db(self) -> float:
        return sqnr_db(self.signal, self.noise)


def sqnr_db(signal: float, noise: float) -> float:
    """10 log10(signal / noise); infinite when there is no noise."""
    return float(10 * np.log10(signal / noise)) if noise > 0 else float("inf")
