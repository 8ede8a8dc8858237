"""The peers, each quantizing the same FP32 graph int8ptq quantizes: the model after
int8ptq's FP32 passes (`prepared.onnx`, written once by benchmarks/prepare.py), calibrated
on the same 100 images (`calib.npy`, preprocessed once).

Standalone: it needs numpy and the peer's own package only (never int8ptq), so each peer
can run in an environment of its own (NNCF and AMD Quark pin their own dependencies):

    python benchmarks/peers.py ort   out/bench/efficientnet_lite0
    NNCF_VENV/bin/python  benchmarks/peers.py nncf  out/bench/efficientnet_lite0
    QUARK_VENV/bin/python benchmarks/peers.py quark out/bench/efficientnet_lite0 [--only SLUG]

Each setting writes `models/<slug>.onnx` (NNCF: OpenVINO IR `models/<slug>.xml`) and a
sidecar `models/<slug>.json` with the settings, the quantize time and the load average at
the time. Settings already done are skipped, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Setting:
    tool: str  # ort | nncf | quark
    slug: str  # file name
    label: str  # what BENCHMARKS.md shows
    options: dict[str, Any] = field(default_factory=dict)
    slow: bool = False  # run only when asked for with --only or --slow


def _ort_settings() -> list[Setting]:
    label = "ORT quantize_static defaults (S8S8, per-tensor, MinMax)"
    out = [Setting("ort", "ort-default", label, {"default": True})]
    for method in ("MinMax", "Percentile", "Entropy"):
        for rr in (False, True):
            slug = f"ort-u8s8-pc-{method.lower()}" + ("-rr" if rr else "")
            label = f"ORT quantize_static U8S8 per-channel {method}" + (", reduce_range" if rr else "")
            out.append(Setting("ort", slug, label, {"method": method, "reduce_range": rr}))
    return out


def _nncf_settings() -> list[Setting]:
    out = []
    for preset in ("performance", "mixed"):
        for fast in (True, False):
            slug = f"nncf-{preset}" + ("" if fast else "-fullbc")
            label = f"NNCF preset {preset}" + ("" if fast else ", full bias correction")
            out.append(Setting("nncf", slug, label, {"preset": preset, "fast_bias_correction": fast}))
    return out


def _quark_settings() -> list[Setting]:
    out = []
    # Quark's own MinMSE calibration stops with "Unsupported calibration method" for U8S8
    for method, cle in [("MinMax", True), ("Percentile", True), ("Percentile", False)]:
        slug = f"quark-u8s8-pc-{method.lower()}" + ("-cle" if cle else "")
        label = f"Quark U8S8 per-channel {method}" + (" + CLE" if cle else "")
        out.append(Setting("quark", slug, label, {"method": method, "cle": cle}))
    out.append(
        Setting(
            "quark",
            "quark-u8s8-pc-percentile-cle-adaround200",
            "Quark U8S8 per-channel Percentile + CLE + AdaRound (200 iterations per layer)",
            {"method": "Percentile", "cle": True, "adaround": 200},
            slow=True,
        )
    )
    return out


SETTINGS: dict[str, Callable[[], list[Setting]]] = {
    "ort": _ort_settings,
    "nncf": _nncf_settings,
    "quark": _quark_settings,
}


def _reader(calib: np.ndarray, input_name: str):  # noqa: ANN202
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{input_name: calib[i : i + 1]} for i in range(len(calib))])

        def get_next(self):  # noqa: ANN202
            return next(self.it, None)

        def rewind(self) -> None:  # Quark's fine-tuning reads the data again
            self.it = iter([{input_name: calib[i : i + 1]} for i in range(len(calib))])

    return Reader()


def _input_name(model: Path) -> str:
    import onnx

    m = onnx.load(str(model), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


def quantize_ort(s: Setting, fp32: Path, calib: np.ndarray, out: Path) -> None:
    """quantize_static after its recommended pre-processing (quant_pre_process)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        reader = _reader(calib, _input_name(pre))
        if s.options.get("default"):
            quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ)
            return
        quantize_static(
            str(pre),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=s.options["reduce_range"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, s.options["method"]),
        )


