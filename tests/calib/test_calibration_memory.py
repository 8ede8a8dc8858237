"""Calibration memory does not grow with the number of images (streaming observers)."""

import tracemalloc

import numpy as np

from int8ptq.config import QuantConfig
from int8ptq.pipeline import calibrate, prepare_model
from tests.conftest import tiny_convnet


def _peak(images: int) -> int:
    prep = prepare_model(tiny_convnet(size=32))
    plan = prep.plan()
    rng = np.random.default_rng(0)

    def batches():
        for _ in range(images // 10):
            yield rng.standard_normal((10, 3, 32, 32)).astype(np.float32)

    tracemalloc.start()
    stats = calibrate(prep, batches, QuantConfig(method="mse"), plan, histogram=True, covariance=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stats.images == images
    return peak


def test_peak_memory_is_flat_for_100_and_1000_images():
    small, large = _peak(100), _peak(1000)
    assert large < small * 1.2 + 256 * 1024, (small, large)
