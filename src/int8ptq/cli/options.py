"""What every subcommand shares: the command record, the help formatter, argument types and the
option groups defined once (quantize options, executor, output). Defaults come from the config
dataclasses; choices from the enums."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from int8ptq.errors import UserError


@dataclass(frozen=True)
class Command:
    """One row of the dispatch table: a subcommand, its options and what it runs."""

    name: str
    help: str
    description: str
    examples: tuple[str, ...]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default; an option whose default is None says it in its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default in (None, argparse.SUPPRESS) or "default" in text:
            return text
        if isinstance(action.default, (list, tuple)):
            return text + " (default: " + ",".join(map(str, action.default)) + ")"
        return text + " (default: %(default)s)"


def deprecated(new: str) -> type[argparse.Action]:
    """An old option spelling: still works, says once on stderr which one replaced it."""

    class Alias(argparse.Action):
        def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
            from int8ptq.util.tables import warn

            warn(f"{option_string} is deprecated; use {new}")
            setattr(namespace, self.dest, values)

    return Alias


def examples(lines: tuple[str, ...]) -> str:
    return "examples:\n" + "\n".join(f"  {ln}" for ln in lines)


def default(cls: type, name: str) -> Any:
    """A config dataclass field's default (an enum's value), for showing and parsing."""
    value = {f.name: f for f in dataclasses.fields(cls)}[name].default
    return getattr(value, "value", value)


def values(enum_cls: Any) -> list[str]:
    return [m.value for m in enum_cls]


def ints(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    t = text.strip().lower()
    try:
        return float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 10m or 1h, got {text!r}") from None


def common_parent() -> Parser:
    """Options every subcommand takes."""
    p = Parser(add_help=False)
    g = p.add_argument_group("output")
    g.add_argument(
        "--json",
        metavar="PATH",
        help="also write the figures as JSON to PATH (atomically); '-' writes JSON to stdout and "
        "everything else to stderr (default: no JSON)",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no tables or progress bars; warnings stay")
    g.add_argument("-v", "--verbose", action="store_true", help="log each stage's time to stderr")
    g.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def add_executor_options(p: argparse.ArgumentParser, *, cache: bool) -> None:
    g = p.add_argument_group("distributed evaluation")
    g.add_argument(
        "--executor",
        default="local",
        metavar="local|processes|ray|ray://HOST:PORT",
        help="where evaluation runs: this process, N local processes, a local Ray instance, or a "
        "Ray cluster; results are identical",
    )
    g.add_argument(
        "--workers", type=positive, metavar="N", help="processes or Ray workers (default: the core count)"
    )
    if cache:
        g.add_argument(
            "--no-cache",
            action="store_true",
            help="do not keep finished shards (by default a rerun of an interrupted run resumes)",
        )


def add_threads(p: argparse.ArgumentParser | Any, what: str = "onnxruntime threads") -> None:
    p.add_argument("--threads", type=positive, metavar="N", help=f"{what} (default: the runtime's choice)")


def _add_switches(g: argparse._ArgumentGroup) -> None:
    """The on/off steps of `quantize`: each flag names the default it turns around."""
    g.add_argument(
        "--equalize",
        action="store_true",
        help="cross-layer equalization of Conv->act->Conv pairs (off: it did not help on the real "
        "weights measured; see BENCHMARKS.md)",
    )
    g.add_argument(
        "--no-bias-correction",
        action="store_true",
        help="do not correct the mean output shift that weight rounding leaves",
    )
    g.add_argument(
        "--no-activation-bounds",
        action="store_true",
        help="range a Clip's output (ReLU6) by calibration alone, not up to the Clip's bound where "
        "calibration reaches half of it",
    )
    g.add_argument(
        "--no-float-hotspots",
        action="store_true",
        help="quantize every layer it can, even where one activation's quantization alone causes a fifth "
        "of the output error and its layers, kept in float, cost under 5%% of the compute",
    )


def add_quant_options(p: argparse.ArgumentParser) -> None:
    """The options of `quantize`, shared as they are with `tune`."""
    from int8ptq.calib.ranges import RangeMethod
    from int8ptq.config import QuantConfig, Rounding
    from int8ptq.quant.isa import Isa
    from int8ptq.quant.rules import Runtime

    g = p.add_argument_group("quantization")
    g.add_argument(
        "--method",
        choices=values(RangeMethod),
        default=default(QuantConfig, "method"),
        help="activation range method",
    )
    g.add_argument(
        "--per-tensor", action="store_true", help="one weight scale per layer instead of per output channel"
    )
    g.add_argument(
        "--rounding",
        choices=values(Rounding),
        default=default(QuantConfig, "rounding"),
        help="weight rounding: compensate (GPTQ-style, from calibration statistics) or nearest",
    )
    _add_switches(g)
    g.add_argument(
        "--target-isa",
        choices=values(Isa),
        default=default(QuantConfig, "target_isa"),
        help="CPUs the model is for: portable is correct on every x86 CPU (AVX2, AVX-512, VNNI, AMX); "
        "vnni/amx use the full int8 range but saturate on CPUs without VNNI; auto: this CPU",
    )
    g.add_argument(
        "--runtime",
        choices=values(Runtime),
        default=default(QuantConfig, "runtime"),
        help="the runtime whose kernels the QDQ layout suits (the model runs on both): onnxruntime "
        "quantizes every quantized op's output, which its QLinearConv needs; openvino leaves outputs "
        "that only float ops read (HardSwish, SiLU, Sigmoid...) in float, which OpenVINO fuses into "
        "the INT8 convolution: faster and closer to FP32 there, slower on onnxruntime",
    )
    g.add_argument(
        "--calib-images", type=positive, metavar="N", help="use at most N calibration images (default: all)"
    )
    g.add_argument(
        "--batch-size",
        type=positive,
        metavar="N",
        default=default(QuantConfig, "batch_size"),
        help="calibration batch size",
    )
    g.add_argument(
        "--histogram-samples",
        type=samples_or_all,
        metavar="N|all",
        default=default(QuantConfig, "histogram_samples"),
        help="values of each calibration sample kept in a tensor's range histogram (a strided grid "
        "over H and W); all: every value (more memory and time; see BENCHMARKS.md, "
        '"Calibration spread")',
    )
    g.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="keep a node (by name) or an op type in FP32; repeatable, or comma-separated: "
        "--exclude Softmax,/head/Conv (default: none)",
    )
    add_threads(g, "onnxruntime threads while calibrating")


def quant_config(a: argparse.Namespace) -> Any:
    """The QuantConfig that `add_quant_options` (and the preprocessing options) describe."""
    from int8ptq.config import QuantConfig

    try:
        return QuantConfig(
            method=a.method,
            rounding=a.rounding,
            bias_correction=not a.no_bias_correction,
            activation_bounds=not a.no_activation_bounds,
            float_hotspots=not a.no_float_hotspots,
            equalize=a.equalize,
            per_channel=not a.per_tensor,
            target_isa=a.target_isa,
            runtime=a.runtime,
            preset=preprocessing(a),
            calib_images=a.calib_images,
            batch_size=a.batch_size,
            histogram_samples=a.histogram_samples,
            exclude=tuple(name for arg in a.exclude for name in arg.split(",") if name),
            threads=a.threads,
        )
    except ValueError as e:
        raise UserError(str(e)) from None


def samples_or_all(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        return positive(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (or 'all': every value)") from None


def floats3(text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}") from None
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"expected three values (R,G,B), got {text!r}")
    return vals  # three, checked above


def add_preset(p: argparse.ArgumentParser) -> None:
    """--preset and the per-field overrides: one preset, changed one field at a time."""
    from int8ptq.data.presets import PRESETS, Layout

    names = ", ".join(f"{k} ({v.description})" for k, v in PRESETS.items())
    g = p.add_argument_group(
        "preprocessing",
        "A preset, then any field overridden on its own. Default: the values recorded in the model "
        "(an int8ptq output), else the preset its metadata names, else torchvision.",
    )
    g.add_argument("--preset", metavar="NAME", help=f"base preset: {names} (default: see above)")
    g.add_argument("--mean", type=floats3, metavar="R,G,B", help="mean, 0..255 units (default: the preset's)")
    g.add_argument("--std", type=floats3, metavar="R,G,B", help="std, 0..255 units (default: the preset's)")
    g.add_argument(
        "--size", type=positive, metavar="N", help="center crop N x N (default: the model's input size)"
    )
    g.add_argument(
        "--resize",
        type=int,
        metavar="N",
        help="shorter side resized to N before the crop; 0: no resize (default: the preset's)",
    )
    g.add_argument(
        "--bgr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="feed channels as BGR (--no-bgr: RGB) (default: the preset's)",
    )
    g.add_argument(
        "--layout",
        choices=values(Layout),
        type=str.upper,
        help="input layout (default: read from the model's input shape)",
    )


def preprocessing(a: argparse.Namespace) -> Any:
    """A preset name, or a Preprocessing when any field is overridden; None: the default."""
    from int8ptq.data.presets import Preprocessing

    fields = {k: getattr(a, k) for k in ("mean", "std", "size", "resize", "bgr", "layout")}
    if all(v is None for v in fields.values()):
        return a.preset
    return Preprocessing(preset=a.preset, **fields)
