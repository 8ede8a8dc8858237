"""Options as frozen dataclasses. YAML files (ours and PaddleSlim's) map onto these."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from int8ptq.calib.observers import HISTOGRAM_SAMPLES
from int8ptq.calib.ranges import RangeMethod
from int8ptq.data.presets import Preprocessing
from int8ptq.errors import UserError
from int8ptq.quant.isa import Isa
from int8ptq.quant.rules import Runtime


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
    # a Clip's output (ReLU6) is ranged up to the Clip's bound where calibration reaches half of
    # it, so rare large values are not clipped (BENCHMARKS.md, "Bounded activations")
    activation_bounds: bool = True
    # an activation whose quantization alone causes a fifth of the output error stays float with its
    # layers, if they are within 5% of the compute (hotspots.py; BENCHMARKS.md, "Error hotspots")
    float_hotspots: bool = True
    # cross-layer equalization of Conv -> act -> Conv pairs; off: it did not help on the real
    # weights measured (BENCHMARKS.md, "Cross-layer equalization")
    equalize: bool = False
    # the CPUs the model must run on: portable (every x86 CPU, weights pair-guarded), or one class;
    # auto: this machine's class
    target_isa: Isa = Isa.PORTABLE
    # the runtime whose kernels the QDQ layout suits: onnxruntime (every quantized op's output
    # quantized), or openvino (outputs read only by float ops stay float); it runs on both
    runtime: Runtime = Runtime.ONNXRUNTIME
    calib_images: int | None = None  # use at most this many calibration images
    batch_size: int = 16  # calibration batch size
    percentile: float = 99.999
    bins: int = 2048
    # values of each calibration sample kept in a tensor's range histogram (a strided grid over
    # H and W, or seeded positions); None: every value (BENCHMARKS.md, "Calibration spread")
    histogram_samples: int | None = HISTOGRAM_SAMPLES
    exclude: tuple[str, ...] = ()  # node names or op types kept in FP32
    # preprocessing: a preset name, or a Preprocessing (a preset with fields overridden);
    # None: the values recorded in the model, else its named preset, else torchvision
    preset: str | Preprocessing | None = None
    threads: int | None = None  # onnxruntime threads during calibration
    extra: dict[str, str] = field(default_factory=dict)  # free-form metadata written to the model

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", RangeMethod(self.method))
        object.__setattr__(self, "target_isa", Isa(self.target_isa))
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        object.__setattr__(self, "runtime", Runtime(self.runtime))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.histogram_samples is not None and self.histogram_samples < 1:
            raise ValueError("histogram_samples must be at least 1 (None: every value)")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError("percentile must be in (50, 100]")


class Metric(str, enum.Enum):
    TOP1 = "top1"  # drop in top-1 accuracy (needs labels)
    AGREEMENT = "agreement"  # share of images whose top-1 differs from FP32


@dataclass(frozen=True)
class TuneConfig:
    """How `tune` searches. Drops are fractions, as NNCF's `max_drop`: 0.01 is one point."""

    max_drop: float = 0.003  # fraction of the metric (0.003 = 0.3 points of top-1)
    metric: Metric = Metric.TOP1
    time_budget: float | None = None  # seconds
    max_fallback: int = 32  # tensors kept in FP32 at most
    eval_images: int | None = None  # evaluate on the first N images only

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric(self.metric))
        if not 0 <= self.max_drop <= 1:
            raise UserError(f"max_drop is a fraction in [0, 1] (0.01 = one point), got {self.max_drop}")


@dataclass(frozen=True)
class EvalSection:
    """Evaluation options; `evaluate()` and the CLI take their defaults from here."""

    data: str
    batch_size: int = 16
    limit: int | None = None
    backend: str = "ort"


@dataclass(frozen=True)
class BenchSection:
    """Benchmark options; `benchmark()` and the CLI take their defaults from here."""

    batch_sizes: tuple[int, ...] = (1, 16)
    threads: tuple[int, ...] = (2,)
    backend: str = "ort"
    warmup: int = 3
    repeat: int = 10


@dataclass(frozen=True, kw_only=True)
class TuneSection(TuneConfig):
    """A YAML `tune:` section: the tuning options and the evaluation data."""

    eval: str


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
