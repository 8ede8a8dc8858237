"""Options as frozen dataclasses. YAML files (ours and PaddleSlim's) map onto these."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from int8ptq.calib.ranges import RangeMethod
from int8ptq.quant.isa import Isa


class Rounding(str, enum.Enum):
    NEAREST = "nearest"  # round each weight to the nearest int8
    COMPENSATE = "compensate"  # error-compensating rounding from input statistics (GPTQ)


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize. The defaults are what `int8ptq quantize` uses."""

    method: RangeMethod = RangeMethod.MSE  # activation range method
    per_channel: bool = True  # int8 weight scales per output channel
    rounding: Rounding = Rounding.COMPENSATE  # how weights are rounded to int8
    bias_correction: bool = True  # cancel the mean output shift that weight rounding leaves
    # cross-layer equalization of Conv -> act -> Conv pairs; off: it did not help on the real
    # weights measured (BENCHMARKS.md, "Cross-layer equalization")
    equalize: bool = False
    # the CPUs the model must run on: portable (every x86 CPU, weights pair-guarded), or one class;
    # auto: this machine's class
    target_isa: Isa = Isa.PORTABLE
    calib_images: int | None = None  # use at most this many calibration images
    batch_size: int = 16  # calibration batch size
    percentile: float = 99.999
    bins: int = 2048
    exclude: tuple[str, ...] = ()  # node names or op types kept in FP32
    preset: str | None = None  # preprocessing preset; None: the model's own, else torchvision
    threads: int | None = None  # onnxruntime threads during calibration
    extra: dict[str, str] = field(default_factory=dict)  # free-form metadata written to the model

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", RangeMethod(self.method))
        object.__setattr__(self, "target_isa", Isa(self.target_isa))
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError("percentile must be in (50, 100]")


@dataclass(frozen=True)
class EvalSection:
    data: str
    batch_size: int = 16
    limit: int | None = None
    backend: str = "ort"


@dataclass(frozen=True)
class BenchSection:
    batch_sizes: tuple[int, ...] = (1, 16)
    threads: tuple[int, ...] = (2,)
    backend: str = "ort"
    repeat: int = 10


@dataclass(frozen=True)
class TuneSection:
    eval: str
    max_drop: float = 0.3
    metric: str = "top1"
    time_budget: float | None = None  # seconds
    eval_images: int | None = None


@dataclass(frozen=True)
class RunConfig:
    """A whole job: quantize, then optionally evaluate and benchmark (`int8ptq run`)."""

    model: str
    output: str
    calib: str | None = None
    threads: int | None = None
    quantization: QuantConfig = field(default_factory=QuantConfig)
    evaluate: EvalSection | None = None
    benchmark: BenchSection | None = None
    tune: TuneSection | None = None  # when present, `run` tunes instead of quantizing
