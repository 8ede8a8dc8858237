"""`int8ptq tune`: meet an accuracy budget, cheapest change first, always keeping the best model.

1. Calibrate once (histograms and weight statistics for every trial); decode the evaluation
   images and compute the FP32 outputs once.
2. Try the defaults, then the other range methods (cheapest changes: no speed cost).
3. Rank quantized tensors by their share of the output error (`compare --attribute`; then
   by the error each layer adds), then keep the worst tensors in FP32, fewest first, until
   the budget is met.
Every trial is logged; the best model so far is saved atomically after each trial, and the
report rewritten, so Ctrl-C or the time budget at any moment leaves a valid model and report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from int8ptq.calib.ranges import RangeMethod
from int8ptq.config import Metric, QuantConfig, TuneConfig
from int8ptq.data.source import DataLike, iter_batches
from int8ptq.errors import UserError
from int8ptq.eval.compare import compare
from int8ptq.eval.fidelity import Metric as TaskMetric
from int8ptq.eval.sensitivity import rank
from int8ptq.ir import load_model, save_model
from int8ptq.pipeline import Calibrated, Prepared, build, calibrate_model
from int8ptq.runtime import Backend, Runner, make_runner
from int8ptq.shard.executors import Executor, run_shards, threads_per_worker
from int8ptq.shard.work import EvalJob, make_shards
from int8ptq.tune.report import load_matplotlib, write_report
from int8ptq.tune.result import Trial, TuneResult


class _Deadline(Exception):
    pass


class _EvalSet:
    """Evaluation batches and FP32 outputs, computed once for all trials."""

    def __init__(
        self,
        prep: Prepared,
        data: DataLike,
        limit: int | None,
        threads: int | None,
        metric: TaskMetric | None = None,
    ) -> None:
        batches, _ = iter_batches(data, prep.inputs, prep.preset, 32, limit)
        self.batches = list(batches)
        if not self.batches:
            raise UserError("no evaluation images could be read")
        self.y = np.concatenate([b.labels for b in self.batches])
        fp32 = make_runner(prep.graph.to_model(), Backend.ORT, threads)
        self.metric = metric
        self.ref_outs = [
            dict(zip(fp32.output_names, fp32.run_all(b.inputs), strict=True)) for b in self.batches
        ]
        first = fp32.output_names[0]
        pairs = zip(self.ref_outs, self.batches, strict=True)
        self.ref_top1 = np.concatenate([_top1(o[first], len(b)) for o, b in pairs])
        if metric is not None:  # the metric of FP32 against itself: the value to keep
            self.ref_value = float(metric(self.ref_outs, self.ref_outs, [b.inputs for b in self.batches]))
        else:
            self.ref_outs = []  # only the metric needs every output
        self.labelled = self.y >= 0
        self.fp32_correct = int((self.ref_top1 == self.y)[self.labelled].sum())

    @property
    def x(self) -> list[dict[str, np.ndarray]]:
        """The first batches (64 samples or more) for the sensitivity measurement."""
        out, n = [], 0
        for b in self.batches:
            out.append(b.inputs)
            n += len(b)
            if n >= 64:
                break
        return out

    def drop(
        self,
        model: onnx.ModelProto,
        metric: Metric,
        max_drop: float,
        threads: int | None,
        deadline: float | None,
    ) -> tuple[float | None, float]:
        """(drop as a fraction or None if it provably exceeds max_drop, INT8 images/s)."""
        runner = make_runner(model, Backend.ORT, threads)
        if self.metric is not None:
            return self._metric_drop(runner, deadline)
        n, lab = len(self.y), int(self.labelled.sum())
        if metric is Metric.TOP1 and lab == 0:
            raise UserError("--metric top1 needs labelled evaluation data; use --metric agreement")
        bad = correct = seen = 0
        spent = 0.0
        for b in self.batches:
            if deadline is not None and time.monotonic() > deadline:
                raise _Deadline
            t = time.perf_counter()
            top = _top1(runner.run(b.inputs), len(b))
            spent += time.perf_counter() - t
            sl = slice(seen, seen + len(b))
            seen += len(b)
            bad += int((top != self.ref_top1[sl]).sum())
            m = self.labelled[sl]
            correct += int((top == self.y[sl])[m].sum())
            if metric is Metric.AGREEMENT:
                lower = bad / n
            else:  # even if every remaining image were right
                remaining = int(self.labelled[seen:].sum())
                lower = (self.fp32_correct - correct - remaining) / lab
            if lower > max_drop:
                return None, seen / max(spent, 1e-9)
        if metric is Metric.AGREEMENT:
            return bad / n, n / spent
        return (self.fp32_correct - correct) / lab, n / spent

    def _metric_drop(self, runner: Runner, deadline: float | None) -> tuple[float, float]:
        """The user's metric: FP32's value against itself minus this model's."""
        assert self.metric is not None
        outs, spent = [], 0.0
        for b in self.batches:
            if deadline is not None and time.monotonic() > deadline:
                raise _Deadline
            t = time.perf_counter()
            outs.append(dict(zip(runner.output_names, runner.run_all(b.inputs), strict=True)))
            spent += time.perf_counter() - t
        value = float(self.metric(self.ref_outs, outs, [b.inputs for b in self.batches]))
        return self.ref_value - value, len(self.y) / max(spent, 1e-9)


