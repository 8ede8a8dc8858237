"""Evaluate one or more models on the same decoded images, in one pass over the data.

A path is evaluated in shards (whole batches) by an executor: here, on N processes, or on
a Ray cluster, with identical results. Other data (arrays, readers) runs here, streaming.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from int8ptq import metrics
from int8ptq.config import EvalSection
from int8ptq.data.dataset import open_dataset
from int8ptq.data.model_input import ModelInputs, model_inputs, resolve_inputs
from int8ptq.data.presets import PREPROCESSING_KEY, Preprocessing, Preset, record
from int8ptq.data.source import DataLike, is_image_data, iter_batches
from int8ptq.errors import UserError
from int8ptq.eval.fidelity import Fidelity, Metric, OutputFidelity, Recording, class_axis_outputs, observed
from int8ptq.eval.target import warn_saturation
from int8ptq.ir import load_model
from int8ptq.quant.isa import Isa
from int8ptq.runtime import Backend, fastest_backend, make_runner, model_bytes
from int8ptq.shard.executors import Executor, run_shards, threads_per_worker
from int8ptq.shard.work import EvalJob, ShardResult, data_fingerprint, make_shards, run_batches
from int8ptq.util.progress import progress
from int8ptq.util.timing import timed


@dataclass(frozen=True)
class ModelEval:
    model: str
    images: int
    labelled: int
    top1: float | None
    top5: float | None
    seconds: float
    # against the reference (the first model), when more than one model is given
    agreement: float | None = None
    cosine: float | None = None
    top1_drop: float | None = None
    # every output against the reference's (data evaluated here, not in shards)
    outputs: list[OutputFidelity] = field(default_factory=list)
    metric: float | None = None  # the user's metric(fp32_outputs, these_outputs, inputs)


@dataclass(frozen=True)
class EvalResult:
    models: list[ModelEval]
    skipped_images: list[str] = field(default_factory=list)
    preprocessing: dict[str, object] = field(default_factory=dict)  # the values image files got

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _scores(models: list[str], parts: list[ShardResult]) -> list[ModelEval]:
    labels = np.concatenate([p.labels for p in parts])
    top = np.concatenate([p.top for p in parts], axis=1)
    cos = np.concatenate([p.cosine for p in parts], axis=1)
    secs = np.sum([p.seconds for p in parts], axis=0)
    n, lab = len(labels), int((labels >= 0).sum())
    out: list[ModelEval] = []
    for i, m in enumerate(models):
        t1 = metrics.top1(top[i], labels)
        agree = metrics.agreement(top[i], top[0]) if i else None
        mean_cos = float(cos[i].mean()) if i and n else None
        drop = out[0].top1 - t1 if i and t1 is not None and out[0].top1 is not None else None
        out.append(
            ModelEval(str(m), n, lab, t1, metrics.top5(top[i], labels), float(secs[i]), agree, mean_cos, drop)
        )
    return out


def _classes(proto: onnx.ModelProto) -> int | None:
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    return dims[-1].dim_value if dims and dims[-1].HasField("dim_value") else None


def _drop_bad_labels(parts: list[ShardResult], classes: int | None) -> tuple[list[ShardResult], int]:
    """Labels the model cannot predict become unknown (-1); returns how many there were."""
    if classes is None:
        return parts, 0
    out, bad = [], 0
    for p in parts:
        wrong = p.labels >= classes
        bad += int(wrong.sum())
        out.append(dataclasses.replace(p, labels=np.where(wrong, -1, p.labels)) if wrong.any() else p)
    return out, bad


def _shippable(path: str | os.PathLike[str]) -> bytes | str:
    """A model as bytes for the workers, or its path when it keeps weights in external data."""
    bare = onnx.load(str(path), load_external_data=False)
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)
    return str(Path(path).resolve()) if external or Path(path).stat().st_size > 2**31 else model_bytes(path)


@timed("evaluate")
def evaluate(
    models: list[str | os.PathLike[str]],
    data: DataLike,
    *,
    preset: str | Preprocessing | None = None,
    batch_size: int = EvalSection.batch_size,
    threads: int | None = None,
    backend: Backend | str = EvalSection.backend,
    limit: int | None = None,
    executor: str | Executor = "local",
    workers: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    first: int = 0,
    cpu_isa: Isa | str | None = None,
    metric: Metric | None = None,
) -> EvalResult:
    """Top-1/top-5 of each model; agreement, cosine and top-1 drop of the others vs the first.
    With a path, `first` skips that many images (the warm-up ones) before `limit` are taken.
    `cpu_isa` overrides the detected CPU class for the saturation warning.
    Data other than images (arrays by input name), or a `metric`, is evaluated here: then
    each output's cosine, SQNR and argmax agreement, and `metric(fp32_outputs, outputs,
    inputs)` (higher is better; see eval/fidelity.py) for every model against the first."""
    if not models:
        raise UserError("no model given")
    protos = [load_model(m) for m in models]
    warn_saturation(zip([str(m) for m in models], protos, strict=True), cpu_isa)
    # the preprocessing recorded in an int8ptq model (usually not the FP32 one) feeds them all
    recorded = next(
        (p for p in protos if any(m.key == PREPROCESSING_KEY for m in p.metadata_props)), protos[0]
    )
    inputs, pre = resolve_inputs(recorded, preset, model_inputs(protos[0]))
    ex = executor if isinstance(executor, Executor) else Executor.parse(executor, workers)
    bs = inputs.batch or batch_size
    sharded = metric is None and isinstance(data, (str, os.PathLike)) and is_image_data(data, inputs)
    fid: Fidelity | None = None
    if sharded:
        assert isinstance(data, (str, os.PathLike))  # `sharded` checked it
        if Backend(backend) is Backend.AUTO:  # one concrete backend: it is part of the cache key
            backend = fastest_backend(models[0], threads)
        job_opts = _ShardOptions(bs, Backend(backend), threads, limit, first, cache)
        parts, skipped = _evaluate_sharded(models, data, pre, inputs, ex, job_opts)
    elif ex.kind != "local":
        raise UserError(
            "--executor processes/ray needs images given as a path (workers read them themselves), "
            "and no metric function"
        )
    else:
        skipped = []
        batches, total = iter_batches(data, inputs, pre, bs, limit, skipped)
        runners = [Recording(make_runner(m, backend, threads)) for m in models]
        fid = Fidelity(runners[0].output_names, class_axis_outputs(protos[0]), len(models), metric)
        looked = observed(progress(batches, "evaluating", total=total, unit="batch"), runners, fid)
        parts = [run_batches(runners, looked)]
    parts, bad = _drop_bad_labels(parts, _classes(protos[0]))
    if bad:
        skipped.append(
            f"{bad} labels out of range for a {_classes(protos[0])}-class model (counted unlabelled)"
        )
    out = _scores([str(m) for m in models], parts)
    if out[0].images == 0:
        raise UserError("no evaluation images could be read")
    if fid is not None:
        out = [
            dataclasses.replace(e, outputs=fid.outputs(i), metric=fid.metric_value(i)) if i else e
            for i, e in enumerate(out)
        ]
    image = inputs.image if is_image_data(data, inputs) else None
    return EvalResult(out, skipped, json.loads(record(pre, image.layout)) if image else {})


@dataclass(frozen=True)
class _ShardOptions:
    batch_size: int
    backend: Backend
    threads: int | None
    limit: int | None
    first: int
    cache: str | os.PathLike[str] | None


def _evaluate_sharded(
    models: list[str | os.PathLike[str]],
    data: str | os.PathLike[str],
    pre: Preset,
    inputs: ModelInputs,
    ex: Executor,
    o: _ShardOptions,
) -> tuple[list[ShardResult], list[str]]:
    """Images from a path, cut into shards that the executor's workers read themselves."""
    ds = open_dataset(data)
    n = max(0, len(ds) - o.first) if o.limit is None else max(0, min(o.limit, len(ds) - o.first))
    job = EvalJob(
        tuple(_shippable(m) for m in models),
        str(data),
        pre,
        pre.crop,
        inputs.only_image().layout,
        o.batch_size,
        str(o.backend.value),
        threads_per_worker(ex, o.threads),
        data_fingerprint(ds),
        o.limit,
    )
    shards = make_shards(n, o.batch_size, max(o.batch_size, n // (4 * ex.worker_count())), o.first)
    bar = iter(progress(range(len(shards)), "evaluating", total=len(shards), unit="shard"))

    def tick(_: int) -> None:
        next(bar, None)

    parts = run_shards(job, shards, ex, Path(o.cache) if o.cache else None, tick)
    return parts, ds.skipped + [s for p in parts for s in p.skipped]
