"""`int8ptq benchmark`: latency p50/p90 and throughput, side by side."""

from __future__ import annotations

import argparse
from typing import Any

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json
from int8ptq.errors import UserError
from int8ptq.util.tables import console, num, table


def _backends(text: str) -> list[str]:
    from int8ptq.runtime.base import Backend

    out = [b.strip() for b in text.split(",") if b.strip()]
    for b in out:
        if b not in o.values(Backend):
            raise argparse.ArgumentTypeError(f"unknown backend {b!r}; valid: {', '.join(o.values(Backend))}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    from int8ptq.config import BenchSection
    from int8ptq.runtime.base import Backend

    p.add_argument("models", nargs="+", metavar="MODEL", help="ONNX models; speed-up is vs the first")
    p.add_argument(
        "--batch-size",
        type=o.ints,
        metavar="N[,N...]",
        default=list(BenchSection.batch_sizes),
        help="batch sizes, comma-separated",
    )
    p.add_argument(
        "--batch", type=o.ints, dest="batch_size", action=o.deprecated("--batch-size"), help=argparse.SUPPRESS
    )
    p.add_argument(
        "--threads",
        type=o.ints,
        metavar="N[,N...]",
        default=list(BenchSection.threads),
        help="thread counts, comma-separated",
    )
    p.add_argument(
        "--backend",
        type=_backends,
        metavar="|".join(o.values(Backend)),
        default=[BenchSection.backend],
        help="runtimes, comma-separated (e.g. ort,openvino)",
    )
    p.add_argument(
        "--warmup", type=o.positive, metavar="N", default=BenchSection.warmup, help="untimed runs first"
    )
    p.add_argument("--repeat", type=o.positive, metavar="N", default=BenchSection.repeat, help="timed runs")


def print_result(r: Any) -> None:
    console.print(f"CPU: {r.cpu}  ISA: {r.isa}  flags: {' '.join(r.flags)}")
    rows = [
        [
            x.model,
            x.backend,
            str(x.batch),
            str(x.threads),
            f"{x.p50_ms:.2f}",
            f"{x.p90_ms:.2f}",
            f"{x.images_per_s:.1f}",
            num(x.speedup, 2),
        ]
        for x in r.rows
    ]
    table("speed", ["model", "backend", "batch", "threads", "p50 ms", "p90 ms", "images/s", "speed-up"], rows)


def run(a: argparse.Namespace) -> int:
    from int8ptq.api import benchmark

    if not a.models:
        raise UserError("no model given")
    r = benchmark(
        a.models,
        batches=a.batch_size,
        threads=a.threads,
        backends=a.backend,
        warmup=a.warmup,
        repeat=a.repeat,
    )
    print_result(r)
    emit_json(a, r.to_dict())
    return 0


COMMAND = o.Command(
    name="benchmark",
    help="latency p50/p90 and throughput, side by side",
    description="Time models on random input: warm-up, repeated runs, p50/p90, images/s; speed-up is "
    "vs the first model.",
    examples=(
        "int8ptq benchmark model.onnx model.int8.onnx",
        "int8ptq benchmark model.onnx model.int8.onnx --batch-size 1,16 --threads 1,2 --backend ort,openvino",
    ),
    add_arguments=add_arguments,
    run=run,
)
