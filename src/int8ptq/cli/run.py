"""`int8ptq run`: a YAML job (ours or PaddleSlim's MKL-DNN layout)."""

from __future__ import annotations

import argparse
import dataclasses

from int8ptq.cli import benchmark as bench_cmd
from int8ptq.cli import evaluate as eval_cmd
from int8ptq.cli import options as o
from int8ptq.cli import quantize as quant_cmd
from int8ptq.cli import tune as tune_cmd
from int8ptq.cli.output import emit_json
from int8ptq.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML file")
    p.add_argument("--calib", metavar="DATA", help="calibration data (default: the file's `calib`)")


def run(a: argparse.Namespace) -> int:
    from int8ptq.api import benchmark, evaluate, quantize
    from int8ptq.config_yaml import load_run_config

    cfg = load_run_config(a.config, calib=a.calib)
    if not cfg.calib:
        raise UserError(f"{a.config}: no calibration data: add `calib: DATA` or pass --calib DATA")
    qcfg = cfg.quantization
    if cfg.threads and not qcfg.threads:
        qcfg = dataclasses.replace(qcfg, threads=cfg.threads)
    if cfg.tune:
        from int8ptq.config import TuneConfig
        from int8ptq.tune import tune

        t = cfg.tune
        tc = TuneConfig(**{f.name: getattr(t, f.name) for f in dataclasses.fields(TuneConfig)})
        tr = tune(
            cfg.model, cfg.output, cfg.calib, t.eval, config=qcfg, tcfg=tc, on_trial=tune_cmd.show_trial
        )
        return tune_cmd.finish(tr, a, metric=tc.metric.value, max_drop=tc.max_drop)
    r = quantize(cfg.model, cfg.output, cfg.calib, config=qcfg)
    quant_cmd.print_result(r)
    out: dict[str, object] = {"quantize": r.to_dict()}
    if cfg.evaluate:
        ev = cfg.evaluate
        er = evaluate(
            [cfg.model, cfg.output],
            ev.data,
            preset=qcfg.preset,
            batch_size=ev.batch_size,
            threads=cfg.threads,
            backend=ev.backend,
            limit=ev.limit,
        )
        eval_cmd.print_result(er)
        out["evaluate"] = er.to_dict()
    if cfg.benchmark:
        bc = cfg.benchmark
        br = benchmark(
            [cfg.model, cfg.output],
            batches=bc.batch_sizes,
            threads=bc.threads,
            backends=[bc.backend],
            warmup=bc.warmup,
            repeat=bc.repeat,
        )
        bench_cmd.print_result(br)
        out["benchmark"] = br.to_dict()
    emit_json(a, out)
    return 0


COMMAND = o.Command(
    name="run",
    help="run a YAML job (ours or PaddleSlim's MKL-DNN layout)",
    description="Quantize (or tune), then optionally evaluate and benchmark, as a YAML file says.",
    examples=("int8ptq run job.yaml", "int8ptq run paddleslim.yaml --calib calib.txt"),
    add_arguments=add_arguments,
    run=run,
)
