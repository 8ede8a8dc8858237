"""`int8ptq zoo list|export`: the built-in models."""

from __future__ import annotations

import argparse
import os

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json
from int8ptq.util.tables import console, mb, table

LIST_EXAMPLES = ("int8ptq zoo list", "int8ptq zoo list --json models.json")
EXPORT_EXAMPLES = (
    "int8ptq zoo export efficientnet_lite0 -o model.onnx",
    "int8ptq zoo export resnet50 -o resnet50.onnx --random-weights",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    common = o.common_parent()
    sub = p.add_subparsers(dest="zoo_cmd", required=True, parser_class=o.Parser, metavar="{list,export}")
    sub.add_parser(
        "list",
        help="the models and where their weights come from",
        description="The built-in models: parameters, preprocessing preset, weights source.",
        epilog=o.examples(LIST_EXAMPLES),
        formatter_class=o.Formatter,
        parents=[common],
    )
    x = sub.add_parser(
        "export",
        help="export a zoo model to ONNX",
        description="Export a zoo model to ONNX (opset 17), with its preprocessing preset recorded.",
        epilog=o.examples(EXPORT_EXAMPLES),
        formatter_class=o.Formatter,
        parents=[common],
    )
    x.add_argument("name", help="model name (see `int8ptq zoo list`)")
    x.add_argument("-o", "--output", required=True, metavar="PATH", help="ONNX file to write")
    x.add_argument("--random-weights", action="store_true", help="no download: same graph, random values")


def run(a: argparse.Namespace) -> int:
    if a.zoo_cmd == "list":
        from int8ptq.zoo.registry import MODELS

        rows = [[m.name, f"{m.params:,}", m.preset, m.source] for m in MODELS.values()]
        table("zoo", ["model", "parameters", "preset", "weights"], rows)
        emit_json(
            a,
            [
                {"name": m.name, "params": m.params, "preset": m.preset, "source": m.source}
                for m in MODELS.values()
            ],
        )
        return 0
    from int8ptq.zoo.export import export

    path = export(a.name, a.output, random_weights=a.random_weights)
    console.print(f"wrote {path} ({mb(os.path.getsize(path))})")
    emit_json(a, {"name": a.name, "output": str(path), "random_weights": a.random_weights})
    return 0


COMMAND = o.Command(
    name="zoo",
    help="list or export the built-in models",
    description="The built-in models: `list` shows them, `export` writes one as ONNX.",
    examples=LIST_EXAMPLES[:1] + EXPORT_EXAMPLES,
    add_arguments=add_arguments,
    run=run,
)
