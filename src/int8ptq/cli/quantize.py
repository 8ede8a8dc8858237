"""`int8ptq quantize`: FP32 ONNX + calibration images -> INT8 QDQ ONNX."""

from __future__ import annotations

import argparse
from typing import Any

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json, skipped
from int8ptq.util.tables import mb, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="FP32 ONNX model (opsets below 14 are upgraded in memory)")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="INT8 model to write")
    p.add_argument(
        "--calib",
        required=True,
        metavar="DATA",
        help="calibration data: list file, image folder, .npy or .npz",
    )
    o.add_quant_options(p)
    o.add_preset(p)


def print_result(r: Any) -> None:
    rows = [
        [
            "model size",
            f"{mb(r.fp32_bytes)} -> {mb(r.int8_bytes)} ({100 * r.int8_bytes / r.fp32_bytes:.0f}%)",
        ],
        ["calibration images", str(r.calib_images)],
        ["INT8 ops", str(r.quantized_nodes)],
        ["FP32 ops left", ", ".join(f"{k} x{v}" for k, v in sorted(r.float_nodes.items())) or "none"],
        ["method / preset", f"{r.settings['method']} / {r.settings['preset']}"],
        ["preprocessing", _pixels(r.settings["preprocessing"])],
        ["target ISA", r.target_isa],
        ["laid out for", r.settings["runtime"]],
        ["time", f"{r.seconds:.1f} s"],
    ]
    if r.opset_upgraded:
        rows.insert(0, ["opset", f"{r.opset_upgraded.replace('->', ' -> ')} (upgraded in memory)"])
    rows += _fallback_rows(r)
    table(f"wrote {r.output}", ["setting", "value"], rows)
    skipped(r.skipped_images)


def _pixels(p: dict[str, Any]) -> str:
    if not p:
        return "none: arrays fed as given (no image input, or arrays and no --preset)"
    resize = f"resize {p['resize']}, " if p["resize"] else ""
    mean, std = (",".join(f"{v:g}" for v in p[k]) for k in ("mean", "std"))
    return f"{resize}crop {p['size']}, mean {mean}, std {std}, {'BGR' if p['bgr'] else 'RGB'}, {p['layout']}"


def _fallback_rows(r: Any) -> list[list[str]]:
    """Layers left in FP32 for speed / that kept nearest rounding / got no bias correction:
    count per reason."""
    rows = []
    fallbacks = (
        ("FP32 for speed", r.speed_fallbacks),
        ("FP32 for accuracy", r.error_fallbacks),
        ("nearest rounding", r.rounding_fallbacks),
        ("no bias correction", r.bias_fallbacks),
    )
    for title, by_reason in fallbacks:
        for reason, layers in sorted(by_reason.items()):
            rows.append([title, f"{len(layers)} layer{'s' * (len(layers) != 1)}: {reason}"])
    return rows


def run(a: argparse.Namespace) -> int:
    from int8ptq.api import quantize

    r = quantize(a.model, a.output, a.calib, config=o.quant_config(a))
    print_result(r)
    emit_json(a, r.to_dict())
    return 0


COMMAND = o.Command(
    name="quantize",
    help="FP32 ONNX + calibration images -> INT8 QDQ ONNX",
    description="Calibrate MODEL on DATA and write an INT8 QDQ model to OUTPUT.",
    examples=(
        "int8ptq quantize model.onnx -o model.int8.onnx --calib calib.txt",
        "int8ptq quantize model.onnx -o model.int8.onnx --calib images/ --method percentile --per-tensor",
        "int8ptq quantize model.onnx -o model.int8.onnx --calib calib.npy --exclude Softmax --json -",
    ),
    add_arguments=add_arguments,
    run=run,
)
