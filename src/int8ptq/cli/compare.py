"""`int8ptq compare`: per-tensor SQNR and cosine of INT8 against FP32, worst first."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json, skipped
from int8ptq.util.tables import console, pct, table

if TYPE_CHECKING:
    from int8ptq.eval.compare import CompareResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    from int8ptq.eval.compare import DEFAULT_IMAGES

    p.add_argument("fp32", help="the FP32 model")
    p.add_argument("int8", help="the INT8 model made from it")
    p.add_argument("--data", required=True, metavar="DATA", help="images to compare on")
    p.add_argument("--limit", type=o.positive, default=DEFAULT_IMAGES, metavar="N", help="images to use")
    p.add_argument("--top", type=o.positive, default=20, metavar="K", help="rows to print (--json has all)")
    p.add_argument(
        "--attribute",
        action="store_true",
        help="also measure each tensor's share of the output error: the part that goes away with that "
        "tensor alone in FP32, and the layers to --exclude for it (one run of 16 images per tensor)",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="also write DIR/report.md with a per-tensor SQNR plot (DIR/sqnr.png) and the full table "
        "(default: none)",
    )
    o.add_threads(p)
    o.add_preset(p)


def run(a: argparse.Namespace) -> int:
    from int8ptq.eval.compare import compare

    pre = o.preprocessing(a)
    r = compare(a.fp32, a.int8, a.data, preset=pre, limit=a.limit, threads=a.threads, attributed=a.attribute)
    rows = [
        [t.tensor, t.source, f"{t.sqnr_db:.1f}", f"{t.cosine:.5f}", f"{t.max_abs_err:.3g}"]
        for t in r.tensors[: a.top]
    ]
    table(
        f"INT8 vs FP32 per tensor, worst first ({r.images} images)",
        ["tensor", "producer -> read through", "SQNR dB", "cosine", "max |err|"],
        rows,
    )
    table(
        "model outputs, INT8 vs FP32",
        ["output", "cosine", "SQNR dB", "argmax agreement"],
        [[f.output, f"{f.cosine:.5f}", f"{f.sqnr_db:.1f}", pct(f.argmax_agreement)] for f in r.outputs],
    )
    if a.attribute:
        _shares_table(r, a.top)
    skipped(r.skipped_images)
    if a.report:
        from int8ptq.eval.compare_report import write_report

        console.print(f"report: {write_report(r, a.report, fp32=a.fp32, int8=a.int8)}")
    emit_json(a, r.to_dict())
    return 0


def _shares_table(r: CompareResult, top: int) -> None:
    ranked = r.by_share()
    if not ranked:
        console.print("no shares of the output error: the INT8 outputs equal FP32's, or none is float")
        return
    table(
        "where the output error comes from: each tensor alone back in FP32, largest share first",
        ["tensor", "error share", "compute in FP32", "FP32 layers"],
        [[t.tensor, pct(t.error_share), pct(t.compute_share), str(len(t.exclude))] for t in ranked[:top]],
    )
    first = ranked[0]
    if first.exclude and (first.error_share or 0.0) > 0:
        console.print(f"to keep {first.tensor} in FP32, quantize with --exclude {','.join(first.exclude)}")


COMMAND = o.Command(
    name="compare",
    help="per-tensor SQNR and cosine of INT8 against FP32, worst first",
    description="Run FP32 and INT8 on the same images and report, for every quantized tensor, how far "
    "the INT8 values are from FP32 (real INT8 kernels).",
    examples=(
        "int8ptq compare model.onnx model.int8.onnx --data calib.txt",
        "int8ptq compare model.onnx model.int8.onnx --data calib.txt --top 5 --json errors.json",
        "int8ptq compare model.onnx model.int8.onnx --data calib.txt --report compare-report",
        "int8ptq compare model.onnx model.int8.onnx --data calib.txt --attribute --top 5",
    ),
    add_arguments=add_arguments,
    run=run,
)
