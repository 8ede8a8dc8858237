"""The `int8ptq` command: parse arguments, call the API, print tables. Nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from int8ptq.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _ints(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    t = text.strip().lower()
    try:
        return float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 10m or 1h, got {text!r}") from None


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        default="local",
        metavar="local|processes|ray|ray://HOST:PORT",
        help="where evaluation runs: this process (default), N local processes, a local Ray "
        "instance, or a Ray cluster. Results are identical.",
    )
    p.add_argument("--workers", type=int, help="processes or Ray workers (default: the core count)")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="do not keep finished shards (by default a rerun of an interrupted run resumes)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def build_parser() -> argparse.ArgumentParser:
    from int8ptq.calib.ranges import RangeMethod
    from int8ptq.data.presets import PRESETS
    from int8ptq.quant.isa import Isa

    presets = ", ".join(f"{k} ({v.description})" for k, v in PRESETS.items())
    ap = _Parser(prog="int8ptq", description="Post-training INT8 quantization of ONNX image models.")
    ap.add_argument("--version", action="version", version=_version())
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    q = sub.add_parser(
        "quantize",
        help="FP32 ONNX + calibration images -> INT8 QDQ ONNX",
        description="Calibrate MODEL on DATA and write an INT8 QDQ model to OUT.",
    )
    q.add_argument("model", help="FP32 ONNX model (opsets below 13 are upgraded in memory)")
    q.add_argument("-o", "--output", required=True, help="INT8 model to write")
    q.add_argument(
        "--calib",
        required=True,
        metavar="DATA",
        help="calibration data: list file, image folder, .npy or .npz",
    )
    q.add_argument(
        "--method",
        choices=[m.value for m in RangeMethod],
        default=None,
        help="activation range method (default: mse)",
    )
    q.add_argument("--per-tensor", action="store_true", help="one weight scale per layer")
    q.add_argument(
        "--rounding",
        choices=["compensate", "nearest"],
        default="compensate",
        help="weight rounding: compensate (GPTQ-style, from calibration statistics; default) or nearest",
    )
    q.add_argument(
        "--equalize",
        action="store_true",
        help="cross-layer equalization of Conv->act->Conv pairs (off by default: it did not help "
        "on the real weights measured; see BENCHMARKS.md)",
    )
    q.add_argument(
        "--no-bias-correction",
        action="store_true",
        help="do not correct the mean output shift that weight rounding leaves",
    )
    q.add_argument(
        "--target-isa",
        choices=[i.value for i in Isa],
        default=Isa.PORTABLE.value,
        help="CPUs the model is for: portable (default) is correct on every x86 CPU (AVX2, AVX-512, "
        "VNNI, AMX); vnni/amx use the full int8 range but saturate on CPUs without VNNI; auto: this CPU",
    )
    q.add_argument("--preset", help=f"preprocessing: {presets}. Default: the model's own, else torchvision")
    q.add_argument("--calib-images", type=int, metavar="N", help="use at most N calibration images")
    q.add_argument("--batch-size", type=int, default=16)
    q.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="keep a node (by name) or an op type in FP32; repeatable",
    )
    q.add_argument("--threads", type=int, help="onnxruntime threads while calibrating")
    _common(q)

    e = sub.add_parser(
        "evaluate",
        help="top-1/top-5; with 2+ models also agreement with the first",
        description="Evaluate models on labelled data. The first model is the reference.",
    )
    e.add_argument("models", nargs="+", metavar="MODEL")
    e.add_argument("--data", required=True, help="list file, image folder, .npy or .npz")
    e.add_argument("--preset", help="preprocessing preset (default: the model's own)")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument(
        "--threads", type=int, help="threads per session (the seed's cpu_math_library_num_threads)"
    )
    e.add_argument("--backend", choices=["ort", "openvino", "auto"], default="ort")
    e.add_argument("--limit", type=int, metavar="N", help="evaluate the first N images only")
    _executor_args(e)
    _common(e)

    b = sub.add_parser(
        "benchmark",
        help="latency p50/p90 and throughput, side by side",
        description="Time models on random input; speed-up is vs the first model.",
    )
    b.add_argument("models", nargs="+", metavar="MODEL")
    b.add_argument("--batch", type=_ints, default=[1, 16], help="batch sizes, e.g. 1,16")
    b.add_argument("--threads", type=_ints, default=[2], help="thread counts, e.g. 1,2")
    b.add_argument(
        "--backend", type=lambda s: s.split(","), default=["ort"], help="ort, openvino or both: ort,openvino"
    )
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--repeat", type=int, default=10)
    _common(b)

    t = sub.add_parser(
        "tune",
        help="meet an accuracy budget: try settings, then keep the most sensitive layers in FP32",
        description="Quantize MODEL so that the drop on --eval stays within --max-drop points. The best "
        "model so far is saved after every trial; Ctrl-C or --time-budget leave it and the report. "
        "Exit code 0: within budget; 3: not met (the best model found is kept); 130: interrupted.",
    )
    t.add_argument("model", help="FP32 ONNX model")
    t.add_argument("-o", "--output", required=True, help="INT8 model to write (the best found)")
    t.add_argument("--calib", required=True, metavar="DATA", help="calibration data")
    t.add_argument("--eval", required=True, metavar="DATA", help="evaluation data (labelled for top1)")
    t.add_argument("--max-drop", type=float, default=0.3, help="allowed drop in points (default 0.3)")
    t.add_argument(
        "--metric",
        choices=["top1", "agreement"],
        default="top1",
        help="top1: top-1 accuracy drop; agreement: %% of images whose top-1 differs from FP32",
    )
    t.add_argument("--time-budget", type=_duration, metavar="T", help="stop after T (e.g. 90s, 10m, 1h)")
    t.add_argument("--eval-images", type=int, metavar="N", help="evaluate on the first N images")
    t.add_argument("--report", metavar="DIR", help="report folder (default: OUTPUT-tune next to the model)")
    t.add_argument("--preset", help="preprocessing preset (default: the model's own)")
    t.add_argument("--target-isa", choices=[i.value for i in Isa], default=Isa.PORTABLE.value)
    t.add_argument("--threads", type=int)
    t.add_argument(
        "--executor",
        default="local",
        metavar="local|processes|ray|ray://HOST:PORT",
        help="where trials are evaluated (default: this process, with early stopping)",
    )
    t.add_argument("--workers", type=int, help="processes or Ray workers")
    _common(t)

    c = sub.add_parser(
        "compare",
        help="per-tensor SQNR and cosine of INT8 against FP32, worst first",
        description="Run FP32 and INT8 on the same images and report, for every quantized tensor, "
        "how far the INT8 values are from FP32 (real INT8 kernels).",
    )
    c.add_argument("fp32", help="the FP32 model")
    c.add_argument("int8", help="the INT8 model made from it")
    c.add_argument("--data", required=True, help="images to compare on")
    c.add_argument("--preset", help="preprocessing preset (default: the model's own)")
    c.add_argument("--limit", type=int, default=64, metavar="N", help="images to use (default 64)")
    c.add_argument("--top", type=int, default=20, metavar="K", help="rows to print (default 20; --json: all)")
    c.add_argument("--threads", type=int)
    _common(c)

    r = sub.add_parser(
        "run",
        help="run a YAML job (ours or PaddleSlim's MKL-DNN layout)",
        description="Quantize (and optionally evaluate/benchmark) as a YAML file says.",
    )
    r.add_argument("config", help="YAML file")
    r.add_argument("--calib", metavar="DATA", help="calibration data (overrides the file)")
    _common(r)

    z = sub.add_parser("zoo", help="list or export the built-in models")
    zsub = z.add_subparsers(dest="zoo_cmd", required=True, parser_class=_Parser)
    zl = zsub.add_parser("list", help="the models and where their weights come from")
    _common(zl)
    zx = zsub.add_parser("export", help="export a zoo model to ONNX")
    zx.add_argument("name")
    zx.add_argument("-o", "--output", required=True)
    zx.add_argument("--random-weights", action="store_true", help="no download: same graph, random values")
    _common(zx)

    rp = sub.add_parser(
        "reproduce",
        help="the seed's ImageNet table: export, quantize on 100 warm-up images, evaluate the rest",
        description="For each model: export, quantize with the first --warmup images, evaluate FP32 and "
        "INT8 on the rest, time both; print the seed-style table. Finished models are kept in "
        "OUT/results, so an interrupted run resumes.",
    )
    rp.add_argument("--data", required=True, help="ImageNet val: list file, class folders or the seed's .bin")
    rp.add_argument("--models", help="comma-separated (default: the seed's seven)")
    rp.add_argument("--out", default="int8ptq-reproduce", help="models, results and table.md go here")
    rp.add_argument("--warmup", type=int, default=100, help="calibration images taken first (default 100)")
    rp.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="evaluate N images after the warm-up ones (default: all; 300 with --random-weights)",
    )
    rp.add_argument(
        "--random-weights",
        action="store_true",
        help="offline: speed and structure only (top-1 is not meaningful; agreement and cosine are)",
    )
    rp.add_argument("--threads", type=int, help="threads per session")
    _executor_args(rp)
    _common(rp)

    d = sub.add_parser("demo", help="offline: quantize EfficientNet-Lite0 on sample photos, print the gains")
    d.add_argument("-o", "--output-dir", default="int8ptq-demo", help="where to write the models")
    _common(d)
    return ap


def _version() -> str:
    from int8ptq import __version__

    return f"int8ptq {__version__}"


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"int8ptq: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    try:
        from int8ptq import commands

        return getattr(commands, f"cmd_{args.cmd}")(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"int8ptq: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("int8ptq: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - no traceback for users unless --debug
        if args.debug or os.environ.get("INT8PTQ_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"int8ptq: error: {type(e).__name__}: {msg} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
