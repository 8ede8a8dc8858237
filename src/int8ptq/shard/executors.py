"""Run shards here, on N local processes, or on a Ray cluster; the results are identical.

Workers get the job (models as bytes) once and shard descriptors (index ranges into the
data list), never pixels, and send back small per-image records. A shard whose worker dies
is retried; one that keeps failing ends the run with its first image named. Finished shards
are cached on disk (versioned, checksummed), so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from int8ptq.errors import UserError
from int8ptq.shard.work import EvalJob, Shard, ShardResult, Worker
from int8ptq.util.atomic import atomic_path

MAX_ATTEMPTS = 3
CACHE_VERSION = 1


@dataclass(frozen=True)
class Executor:
    kind: str  # local | processes | ray
    address: str | None = None  # ray://host:port, or None for a local Ray instance
    workers: int | None = None
    # a test hook, run in the worker before each shard (the tests kill the worker with it)
    before_shard: Callable[[Shard], None] | None = None

    @staticmethod
    def parse(spec: str, workers: int | None = None) -> Executor:
        if spec in ("local", "processes", "ray"):
            return Executor(spec, None, workers)
        if spec.startswith("ray://"):
            return Executor("ray", spec, workers)
        raise UserError(f"unknown executor {spec!r}; valid: local, processes, ray, ray://HOST:PORT")

    def worker_count(self) -> int:
        return max(1, self.workers or (os.cpu_count() or 1))


def threads_per_worker(ex: Executor, requested: int | None) -> int | None:
    """Intra-op threads so that workers x threads does not oversubscribe the cores."""
    if requested:
        return requested
    if ex.kind == "local":
        return None  # onnxruntime's own default: every core
    return max(1, (os.cpu_count() or 1) // ex.worker_count())


# ---- cache -----------------------------------------------------------------------------
def _cache_file(folder: Path, job: EvalJob, shard: Shard) -> Path:
    return folder / job.key / f"shard{shard.index:05d}-{shard.start}-{shard.stop}.npz"


def _digest(r: ShardResult) -> str:
    h = hashlib.sha256()
    for a in (r.labels, r.top, r.cosine, r.seconds):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\n".join(r.skipped).encode())
    return h.hexdigest()


def _save(path: Path, r: ShardResult) -> None:
    meta = json.dumps(
        {"version": CACHE_VERSION, "index": r.index, "skipped": r.skipped, "sha256": _digest(r)}
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, labels=r.labels, top=r.top, cosine=r.cosine, seconds=r.seconds, meta=np.array(meta))


def _load(path: Path, index: int) -> ShardResult | None:
    """A cached shard, or None when missing, stale or corrupt (it is then recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            r = ShardResult(index, z["labels"], z["top"], z["cosine"], list(meta["skipped"]), z["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if meta.get("version") != CACHE_VERSION or meta.get("index") != index or meta.get("sha256") != _digest(r):
        return None
    return r


# ---- executors -------------------------------------------------------------------------
# A pool process (or Ray worker process) runs many shards: its Worker, made by the pool's
# initializer (or by the first Ray task in that process), keeps the models loaded between
# them. It lives only in those child processes, never in the process that calls run_shards.
_process_worker: Worker | None = None


def _start_worker(before_shard: Callable[[Shard], None] | None) -> None:
    global _process_worker
    _process_worker = Worker(before_shard)


def _run_in_pool(job: EvalJob, shard: Shard, before_shard: Callable[[Shard], None] | None) -> ShardResult:
    """One shard on this process's Worker. Ray passes the hook with each task (a Ray worker
    process has no initializer): a task with a hook gets a fresh Worker."""
    if _process_worker is None or before_shard is not None:
        _start_worker(before_shard)
    assert _process_worker is not None
    return _process_worker.run(job, shard)


def _first_image(job: EvalJob, shard: Shard) -> str:
    from int8ptq.data.dataset import open_dataset

    ds = open_dataset(job.data).subset(shard.start, shard.start + 1)
    return str(ds.files[0]) if ds.files else f"{job.data}[{shard.start}]"


def _fail(job: EvalJob, shard: Shard, why: str) -> UserError:
    return UserError(f"shard {shard.index} failed {MAX_ATTEMPTS} times (first image: "
                     f"{_first_image(job, shard)}): {why}")


def _processes(job: EvalJob, todo: list[Shard], ex: Executor, done: Callable[[ShardResult], None]) -> None:
    """All shards on a pool of workers; a shard whose pool broke is then retried alone in a
    pool of its own, so a crash is charged to the shard that caused it, not to its neighbours."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # a clean interpreter with the current environment
    attempts = dict.fromkeys((s.index for s in todo), 0)
    pending, alone = list(todo), False
    while pending:
        groups = [[s] for s in pending] if alone else [pending]
        pending = []
        for group in groups:
            workers = min(ex.worker_count(), len(group))
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_start_worker, initargs=(ex.before_shard,)
            ) as pool:
                futures = {pool.submit(_run_in_pool, job, s, None): s for s in group}
                while futures:
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for f in finished:
                        s = futures.pop(f)
                        try:
                            done(f.result())
                        except UserError:
                            raise
                        except Exception as e:  # noqa: BLE001 - a dead worker or a failed shard
                            attempts[s.index] += 1
                            if attempts[s.index] >= MAX_ATTEMPTS:
                                why = "worker process died" if isinstance(e, BrokenProcessPool) else str(e)
                                raise _fail(job, s, why) from None
                            pending.append(s)
        alone = True


def _ray(job: EvalJob, todo: list[Shard], ex: Executor, done: Callable[[ShardResult], None]) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'int8ptq[ray]'") from None
    started = not ray.is_initialized()
    if started:
        env = {k: v for k, v in os.environ.items() if k.startswith("INT8PTQ_")}
        kw = (
            {"address": ex.address}
            if ex.address
            else {"num_cpus": ex.worker_count(), "include_dashboard": False}
        )
        ray.init(**kw, log_to_driver=False, ignore_reinit_error=True, runtime_env={"env_vars": env})
    try:
        remote = ray.remote(
            num_cpus=job.threads or 1, max_retries=MAX_ATTEMPTS - 1, retry_exceptions=True
        )(_run_in_pool)
        job_ref = ray.put(job)  # models go to each node once, not with every shard
        refs = {remote.remote(job_ref, s, ex.before_shard): s for s in todo}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            s = refs.pop(ready[0])
            try:
                done(ray.get(ready[0]))
            except Exception as e:  # noqa: BLE001 - Ray already retried it
                raise _fail(job, s, type(e).__name__) from None
    finally:
        if started and not ex.address:
            ray.shutdown()


def run_shards(job: EvalJob, shards: list[Shard], ex: Executor, cache: Path | None = None,
               progress: Callable[[int], None] | None = None) -> list[ShardResult]:
    """Every shard's result, in shard order, from the cache where possible."""
    results: dict[int, ShardResult] = {}
    by_index = {s.index: s for s in shards}
    for s in shards:
        if cache is not None and (r := _load(_cache_file(cache, job, s), s.index)) is not None:
            results[s.index] = r
    todo = [s for s in shards if s.index not in results]

    def done(r: ShardResult) -> None:
        if r.index in results:
            return  # a retried duplicate: never counted twice
        results[r.index] = r
        if cache is not None:
            _save(_cache_file(cache, job, by_index[r.index]), r)
        if progress:
            progress(len(results))

    if ex.kind == "local":
        worker = Worker(ex.before_shard)  # this run's: its runners go with it
        for s in todo:
            done(worker.run(job, s))
    elif ex.kind == "processes":
        _processes(job, todo, ex, done)
    else:
        _ray(job, todo, ex, done)
    return [results[s.index] for s in shards]
