"""`int8ptq demo`: offline: quantize EfficientNet-Lite0 on sample images, check it on other photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json
from int8ptq.util.tables import table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o", "--output-dir", default="int8ptq-demo", metavar="DIR", help="where to write the models"
    )


def run(a: argparse.Namespace) -> int:
    from int8ptq.demo import run_demo

    res = run_demo(Path(a.output_dir))
    summary: dict[str, str] = res["table"]
    rows = [[k, v] for k, v in summary.items()]
    table("EfficientNet-Lite0: FP32 -> INT8 (offline demo)", ["setting", "value"], rows)
    emit_json(a, res)
    return 0


COMMAND = o.Command(
    name="demo",
    help="offline: quantize EfficientNet-Lite0 on sample images, check it on photos it never saw",
    description="Export EfficientNet-Lite0 with its ImageNet weights, calibrate on some of scikit-image's "
    "sample images, then run FP32 and INT8 on the sample photos it did not calibrate on: each photo's "
    "top-1 class side by side, agreement, cosine, sizes and speed-up. No network, no dataset.",
    examples=("int8ptq demo", "int8ptq demo -o /tmp/demo --json demo.json"),
    add_arguments=add_arguments,
    run=run,
)
