"""`int8ptq reproduce`: the seed's accuracy table for our tool, in one command.

For each zoo model: export, quantize with the first `warmup` images (the seed's
--warmup_batch_size 100), evaluate FP32 and INT8 on the rest, time both. Each finished model
is written to OUT/results/NAME.json (atomically), so an interrupted run resumes where it
stopped without redoing finished models.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from int8ptq.config import QuantConfig
from int8ptq.data.dataset import open_dataset
from int8ptq.errors import UserError
from int8ptq.util.atomic import write_text

SEED_MODELS = ["googlenet", "mobilenet_v1", "mobilenet_v2", "resnet101", "resnet50", "vgg16", "vgg19"]
# PaddleSlim's published FP32 / INT8 top-1 on the full ImageNet validation set (Xeon Gold 6271).
SEED_TABLE = {
    "googlenet": (70.50, 69.81),
    "mobilenet_v1": (70.78, 70.42),
    "mobilenet_v2": (71.90, 71.35),
    "resnet101": (77.50, 77.42),
    "resnet50": (76.63, 76.52),
    "vgg16": (72.08, 72.03),
    "vgg19": (72.57, 72.55),
}
VERSION = 1  # of the per-model result files; others are recomputed


@dataclass(frozen=True)
class ModelRow:
    model: str
    random_weights: bool
    images: int
    fp32_top1: float | None
    int8_top1: float | None
    agreement: float | None
    cosine: float | None
    speedup_b1: float
    quantize_seconds: float
    version: int = VERSION

    @property
    def diff(self) -> float | None:
        if self.fp32_top1 is None or self.int8_top1 is None:
            return None
        return self.fp32_top1 - self.int8_top1


def _load_row(path: Path, random_weights: bool) -> ModelRow | None:
    try:
        row = ModelRow(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # missing, corrupt or stale: computed again
    return row if row.version == VERSION and row.random_weights == random_weights else None


def run_model(
    name: str,
    data: str,
    out: Path,
    *,
    warmup: int,
    random_weights: bool,
    limit: int | None,
    threads: int | None,
    executor: str = "local",
    workers: int | None = None,
    cache: Path | None = None,
) -> ModelRow:
    from int8ptq.api import benchmark, evaluate, quantize
    from int8ptq.zoo.export import export

    fp32, int8 = out / f"{name}.onnx", out / f"{name}.int8.onnx"
    if not fp32.exists():
        export(name, fp32, random_weights=random_weights)
    ds = open_dataset(data)
    if len(ds) <= warmup:
        raise UserError(f"{data}: {len(ds)} images; need more than the {warmup} warm-up images")
    t = time.perf_counter()
    quantize(fp32, int8, ds.subset(0, warmup), config=QuantConfig(threads=threads))
    qsec = time.perf_counter() - t
    ev = evaluate(
        [fp32, int8],
        data,
        threads=threads,
        limit=limit,
        executor=executor,
        workers=workers,
        cache=cache,
        first=warmup,
    )
    b = benchmark([fp32, int8], batches=[1], threads=[threads or 2], backends=["ort"], warmup=2, repeat=10)
    f, q = ev.models
    meaningful = not random_weights and f.labelled > 0
    return ModelRow(
        name,
        random_weights,
        f.images,
        f.top1 if meaningful else None,
        q.top1 if meaningful else None,
        q.agreement,
        q.cosine,
        b.rows[-1].speedup or 0.0,
        qsec,
    )


WARMUP_IMAGES = 100  # the seed's --warmup_batch_size: calibration images taken first
RANDOM_WEIGHTS_IMAGES = 300  # evaluated with random weights, unless `limit` says otherwise


def reproduce(
    data: str,
    out: Path,
    models: list[str],
    *,
    warmup: int = WARMUP_IMAGES,
    random_weights: bool = False,
    limit: int | None = None,
    threads: int | None = None,
    executor: str = "local",
    workers: int | None = None,
    cache: Path | None = None,
) -> list[ModelRow]:
    from int8ptq.util.progress import progress
    from int8ptq.zoo.registry import get

    for m in models:
        get(m)  # unknown names fail before any work
    if random_weights and limit is None:
        # top-1 means nothing then; agreement and cosine (a structure check) need few images
        limit = RANDOM_WEIGHTS_IMAGES
    open_dataset(data)
    (out / "results").mkdir(parents=True, exist_ok=True)
    rows = []
    for name in progress(models, "reproducing", total=len(models), unit="model"):
        path = out / "results" / f"{name}.json"
        row = _load_row(path, random_weights)
        if row is None:
            row = run_model(
                name,
                data,
                out,
                warmup=warmup,
                random_weights=random_weights,
                limit=limit,
                threads=threads,
                executor=executor,
                workers=workers,
                cache=cache,
            )
            write_text(path, json.dumps(asdict(row), indent=2))
        rows.append(row)
    write_text(out / "table.md", table_markdown(rows))
    return rows


def _pct(v: float | None) -> str:
    return "n/m" if v is None else f"{100 * v:.2f}%"


def table_markdown(rows: list[ModelRow]) -> str:
    lines = [
        "| Model | FP32 | INT8 | Diff | Agreement | Cosine | Speed-up (b1) | Seed diff |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        seed = SEED_TABLE.get(r.model)
        diff = "n/m" if r.diff is None else f"{100 * r.diff:.2f}%"
        lines.append(
            f"| {r.model} | {_pct(r.fp32_top1)} | {_pct(r.int8_top1)} | {diff} | {_pct(r.agreement)} "
            f"| {r.cosine:.4f} | {r.speedup_b1:.2f}x | {f'{seed[0] - seed[1]:.2f}%' if seed else '-'} |"
        )
    if any(r.random_weights for r in rows):
        lines.append(
            "\nRandom weights: top-1 columns are not meaningful (n/m); agreement, cosine and speed are."
        )
    return "\n".join(lines) + "\n"
