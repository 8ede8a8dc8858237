"""Sharded evaluation: local, processes and a real local Ray instance agree exactly; a killed
worker's shard is retried without double counting; a shard that keeps failing is named;
cached shards let a rerun resume."""

import functools
import os

import numpy as np
import pytest

from int8ptq.api import evaluate
from int8ptq.errors import UserError
from int8ptq.shard.executors import Executor, threads_per_worker


def _kill(index: int, marker: str | None, shard) -> None:  # noqa: ANN001
    """Injected before each shard: kill the worker process on shard `index`, the first time
    only (recorded in `marker`) or, without a marker, every time."""
    if shard.index != index:
        return
    if marker is None:
        os._exit(13)
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(13)


def _killing(kind: str, index: int, marker: str | None = None) -> Executor:
    return Executor(kind, None, 2, before_shard=functools.partial(_kill, index, marker))


IMAGES = 400  # eight shards of 48 on two workers: enough to kill one mid-run


def _key(r):
    return [(m.images, m.labelled, m.top1, m.top5, m.agreement) for m in r.models]


@pytest.fixture(scope="module")
def local_result(lite0_pair, imagenet):
    return evaluate(list(lite0_pair), imagenet / "eval.txt", threads=2, limit=IMAGES)


def test_processes_and_ray_match_local_exactly(lite0_pair, imagenet, local_result):
    assert local_result.models[0].images == IMAGES and local_result.models[1].agreement > 0.97
    procs = evaluate(list(lite0_pair), imagenet / "eval.txt", executor="processes", workers=2, limit=IMAGES)
    ray = evaluate(list(lite0_pair), imagenet / "eval.txt", executor="ray", workers=2, limit=IMAGES)
    assert _key(procs) == _key(local_result) == _key(ray)
    for r in (procs, ray):
        assert np.isclose(r.models[1].cosine, local_result.models[1].cosine, rtol=0, atol=1e-12)


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_killed_worker_is_retried_and_totals_stay_exact(
    lite0_pair, imagenet, local_result, tmp_path, executor
):
    marker = tmp_path / "killed"
    killing = _killing(executor, 2, str(marker))
    r = evaluate(list(lite0_pair), imagenet / "eval.txt", executor=killing, limit=IMAGES)
    assert marker.exists()  # a worker really died on shard 2
    assert _key(r) == _key(local_result)


def test_shard_that_keeps_failing_names_its_first_image(lite0_pair, imagenet):
    with pytest.raises(
        UserError, match=r"shard 1 failed 3 times \(first image: .*ILSVRC2012_val_\d+\.JPEG\)"
    ):
        evaluate(list(lite0_pair), imagenet / "eval.txt", executor=_killing("processes", 1), limit=256)


def test_cached_shards_resume_and_corrupt_ones_are_recomputed(lite0_pair, imagenet, tmp_path):
    cache = tmp_path / "cache"
    # threads are part of the cache key (they can change float results): the same in both runs
    first = evaluate(list(lite0_pair), imagenet / "eval.txt", limit=128, cache=cache, threads=1)
    files = sorted(cache.rglob("*.npz"))
    assert files
    files[0].write_bytes(b"corrupt")
    # shard 1 must come from the cache: computing it kills the worker every time
    killing = _killing("processes", 1)
    again = evaluate(
        list(lite0_pair), imagenet / "eval.txt", limit=128, cache=cache, executor=killing, threads=1
    )
    assert _key(again) == _key(first)


def test_threads_do_not_oversubscribe(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert threads_per_worker(Executor("processes", None, 4), None) == 2
    assert threads_per_worker(Executor("ray", None, 16), None) == 1
    assert threads_per_worker(Executor("processes", None, 4), 3) == 3
    with pytest.raises(UserError, match="unknown executor"):
        Executor.parse("spark")


def test_tune_evaluates_trials_on_processes_like_locally(convnet_path, calib_npy, tmp_path):
    from int8ptq.config import QuantConfig
    from int8ptq.tune import TuneConfig, tune

    ev = tmp_path / "eval.npz"
    rng = np.random.default_rng(3)
    np.savez(ev, x=rng.standard_normal((96, 3, 16, 16)).astype(np.float32), y=rng.integers(0, 10, 96))
    tc = TuneConfig(max_drop=0.0105, metric="agreement")  # one image of 96 may change its top-1
    local = tune(convnet_path, tmp_path / "a.onnx", calib_npy, ev, config=QuantConfig(), tcfg=tc)
    procs = tune(
        convnet_path,
        tmp_path / "b.onnx",
        calib_npy,
        ev,
        config=QuantConfig(),
        tcfg=tc,
        executor="processes",
        workers=2,
    )
    assert local.met and procs.met and len(procs.trials) == 1
    assert procs.best.drop == pytest.approx(local.best.drop) and local.best.drop <= 0.0105
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
