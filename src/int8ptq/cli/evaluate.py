"""`int8ptq evaluate`: top-1/top-5; with two or more models, agreement with the first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json, skipped
from int8ptq.util.tables import num, pct, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    from int8ptq.config import EvalSection
    from int8ptq.runtime.base import Backend

    p.add_argument("models", nargs="+", metavar="MODEL", help="ONNX models; the first is the reference")
    p.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        help="list file, image folder, .npy or .npz (images), a .npz with one array per input name, "
        "or a folder of such .npz files (one sample each)",
    )
    p.add_argument(
        "--batch-size",
        type=o.positive,
        metavar="N",
        default=o.default(EvalSection, "batch_size"),
        help="images per inference call",
    )
    o.add_threads(p, "threads per session (the seed's cpu_math_library_num_threads)")
    p.add_argument(
        "--backend",
        choices=o.values(Backend),
        default=o.default(EvalSection, "backend"),
        help="inference runtime; auto: the faster one on this CPU",
    )
    p.add_argument(
        "--limit", type=o.positive, metavar="N", help="evaluate the first N images only (default: all)"
    )
    o.add_preset(p)
    o.add_executor_options(p, cache=True)


def eval_cache() -> Path:
    from int8ptq.zoo.download import cache_dir

    return cache_dir().parent / "eval"


def print_result(r: Any) -> None:
    rows = [
        [
            m.model,
            str(m.images),
            pct(m.top1),
            pct(m.top5),
            pct(m.agreement),
            num(m.cosine, 4),
            "-" if m.top1_drop is None else f"{100 * m.top1_drop:+.2f}",
        ]
        for m in r.models
    ]
    table("accuracy", ["model", "images", "top-1", "top-5", "agreement", "cosine", "top-1 drop (pts)"], rows)
    per_output = [
        [m.model, f.output, f"{f.cosine:.5f}", f"{f.sqnr_db:.1f}", pct(f.argmax_agreement)]
        for m in r.models
        for f in m.outputs
    ]
    if per_output:
        table(
            "each output against the first model",
            ["model", "output", "cosine", "SQNR dB", "argmax"],
            per_output,
        )
    skipped(r.skipped_images)


def run(a: argparse.Namespace) -> int:
    from int8ptq.api import evaluate

    r = evaluate(
        a.models,
        a.data,
        preset=o.preprocessing(a),
        batch_size=a.batch_size,
        threads=a.threads,
        backend=a.backend,
        limit=a.limit,
        executor=a.executor,
        workers=a.workers,
        cache=None if a.no_cache else eval_cache(),
    )
    print_result(r)
    emit_json(a, r.to_dict())
    return 0


COMMAND = o.Command(
    name="evaluate",
    help="top-1/top-5; with 2+ models also agreement with the first",
    description="Evaluate models on labelled data. The first model is the reference for agreement, "
    "logit cosine and top-1 drop.",
    examples=(
        "int8ptq evaluate model.onnx model.int8.onnx --data eval.txt --threads 2",
        "int8ptq evaluate model.onnx model.int8.onnx --data eval.txt --executor processes --workers 2",
        "int8ptq evaluate model.int8.onnx --data val/ --limit 500 --json - | jq '.models[0].top1'",
    ),
    add_arguments=add_arguments,
    run=run,
)
