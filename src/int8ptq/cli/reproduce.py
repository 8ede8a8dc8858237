"""`int8ptq reproduce`: the seed's ImageNet table."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from int8ptq.cli import options as o
from int8ptq.cli.evaluate import eval_cache
from int8ptq.cli.output import emit_json
from int8ptq.util.tables import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    from int8ptq.reproduce import WARMUP_IMAGES

    p.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        help="ImageNet val: list file, class folders or the seed's .bin",
    )
    p.add_argument("--models", metavar="A,B,...", help="comma-separated (default: the seed's seven)")
    p.add_argument(
        "-o",
        "--output-dir",
        default="int8ptq-reproduce",
        metavar="DIR",
        help="models, results and table.md go here",
    )
    p.add_argument("--out", dest="output_dir", action=o.deprecated("--output-dir"), help=argparse.SUPPRESS)
    p.add_argument(
        "--warmup", type=o.positive, default=WARMUP_IMAGES, metavar="N", help="calibration images taken first"
    )
    p.add_argument(
        "--limit",
        type=o.positive,
        metavar="N",
        help="evaluate N images after the warm-up ones (default: all; 300 with --random-weights)",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="offline: speed and structure only (top-1 is not meaningful; agreement and cosine are)",
    )
    o.add_threads(p, "threads per session")
    o.add_executor_options(p, cache=True)


def run(a: argparse.Namespace) -> int:
    from int8ptq.reproduce import SEED_MODELS, reproduce, table_markdown

    models = a.models.split(",") if a.models else SEED_MODELS
    out = Path(a.output_dir)
    rows = reproduce(
        a.data,
        out,
        models,
        warmup=a.warmup,
        random_weights=a.random_weights,
        limit=a.limit,
        threads=a.threads,
        executor=a.executor,
        workers=a.workers,
        cache=None if a.no_cache else eval_cache(),
    )
    console.print(table_markdown(rows))
    console.print(f"table written to {out / 'table.md'}")
    emit_json(a, [asdict(r) for r in rows])
    return 0


COMMAND = o.Command(
    name="reproduce",
    help="the seed's ImageNet table: export, quantize on 100 warm-up images, evaluate the rest",
    description="For each model: export, quantize with the first --warmup images, evaluate FP32 and INT8 "
    "on the rest, time both; print the seed-style table. Finished models are kept in OUTPUT_DIR/results, "
    "so an interrupted run resumes.",
    examples=(
        "int8ptq reproduce --data /data/ILSVRC2012/val.txt",
        "int8ptq reproduce --data eval.txt --models mobilenet_v2,resnet50 --random-weights -o repro",
    ),
    add_arguments=add_arguments,
    run=run,
)
