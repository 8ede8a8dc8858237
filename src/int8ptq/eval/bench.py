"""Latency and throughput: warm-up, repeated timed runs, median and p90, ratios in one run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from int8ptq.config import BenchSection
from int8ptq.data.model_input import model_inputs
from int8ptq.eval.target import warn_saturation
from int8ptq.ir import load_model
from int8ptq.quant.isa import Isa
from int8ptq.runtime import Backend, input_for, make_runner, time_runner
from int8ptq.runtime.cpu import cpu_info


@dataclass(frozen=True)
class BenchRow:
    model: str
    backend: str
    batch: int
    threads: int
    p50_ms: float
    p90_ms: float
    images_per_s: float
    speedup: float | None = None  # throughput / the first model's, same batch/threads/backend


@dataclass(frozen=True)
class BenchResult:
    cpu: str
    isa: str
    flags: list[str]
    rows: list[BenchRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def benchmark(
    models: list[str | os.PathLike[str]],
    *,
    batches: Sequence[int] = BenchSection.batch_sizes,
    threads: Sequence[int] = BenchSection.threads,
    backends: Sequence[Backend | str] = (BenchSection.backend,),
    warmup: int = BenchSection.warmup,
    repeat: int = BenchSection.repeat,
    cpu_isa: Isa | str | None = None,
) -> BenchResult:
    """Time every model at every (backend, batch, threads); speed-up is vs the first model.
    `cpu_isa` overrides the detected CPU class for the saturation warning."""
    cpu = cpu_info()
    warn_saturation(((str(m), load_model(m)) for m in models), cpu_isa)
    res = BenchResult(cpu.model, cpu.isa, cpu.int8_flags)
    for backend in backends:
        for t in threads:
            for b in batches:
                base = None
                for m in models:
                    static = model_inputs(load_model(m)).batch
                    if static is not None and static != b:
                        continue  # a static batch dimension: only that batch runs
                    runner = make_runner(m, backend, t)
                    x = input_for(m, b)
                    ts = np.array(time_runner(runner.run, x, warmup, repeat)) * 1000
                    p50, p90 = float(np.median(ts)), float(np.percentile(ts, 90))
                    ips = b * 1000.0 / p50
                    base = ips if base is None else base
                    res.rows.append(BenchRow(str(m), runner.backend, b, t, p50, p90, ips, ips / base))
    return res
