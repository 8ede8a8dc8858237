import numpy as np

from int8ptq.calib.observers import HistogramObserver, MinMaxObserver
from int8ptq.calib.ranges import RangeMethod, compute_range, expected_error
from int8ptq.quant.qmath import activation_qparams, dequantize, quantize


def test_minmax_ignores_nan_and_counts_it():
    o = MinMaxObserver()
    o.update(np.array([1.0, np.nan, -2.0, np.inf], np.float32))
    assert (o.lo, o.hi, o.nonfinite) == (-2.0, 1.0, 2)


def test_histogram_regrids_exactly_when_range_grows():
    rng = np.random.default_rng(0)
    o = HistogramObserver(bins=512)
    a, b = rng.standard_normal(10_000), rng.standard_normal(10_000) * 5
    o.update(a)
    o.update(b)
    assert o.edges[0] <= b.min() and o.edges[-1] >= b.max()
    ref, _ = np.histogram(np.concatenate([a, b]).astype(np.float32), bins=o.edges)
    assert np.array_equal(o.counts, ref)  # merged bins, not interpolated ones
    assert (o.counts > 0).sum() > 512 // 2 - 1  # at least half the bins span the range


def test_histogram_is_the_same_for_any_batching_and_order():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(3000), rng.exponential(40, 200), -rng.exponential(3, 500)])
    x = x.astype(np.float32)
    whole, single, shuffled = HistogramObserver(), HistogramObserver(), HistogramObserver()
    whole.update(x)
    for v in x.reshape(-1, 100):  # one small batch at a time, narrow ones first
        single.update(v)
    for v in rng.permutation(x).reshape(-1, 37):
        shuffled.update(v)
    for o in (single, shuffled):
        assert np.array_equal(o.edges, whole.edges) and np.array_equal(o.counts, whole.counts)
        assert compute_range(o, RangeMethod.MSE) == compute_range(whole, RangeMethod.MSE)


def test_histogram_memory_is_flat_in_the_number_of_batches():
    rng = np.random.default_rng(0)

    def state_after(n: int) -> int:
        o = HistogramObserver()
        for _ in range(n):
            o.update(rng.standard_normal(4096).astype(np.float32))
        return o.counts.nbytes + o.edges.nbytes

    assert state_after(10) == state_after(100)


def test_percentile_and_kl_clip_a_rare_outlier_minmax_does_not():
    o = HistogramObserver(exact=True)
    x = np.abs(np.random.default_rng(0).standard_normal(200_000)).astype(np.float32)
    x[0] = 100.0
    o.update(x)
    assert compute_range(o, RangeMethod.MINMAX)[1] == 100.0
    for m in (RangeMethod.PERCENTILE, RangeMethod.KL):
        lo, hi = compute_range(o, m)
        assert lo == 0.0 and 2.0 < hi < 20.0, m
    lo, hi = compute_range(o, RangeMethod.MSE)
    e_mse, e_minmax = expected_error(o, np.array([lo, 0.0]), np.array([hi, 100.0]))
    assert e_mse < e_minmax


def test_auto_is_never_worse_than_any_method_by_expected_error():
    o = HistogramObserver()
    o.update(np.random.default_rng(1).laplace(size=100_000).astype(np.float32))
    errs = {}
    for m in RangeMethod:
        lo, hi = compute_range(o, m)
        errs[m] = expected_error(o, np.array([lo]), np.array([hi]))[0]
    assert errs[RangeMethod.AUTO] <= min(errs.values()) + 1e-12


def test_sampled_histogram_sees_the_sample_not_every_value():
    x = np.abs(np.random.default_rng(0).standard_normal((4, 8, 64, 64))).astype(np.float32)
    fast, exact = HistogramObserver(samples=512), HistogramObserver(samples=512, exact=True)
    fast.update(x)
    exact.update(x)
    assert exact.hi == x.max() and fast.hi <= x.max()
    assert fast.counts.sum() == exact.counts.sum() <= 4 * 8 * 16 * 16  # a strided grid per image
    assert fast.count == exact.count == x.size
    # the sample's distribution is the tensor's: medians agree within sampling error
    med = np.searchsorted(np.cumsum(fast.counts), fast.counts.sum() / 2)
    assert abs(fast.centers()[med] - np.median(x)) < 0.05


def test_kl_keeps_most_of_a_relu6_range():
    """A ReLU6 output: most values exactly zero, a tail up to 6 and a spike at 6. KL used to
    smear the zeros over a whole level, so every threshold but its smallest (1/8 of the
    range) looked costly and it clipped the tensor to 0.75."""
    rng = np.random.default_rng(0)
    x = np.minimum(np.maximum(rng.standard_normal(300_000) * 2.0 - 1.0, 0.0), 6.0).astype(np.float32)
    o = HistogramObserver()
    o.update(x)
    assert (x == 0).mean() > 0.6 and o.hi == 6.0
    lo, hi = compute_range(o, RangeMethod.KL)
    assert lo == 0.0 and hi > 3.0
    mse = compute_range(o, RangeMethod.MSE)
    e_kl, e_mse = expected_error(o, np.array([lo, mse[0]]), np.array([hi, mse[1]]))
    assert e_kl < 2.0 * e_mse


def test_kl_candidates_start_at_the_levels_of_the_tensor_signedness():
    """Non-negative tensors get 255 levels (all of uint8), signed ones 128 per side: the
    smallest threshold KL may pick is 255 or 128 bins of 2048 times the largest |x|."""
    rng = np.random.default_rng(0)
    for x, levels in ((np.abs(rng.standard_cauchy(200_000)), 255), (rng.standard_cauchy(200_000), 128)):
        o = HistogramObserver()
        o.update(np.clip(x, -1e4, 1e4).astype(np.float32))
        lo, hi = compute_range(o, RangeMethod.KL)
        amax = max(abs(o.lo), abs(o.hi))
        assert max(hi, -lo) >= amax * levels / 2048 * (1 - 1e-6)


def test_mse_keeps_a_floor_that_holds_mass_on_the_grid():
    # an activation's zero moved by the affine layer after it (HardSwish then scale and shift):
    # a quarter of the values sit at -0.0142, the rest spread up to ~9
    rng = np.random.default_rng(0)
    x = np.concatenate([np.full(50_000, -0.0142), rng.exponential(0.8, 150_000)]).astype(np.float32)
    o = HistogramObserver(samples=2048)  # a sample whose top (~7) puts a grid point nearer than 0
    o.update(x.reshape(1, 1, 1, -1))
    qp = activation_qparams(*compute_range(o, RangeMethod.MSE))
    floor = dequantize(quantize(np.array([-0.0142], np.float32), qp), qp)[0]
    assert abs(floor - -0.0142) <= 0.5 * float(qp.scale) + 1e-7  # rounded, not clipped to 0
    assert abs(floor - -0.0142) < 0.0142  # nearer than 0