def _top1(y: np.ndarray, n: int) -> np.ndarray:
    return y.reshape(n, -1).argmax(1)


class _ShardedEvalSet:
    """The same measurement on an executor (processes, Ray): FP32 top-1 once, then each trial's
    model is shipped to the workers with shard descriptors. No early stop: shards run at once."""

    def __init__(
        self, prep: Prepared, data: str, limit: int | None, ex: Executor, threads: int | None
    ) -> None:
        from int8ptq.data.dataset import open_dataset

        n = len(open_dataset(data)) if limit is None else min(limit, len(open_dataset(data)))
        self.data, self.prep, self.ex, self.threads = data, prep, ex, threads_per_worker(ex, threads)
        self.shards = make_shards(n, 16, max(16, n // (4 * ex.worker_count())))
        ref = self._run(prep.graph.to_model())
        self.labels, self.ref_top1 = ref[0], ref[1]
        self.labelled = self.labels >= 0
        self.fp32_correct = int((self.ref_top1 == self.labels)[self.labelled].sum())

    def _run(self, model: onnx.ModelProto) -> tuple[np.ndarray, np.ndarray, float]:
        p = self.prep
        job = EvalJob(
            (model.SerializeToString(),),
            self.data,
            p.preset,
            p.preset.crop,
            p.inputs.only_image().layout,
            16,
            "ort",
            self.threads,
        )
        t = time.perf_counter()
        parts = run_shards(job, self.shards, self.ex)
        labels = np.concatenate([r.labels for r in parts])
        return labels, np.concatenate([r.top[0, :, 0] for r in parts]), time.perf_counter() - t

    def drop(
        self,
        model: onnx.ModelProto,
        metric: Metric,
        max_drop: float,
        threads: int | None,
        deadline: float | None,
    ) -> tuple[float | None, float]:
        if deadline is not None and time.monotonic() > deadline:
            raise _Deadline
        _, top, sec = self._run(model)
        n, lab = len(top), int(self.labelled.sum())
        if metric is Metric.AGREEMENT:
            d = float((top != self.ref_top1).sum()) / n
        else:
            if lab == 0:
                raise UserError("--metric top1 needs labelled evaluation data; use --metric agreement")
            d = (self.fp32_correct - int((top == self.labels)[self.labelled].sum())) / lab
        return (d if d <= max_drop else None), n / max(sec, 1e-9)

    @property
    def x(self) -> list[dict[str, np.ndarray]]:
        """Batches for the sensitivity measurement (the first 64 images, decoded here)."""
        batches, _ = iter_batches(self.data, self.prep.inputs, self.prep.preset, 16, 64)
        return [b.inputs for b in batches]


def tune(
    model: str | Path | onnx.ModelProto,
    output: str | Path,
    calib: DataLike,
    eval_data: DataLike,
    *,
    config: QuantConfig | None = None,
    tcfg: TuneConfig | None = None,
    report_dir: str | Path | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    executor: str = "local",
    workers: int | None = None,
    metric: TaskMetric | None = None,
) -> TuneResult:
    """Search settings and FP32 fallbacks until the drop is within budget; see the module doc.
    `metric(fp32_outputs, int8_outputs, inputs) -> float` (higher is better; eval/fidelity.py)
    replaces top-1: the drop is its FP32-vs-FP32 value minus the trial's."""
    cfg, tc = config or QuantConfig(), tcfg or TuneConfig()
    start = time.monotonic()
    deadline = None if tc.time_budget is None else start + tc.time_budget
    out = Path(output)
    rdir = Path(report_dir) if report_dir else out.with_name(out.stem + "-tune")
    proto = model if isinstance(model, onnx.ModelProto) else load_model(model)
    cal = calibrate_model(proto, calib, cfg, every_method=True)
    prep, stats = cal.prep, cal.stats
    ev = _eval_set(prep, eval_data, tc, cfg, Executor.parse(executor, workers), metric)
    res = TuneResult(
        str(out),
        False,
        None,
        fp32_top1=ev.fp32_correct / max(int(ev.labelled.sum()), 1) if ev.labelled.any() else None,
    )
    load_matplotlib()

    def trial(name: str, c: QuantConfig, fallback: list[str]) -> Trial:
        t0 = time.perf_counter()
        m, _ = build(prep, stats, c, prep.plan(list(c.exclude) + list(cal.hotspots) + fallback, c.runtime))
        # the first trial always finishes, so a budget never leaves the user without a model
        drop, ips = ev.drop(m, tc.metric, tc.max_drop, c.threads, deadline if res.trials else None)
        tr = Trial(
            len(res.trials) + 1,
            name,
            c.method.value,
            fallback,
            drop,
            ips,
            time.perf_counter() - t0,
            drop is not None and drop <= tc.max_drop,
            "" if drop is not None else "stopped early: cannot meet the budget",
        )
        res.trials.append(tr)
        if _better(tr, res.best):
            save_model(m, out)  # atomic: the previous best stays until this one is complete
            res.best = tr
        res.met = res.best is not None and res.best.met
        res.report = str(write_report(res, tc, rdir))
        if on_trial:
            on_trial(tr)
        return tr

    try:
        _search(trial, cfg, cal, ev, tc, res)
    except _Deadline:
        res.stopped = "time budget"
    except KeyboardInterrupt:
        res.stopped = "interrupted"
    if deadline is not None and time.monotonic() > deadline and not res.stopped and not res.met:
        res.stopped = "time budget"
    if res.best is None:
        raise UserError("tuning stopped before any trial finished; no model written")
    res.report = str(write_report(res, tc, rdir))
    return res


def _eval_set(
    prep: Prepared, data: DataLike, tc: TuneConfig, cfg: QuantConfig, ex: Executor, metric: TaskMetric | None
) -> _EvalSet | _ShardedEvalSet:
    if ex.kind == "local":
        return _EvalSet(prep, data, tc.eval_images, cfg.threads, metric)
    if metric is not None:
        raise UserError("a metric function runs in this process: use the local executor")
    if isinstance(data, (str, Path)):
        return _ShardedEvalSet(prep, str(data), tc.eval_images, ex, cfg.threads)
    raise UserError("--executor processes/ray needs the evaluation data as a path")


# the range methods tried after the defaults, the likeliest to help first
METHODS = (RangeMethod.OUTPUT, RangeMethod.PERCENTILE, RangeMethod.KL, RangeMethod.AUTO, RangeMethod.MINMAX)


def _search(
    trial: Callable[[str, QuantConfig, list[str]], Trial],
    cfg: QuantConfig,
    cal: Calibrated,
    ev: _EvalSet | _ShardedEvalSet,
    tc: TuneConfig,
    res: TuneResult,
) -> None:
    """The defaults, then the other range methods, then FP32 fallbacks of the layers that
    add the most error, fewest first; stops at the first trial within budget."""
    best_cfg = cfg
    if not trial("defaults", cfg, []).met:
        for m in METHODS:
            if m is cfg.method:
                continue
            if trial(f"method {m.value}", dataclasses.replace(cfg, method=m), []).met:
                break
        best_cfg = dataclasses.replace(cfg, method=RangeMethod(res.best.method)) if res.best else cfg
    if res.met:
        return
    prep = cal.prep
    best_plan = prep.plan(list(best_cfg.exclude) + list(cal.hotspots), best_cfg.runtime)
    model_q, _ = build(prep, cal.stats, best_cfg, best_plan)
    cmp = compare(
        prep.graph.to_model(), model_q, ev.x, limit=64, threads=cfg.threads, isolated=True, attributed=True
    )
    res.sensitivity = rank(prep.graph, best_plan, cmp)
    fallback: list[str] = []
    for s in res.sensitivity[: tc.max_fallback]:
        new = [n for n in s.fallback if n not in fallback]
        if not new:
            continue
        fallback = fallback + new
        if trial(f"FP32: {s.layer}", best_cfg, fallback).met:
            break


def _better(t: Trial, best: Trial | None) -> bool:
    """Within budget beats over budget; then fewer FP32 layers, then the smaller drop."""
    if t.drop is None:
        return best is None
    if best is None or best.drop is None:
        return True
    if t.met != best.met:
        return t.met
    if t.met:
        return (len(t.fallback), t.drop) < (len(best.fallback), best.drop)
    return t.drop < best.drop
