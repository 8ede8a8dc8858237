import numpy as np

from int8ptq.metrics import ErrorSums, sqnr_db


def test_error_sums_over_batches_equal_the_whole():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(6, 5)).astype(np.float32)
    got = ref + rng.normal(scale=0.1, size=ref.shape).astype(np.float32)
    sums = ErrorSums()
    sums.add(ref[:2], got[:2])
    sums.add(ref[2:], got[2:])
    a, b = ref.astype(np.float64).ravel(), got.astype(np.float64).ravel()
    assert np.isclose(sums.cosine(), a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert np.isclose(sums.sqnr_db(), 10 * np.log10((a @ a) / ((a - b) @ (a - b))))
    assert np.isclose(sums.max_err, np.abs(a - b).max())


def test_error_sums_exact_copy_is_infinite_sqnr_and_unit_cosine():
    x = np.arange(4.0)
    sums = ErrorSums()
    sums.add(x, x)
    assert sums.sqnr_db() == float("inf") and np.isclose(sums.cosine(), 1.0)
    assert sqnr_db(1.0, 0.1) == 10.0