def quantize_nncf(s: Setting, fp32: Path, calib: np.ndarray, out: Path) -> None:
    """NNCF's post-training quantization of the OpenVINO model read from the ONNX file."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32))
    ds = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    preset = getattr(nncf.QuantizationPreset, s.options["preset"].upper())
    q = nncf.quantize(
        model,
        ds,
        preset=preset,
        subset_size=len(calib),
        fast_bias_correction=s.options["fast_bias_correction"],
    )
    ov.save_model(q, str(out), compress_to_fp16=False)


def quantize_quark(s: Setting, fp32: Path, calib: np.ndarray, out: Path) -> None:
    """AMD Quark's ONNX quantizer: uint8 activations, int8 per-channel weights, QDQ (its
    U8S8_AAWS preset, the one for CPUs), with the setting's range method."""
    from onnxruntime.quantization.calibrate import CalibrationMethod
    from quark.onnx import ModelQuantizer
    from quark.onnx.quantization.config import Config, get_default_config

    name = "U8S8_AAWS_ADAROUND" if s.options.get("adaround") else "U8S8_AAWS"
    cfg = get_default_config(name)
    cfg.per_channel = True
    cfg.include_cle = s.options["cle"]
    method = s.options["method"]
    cfg.calibrate_method = getattr(CalibrationMethod, method)
    if s.options.get("adaround"):
        ft = dict(cfg.extra_options["FastFinetune"])
        ft.update(NumIterations=s.options["adaround"], DataSize=len(calib))
        cfg.extra_options = {**cfg.extra_options, "FastFinetune": ft}
    here, fp32, out = Path.cwd(), fp32.resolve(), out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # Quark writes quantized_info.csv and caches into the current folder
        try:
            ModelQuantizer(Config(global_quant_config=cfg)).quantize_model(
                str(fp32), str(out), _reader(calib, _input_name(fp32))
            )
        finally:
            os.chdir(here)


QUANTIZE = {"ort": quantize_ort, "nncf": quantize_nncf, "quark": quantize_quark}


def tool_version(tool: str) -> str:
    from importlib.metadata import version

    return version({"ort": "onnxruntime", "nncf": "nncf", "quark": "amd-quark"}[tool])


def run_setting(s: Setting, model_dir: Path) -> None:
    models = model_dir / "models"
    models.mkdir(exist_ok=True)
    out = models / (s.slug + (".xml" if s.tool == "nncf" else ".onnx"))
    meta = models / f"{s.slug}.json"
    if meta.exists():
        print(f"{s.slug}: done before", flush=True)
        return
    calib = np.load(model_dir / "calib.npy")
    load = os.getloadavg()[0]
    t = time.perf_counter()
    tmp = out.with_name(".tmp-" + out.name)
    QUANTIZE[s.tool](s, model_dir / "prepared.onnx", calib, tmp)
    seconds = time.perf_counter() - t
    tmp.replace(out)
    if s.tool == "nncf":
        tmp.with_suffix(".bin").replace(out.with_suffix(".bin"))
    info = {
        "tool": s.tool,
        "version": tool_version(s.tool),
        "slug": s.slug,
        "label": s.label,
        "options": s.options,
        "file": out.name,
        "calib_images": len(calib),
        "seconds": round(seconds, 1),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    meta.write_text(json.dumps(info, indent=1))
    print(f"{s.slug}: {seconds:.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tool", choices=sorted(SETTINGS))
    ap.add_argument("model_dir", type=Path, help="a folder written by benchmarks/prepare.py")
    ap.add_argument("--only", default="", help="comma-separated slugs (default: every setting but the slow)")
    ap.add_argument("--slow", action="store_true", help="also run the slow settings (Quark AdaRound)")
    a = ap.parse_args()
    settings = SETTINGS[a.tool]()
    if a.only:
        wanted = set(a.only.split(","))
        unknown = wanted - {s.slug for s in settings}
        if unknown:
            sys.exit(f"unknown setting(s) {sorted(unknown)}; known: {[s.slug for s in settings]}")
        settings = [s for s in settings if s.slug in wanted]
    elif not a.slow:
        settings = [s for s in settings if not s.slow]
    for s in settings:
        run_setting(s, a.model_dir)


if __name__ == "__main__":
    main()
