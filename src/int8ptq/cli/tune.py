"""`int8ptq tune`: meet an accuracy budget: try settings, then keep the most sensitive layers in FP32."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from int8ptq.cli import options as o
from int8ptq.cli.output import emit_json
from int8ptq.util.tables import console, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    from int8ptq.config import Metric, TuneConfig

    p.add_argument("model", help="FP32 ONNX model")
    p.add_argument(
        "-o", "--output", required=True, metavar="PATH", help="INT8 model to write (the best found)"
    )
    p.add_argument("--calib", required=True, metavar="DATA", help="calibration data")
    p.add_argument("--eval", required=True, metavar="DATA", help="evaluation data (labelled for top1)")
    g = p.add_argument_group("budget")
    g.add_argument(
        "--max-drop",
        type=float,
        metavar="FRACTION",
        default=TuneConfig.max_drop,
        help="allowed drop as a fraction of the metric, as NNCF's max_drop: 0.01 = 1 point",
    )
    g.add_argument(
        "--metric",
        choices=o.values(Metric),
        default=o.default(TuneConfig, "metric"),
        help="top1: top-1 accuracy drop; agreement: share of images whose top-1 differs from FP32",
    )
    g.add_argument(
        "--time-budget", type=o.duration, metavar="T", help="stop after T, e.g. 90s, 10m, 1h (default: none)"
    )
    g.add_argument(
        "--eval-images", type=o.positive, metavar="N", help="evaluate on the first N images (default: all)"
    )
    g.add_argument("--report", metavar="DIR", help="report folder (default: OUTPUT-tune next to the model)")
    o.add_quant_options(p)
    o.add_preset(p)
    o.add_executor_options(p, cache=False)


def show_trial(t: Any) -> None:
    drop = "stopped early" if t.drop is None else f"drop {100 * t.drop:.2f} points"
    console.print(
        f"trial {t.index}: {t.name}: {drop}, {t.images_per_s:.0f} img/s"
        + (" [green]within budget[/]" if t.met else "")
    )


def finish(r: Any, a: argparse.Namespace, *, metric: str, max_drop: float) -> int:
    """Print the outcome, write --json; the exit code: 0 met, 3 not met, 130 interrupted."""
    b = r.best
    drop = "over budget (stopped early)" if b.drop is None else f"{100 * b.drop:.2f} points ({b.drop:.4f})"
    rows = [
        ["result", "within budget" if r.met else "budget NOT met: kept the best model found"],
        ["budget", f"{100 * max_drop:.2f} points of {metric} (max_drop {max_drop})"],
        ["stopped by", r.stopped or "-"],
        ["best trial", f"{b.index}: {b.name} (method {b.method})"],
        ["drop", drop],
        ["layers in FP32", ", ".join(b.fallback) or "none"],
        ["model", r.output],
        ["report", r.report],
    ]
    table("tune", ["setting", "value"], rows)
    emit_json(a, {**asdict(r), "max_drop": max_drop, "metric": metric, "drop_unit": "fraction"})
    if r.stopped == "interrupted":
        return 130
    return 0 if r.met else 3


def run(a: argparse.Namespace) -> int:
    from int8ptq.config import TuneConfig
    from int8ptq.tune import tune

    tc = TuneConfig(a.max_drop, a.metric, a.time_budget, eval_images=a.eval_images)
    r = tune(
        a.model,
        a.output,
        a.calib,
        a.eval,
        config=o.quant_config(a),
        tcfg=tc,
        report_dir=a.report,
        on_trial=show_trial,
        executor=a.executor,
        workers=a.workers,
    )
    return finish(r, a, metric=tc.metric.value, max_drop=tc.max_drop)


COMMAND = o.Command(
    name="tune",
    help="meet an accuracy budget: try settings, then keep the most sensitive layers in FP32",
    description="Quantize MODEL so that the drop on --eval stays within --max-drop (a fraction: 0.01 "
    "is one point). Takes every quantize option. The best model so far is saved after every trial; "
    "Ctrl-C or --time-budget leave it and the report. Exit code 0: within budget; 3: not met (the "
    "best model found is kept); 130: interrupted.",
    examples=(
        "int8ptq tune model.onnx -o model.int8.onnx --calib calib.txt --eval eval.txt --max-drop 0.003",
        "int8ptq tune model.onnx -o model.int8.onnx --calib calib.txt --eval eval.txt --max-drop 0.01 "
        "--metric agreement --time-budget 10m --method percentile",
    ),
    add_arguments=add_arguments,
    run=run,
)
