"""Evaluate one or more models on the same decoded images, in one pass over the data."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

from int8ptq.data.model_input import image_input, preset_for
from int8ptq.data.source import DataLike, iter_batches
from int8ptq.errors import UserError
from int8ptq.eval.metrics import Accuracy, Agreement
from int8ptq.ir import load_model
from int8ptq.runtime.base import Backend, make_runner


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


@dataclass(frozen=True)
class EvalResult:
    models: list[ModelEval]
    skipped_images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate(
    models: list[str | os.PathLike[str]],
    data: DataLike,
    preset: str | None = None,
    batch_size: int = 16,
    threads: int | None = None,
    backend: Backend | str = Backend.ORT,
    limit: int | None = None,
) -> EvalResult:
    """Top-1/top-5 of each model; agreement, cosine and top-1 drop of the others vs the first."""
    if not models:
        raise UserError("no model given")
    protos = [load_model(m) for m in models]
    spec = image_input(protos[0])
    pre = preset_for(protos[0], preset, spec)
    runners = [make_runner(m, backend, threads) for m in models]
    accs = [Accuracy() for _ in models]
    agree = [Agreement() for _ in models]
    secs = [0.0 for _ in models]
    skipped: list[str] = []
    batches, total = iter_batches(data, spec, pre, batch_size, limit, skipped)
    from int8ptq.util.progress import progress

    for b in progress(batches, "evaluating", total=total, unit="batch"):
        ref = None
        for i, r in enumerate(runners):
            t = time.perf_counter()
            y = r.run(b.x)
            secs[i] += time.perf_counter() - t
            accs[i].update(y, b.labels)
            if ref is None:
                ref = y
            else:
                agree[i].update(ref, y)
    out = []
    base = accs[0].result()
    for i, m in enumerate(models):
        a = accs[i].result()
        g = agree[i].result() if i else {"agreement": None, "cosine": None}
        drop = None
        if i and a["top1"] is not None and base["top1"] is not None:
            drop = float(base["top1"]) - float(a["top1"])  # type: ignore[arg-type]
        out.append(
            ModelEval(
                str(m),
                int(a["images"] or 0),
                int(a["labelled"] or 0),
                a["top1"],
                a["top5"],  # type: ignore[arg-type]
                secs[i],
                g["agreement"],
                g["cosine"],
                drop,
            )
        )
    if out[0].images == 0:
        raise UserError("no evaluation images could be read")
    return EvalResult(out, skipped)
