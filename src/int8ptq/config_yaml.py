"""Read `int8ptq run` YAML files, ours or PaddleSlim's, into a RunConfig. Strict: an unknown
key is an error naming the key and the nearest valid one."""

from __future__ import annotations

import dataclasses
import enum
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from int8ptq.config import BenchSection, EvalSection, QuantConfig, RunConfig, TuneSection
from int8ptq.data.presets import Preprocessing
from int8ptq.errors import UserError
from int8ptq.util.suggest import nearest

PADDLE_STRATEGY = "MKLDNNPostTrainingQuantStrategy"
PADDLE_KEYS = {
    "fp32_model_path": "model",
    "int8_model_save_path": "output",
    "cpu_math_library_num_threads": "threads",
}


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _check_type(value: Any, hint: Any, where: str) -> None:
    """Reject a value of the wrong type, naming where it is."""
    if value is None:
        return
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            _check_type(value, options[0], where)
            return
        errors = 0
        for a in options:
            try:
                _check_type(value, a, where)
            except UserError:
                errors += 1
        if errors == len(options):
            raise UserError(f"{where}: {value!r} has the wrong type")
        return
    if origin is tuple:
        if not isinstance(value, tuple):
            raise UserError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        for v in value:
            _check_type(v, inner, where)
        return
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        valid = [m.value for m in hint]
        if value not in valid and value not in list(hint):
            raise UserError(
                f"{where}: {value!r} is not one of {', '.join(map(str, valid))}{nearest(str(value), valid)}"
            )
        return
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is int and isinstance(value, bool))
    ):
        raise UserError(f"{where}: expected {hint.__name__}, got {value!r}")


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = _fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise UserError(f"{where}: unknown key {key!r}{nearest(str(key), fields)}")
        sub = {
            QuantConfig: "quantization",
            EvalSection: "evaluate",
            BenchSection: "benchmark",
            TuneSection: "tune",
        }
        target = next((c for c, k in sub.items() if k == key), None)
        if cls is QuantConfig and key == "preset" and isinstance(value, dict):
            target = Preprocessing  # a preset with fields overridden
        if target is not None and value is not None:
            value = _build(target, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        elif cls is QuantConfig and key == "histogram_samples" and str(value).lower() == "all":
            value = None  # every value, as `--histogram-samples all`
        if target is None:
            _check_type(value, typing.get_type_hints(cls)[key], f"{where}.{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        missing = str(e).split("argument")[-1].strip(": ")
        raise UserError(f"{where}: missing required key {missing}") from None
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None


def _from_paddle(raw: dict[str, Any], where: str) -> dict[str, Any]:
    strategies = raw.get("strategies") or {}
    found = [s for s in strategies.values() if isinstance(s, dict) and s.get("class") == PADDLE_STRATEGY]
    if not found:
        raise UserError(f"{where}: no strategy with class {PADDLE_STRATEGY!r}")
    ours: dict[str, Any] = {}
    for key, value in found[0].items():
        if key == "class":
            continue
        if key not in PADDLE_KEYS:
            raise UserError(f"{where}: unknown strategy key {key!r}{nearest(key, PADDLE_KEYS)}")
        ours[PADDLE_KEYS[key]] = value
    out = ours.get("output")
    if out is not None and not str(out).endswith(".onnx"):
        ours["output"] = str(Path(out) / "model.onnx")  # PaddleSlim saves into a folder
    return ours


def load_run_config(path: str | os.PathLike[str], **overrides: Any) -> RunConfig:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: not valid YAML ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{p}: expected a mapping at the top level")
    if "strategies" in raw or "compressor" in raw:
        raw = _from_paddle(raw, p.name)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return _build(RunConfig, raw, p.name)  # relative paths are relative to the current folder
