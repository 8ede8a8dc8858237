"""What each CLI subcommand does: call the API, print a table, write --json."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from int8ptq.errors import UserError
from int8ptq.util.tables import console, mb, num, pct, table, write_json


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UserError(f"{name} must be at least 1, got {value}")


def _skipped_line(skipped: list[str]) -> None:
    if skipped:
        first = ", ".join(Path(s).name for s in skipped[:3])
        console.print(f"[yellow]skipped {len(skipped)} unreadable images or bad lines[/] (first: {first})")


def _print_quant(r) -> None:  # noqa: ANN001
    rows = [
        [
            "model size",
            f"{mb(r.fp32_bytes)} -> {mb(r.int8_bytes)} ({100 * r.int8_bytes / r.fp32_bytes:.0f}%)",
        ],
        ["calibration images", str(r.calib_images)],
        ["INT8 ops", str(r.quantized_nodes)],
        ["FP32 ops left", ", ".join(f"{k} x{v}" for k, v in sorted(r.float_nodes.items())) or "none"],
        ["method / preset", f"{r.settings['method']} / {r.settings['preset']}"],
        ["target ISA", r.target_isa],
        ["time", f"{r.seconds:.1f} s"],
    ]
    if r.opset_upgraded:
        rows.insert(0, ["opset", f"{r.opset_upgraded.replace('->', ' -> ')} (upgraded in memory)"])
    rows += _fallback_rows(r)
    table(f"wrote {r.output}", ["setting", "value"], rows)
    _skipped_line(r.skipped_images)


def _fallback_rows(r) -> list[list[str]]:  # noqa: ANN001
    """Layers that kept nearest rounding / got no bias correction: count per reason."""
    rows = []
    fallbacks = (("nearest rounding", r.rounding_fallbacks), ("no bias correction", r.bias_fallbacks))
    for title, by_reason in fallbacks:
        for reason, layers in sorted(by_reason.items()):
            rows.append([title, f"{len(layers)} layer{'s' * (len(layers) != 1)}: {reason}"])
    return rows


def cmd_quantize(a: argparse.Namespace) -> int:
    from int8ptq.api import quantize
    from int8ptq.config import QuantConfig

    _positive("--batch-size", a.batch_size)
    _positive("--calib-images", a.calib_images)
    _positive("--threads", a.threads)
    kw = {"method": a.method} if a.method else {}
    cfg = QuantConfig(
        rounding=a.rounding,
        bias_correction=not a.no_bias_correction,
        equalize=a.equalize,
        per_channel=not a.per_tensor,
        target_isa=a.target_isa,
        preset=a.preset,
        calib_images=a.calib_images,
        batch_size=a.batch_size,
        exclude=tuple(a.exclude),
        threads=a.threads,
        **kw,
    )
    r = quantize(a.model, a.output, a.calib, cfg)
    _print_quant(r)
    if a.json:
        write_json(a.json, r.to_dict())
    return 0


def _print_eval(r) -> None:  # noqa: ANN001
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
    _skipped_line(r.skipped_images)


def cmd_evaluate(a: argparse.Namespace) -> int:
    from int8ptq.api import evaluate

    _positive("--batch-size", a.batch_size)
    _positive("--limit", a.limit)
    _positive("--workers", a.workers)
    r = evaluate(
        a.models,
        a.data,
        a.preset,
        a.batch_size,
        a.threads,
        a.backend,
        a.limit,
        a.executor,
        a.workers,
        None if a.no_cache else _eval_cache(),
    )
    _print_eval(r)
    if a.json:
        write_json(a.json, r.to_dict())
    return 0


def _eval_cache() -> Path:
    from int8ptq.zoo.download import cache_dir

    return cache_dir().parent / "eval"


def _print_bench(r) -> None:  # noqa: ANN001
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


def cmd_benchmark(a: argparse.Namespace) -> int:
    from int8ptq.api import benchmark

    for bk in a.backend:
        if bk not in ("ort", "openvino", "auto"):
            raise UserError(f"unknown backend {bk!r}; valid: ort, openvino, auto")
    r = benchmark(a.models, a.batch, a.threads, a.backend, a.warmup, a.repeat)
    _print_bench(r)
    if a.json:
        write_json(a.json, r.to_dict())
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from int8ptq.eval.compare import compare

    _positive("--limit", a.limit)
    r = compare(a.fp32, a.int8, a.data, a.preset, limit=a.limit, threads=a.threads)
    rows = [
        [t.tensor, t.producer, f"{t.sqnr_db:.1f}", f"{t.cosine:.5f}", f"{t.max_abs_err:.3g}"]
        for t in r.tensors[: a.top]
    ]
    table(
        f"INT8 vs FP32 per tensor, worst first ({r.images} images)",
        ["tensor", "producer", "SQNR dB", "cosine", "max |err|"],
        rows,
    )
    if a.json:
        write_json(a.json, r.to_dict())
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from int8ptq.api import benchmark, evaluate, quantize
    from int8ptq.config_yaml import load_run_config

    cfg = load_run_config(a.config, calib=a.calib)
    if not cfg.calib:
        raise UserError(f"{a.config}: no calibration data: add `calib: DATA` or pass --calib DATA")
    qcfg = cfg.quantization
    if cfg.threads and not qcfg.threads:
        import dataclasses

        qcfg = dataclasses.replace(qcfg, threads=cfg.threads)
    out: dict[str, object] = {}
    if cfg.tune:
        from int8ptq.tune import TuneConfig, tune

        t = cfg.tune
        tr = tune(
            cfg.model,
            cfg.output,
            cfg.calib,
            t.eval,
            qcfg,
            TuneConfig(t.max_drop, t.metric, t.time_budget, eval_images=t.eval_images),
        )
        a.metric = t.metric
        return _print_tune(tr, a)
    r = quantize(cfg.model, cfg.output, cfg.calib, qcfg)
    _print_quant(r)
    out["quantize"] = r.to_dict()
    if cfg.evaluate:
        ev = cfg.evaluate
        er = evaluate(
            [cfg.model, cfg.output], ev.data, qcfg.preset, ev.batch_size, cfg.threads, ev.backend, ev.limit
        )
        _print_eval(er)
        out["evaluate"] = er.to_dict()
    if cfg.benchmark:
        bc = cfg.benchmark
        br = benchmark(
            [cfg.model, cfg.output], list(bc.batch_sizes), list(bc.threads), [bc.backend], 3, bc.repeat
        )
        _print_bench(br)
        out["benchmark"] = br.to_dict()
    if a.json:
        write_json(a.json, out)
    return 0


def cmd_zoo(a: argparse.Namespace) -> int:
    from int8ptq.zoo.registry import MODELS

    if a.zoo_cmd == "list":
        rows = [[m.name, f"{m.params:,}", m.preset, m.source] for m in MODELS.values()]
        table("zoo", ["model", "parameters", "preset", "weights"], rows)
        if a.json:
            write_json(
                a.json,
                [
                    {"name": m.name, "params": m.params, "preset": m.preset, "source": m.source}
                    for m in MODELS.values()
                ],
            )
        return 0
    from int8ptq.zoo.export import export

    path = export(a.name, a.output, a.random_weights)
    console.print(f"wrote {path} ({mb(os.path.getsize(path))})")
    if a.json:
        write_json(a.json, {"name": a.name, "output": str(path), "random_weights": a.random_weights})
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from int8ptq.demo import run_demo

    res = run_demo(Path(a.output_dir))
    rows = [[k, v] for k, v in res["table"].items()]
    table("EfficientNet-Lite0: FP32 -> INT8 (offline demo)", ["setting", "value"], rows)
    if a.json:
        write_json(a.json, res)
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    from int8ptq.reproduce import SEED_MODELS, reproduce, table_markdown

    _positive("--limit", a.limit)
    _positive("--warmup", a.warmup)
    models = a.models.split(",") if a.models else SEED_MODELS
    rows = reproduce(
        a.data,
        Path(a.out),
        models,
        a.warmup,
        a.random_weights,
        a.limit,
        a.threads,
        a.executor,
        a.workers,
        None if a.no_cache else _eval_cache(),
    )
    console.print(table_markdown(rows))
    console.print(f"table written to {Path(a.out) / 'table.md'}")
    if a.json:
        from dataclasses import asdict

        write_json(a.json, [asdict(r) for r in rows])
    return 0


def cmd_tune(a: argparse.Namespace) -> int:
    from int8ptq.config import QuantConfig
    from int8ptq.tune import TuneConfig, tune

    _positive("--eval-images", a.eval_images)
    cfg = QuantConfig(preset=a.preset, target_isa=a.target_isa, threads=a.threads)
    tc = TuneConfig(a.max_drop, a.metric, a.time_budget, eval_images=a.eval_images)

    def show(t) -> None:  # noqa: ANN001
        drop = "stopped early" if t.drop is None else f"drop {t.drop:.3f} pts"
        console.print(
            f"trial {t.index}: {t.name}: {drop}, {t.images_per_s:.0f} img/s"
            + (" [green]within budget[/]" if t.met else "")
        )

    r = tune(
        a.model,
        a.output,
        a.calib,
        a.eval,
        cfg,
        tc,
        a.report,
        on_trial=show,
        executor=a.executor,
        workers=a.workers,
    )
    return _print_tune(r, a)


def _print_tune(r, a: argparse.Namespace) -> int:  # noqa: ANN001
    b = r.best
    rows = [
        ["result", "within budget" if r.met else "budget NOT met: kept the best model found"],
        ["stopped by", r.stopped or "-"],
        ["best trial", f"{b.index}: {b.name} (method {b.method})"],
        ["drop", "over budget (stopped early)" if b.drop is None else f"{b.drop:.3f} points of {a.metric}"],
        ["layers in FP32", ", ".join(b.fallback) or "none"],
        ["model", r.output],
        ["report", r.report],
    ]
    table("tune", ["setting", "value"], rows)
    if a.json:
        from dataclasses import asdict

        write_json(a.json, asdict(r))
    if r.stopped == "interrupted":
        return 130
    return 0 if r.met else 3
