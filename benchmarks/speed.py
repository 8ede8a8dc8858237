"""Speed of FP32 and INT8 models: this project against the peers, one run.

Models: ResNet-50, VGG-16, GoogLeNet, MobileNet-V2 (random weights: speed does not depend on
the values) and EfficientNet-Lite0 (real weights). 2 threads, batch 1 and 16. Every ratio is
to FP32 on onnxruntime, measured in the same run. Writes the "Speed" section of BENCHMARKS.md.

    python benchmarks/speed.py [--models resnet50,vgg16] [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import peers  # noqa: E402

from int8ptq.api import quantize  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402

MODELS = ["resnet50", "vgg16", "googlenet", "mobilenet_v2", "efficientnet_lite0"]


def run_model(name: str, work: Path, repeat: int) -> list[list[str]]:
    real = name == "efficientnet_lite0"
    preset = "efficientnet-lite" if real else "torchvision"
    fp32 = common.export_zoo(name, work / f"{name}.onnx", random_weights=not real)
    n_calib = 100 if real else 32
    calib, _ = common.load_images("calib.txt", preset, n_calib)
    configs: dict[str, tuple[str, object]] = {
        "FP32 (onnxruntime)": ("ort", fp32),
        "FP32 (OpenVINO)": ("ov", fp32),
    }
    times: dict[str, float] = {}
    ours = work / f"{name}.int8.onnx"
    times["int8ptq (onnxruntime)"] = common.timed(
        lambda: quantize(fp32, ours, common.DATA / "calib.txt", config=QuantConfig(calib_images=n_calib))
    )
    configs["**int8ptq (onnxruntime)**"] = ("ort", ours)
    configs["**int8ptq (OpenVINO)**"] = ("ov", ours)
    for label, best in [("ORT quantize_static, default", False), ("ORT quantize_static, best", True)]:
        out = work / f"{name}.ort_{best}.onnx"
        times[label] = common.timed(
            lambda out=out, best=best: peers.ort_quantize(fp32, out, calib, best, False)
        )
        configs[label] = ("ort", out)
    holder: dict[str, object] = {}
    times["NNCF + OpenVINO"] = common.timed(lambda: holder.setdefault("m", peers.nncf_quantize(fp32, calib)))
    configs["NNCF + OpenVINO"] = ("ov", holder["m"])
    rows, base = [], {}
    for label, (backend, model) in configs.items():
        run1 = (common.ort_session if backend == "ort" else common.ov_session)(model)
        b1 = common.throughput(run1, 1, repeat=repeat * 2)
        b16 = common.throughput(run1, 16, repeat=repeat)
        base = base or {1: b1, 16: b16}
        qt = next((f"{v:.0f} s" for k, v in times.items() if k in label.replace("*", "")), "-")
        rows.append(
            [
                name,
                label,
                f"{1000 / b1:.1f}",
                f"{b1 / base[1]:.2f}x",
                f"{b16:.1f}",
                f"{b16 / base[16]:.2f}x",
                qt,
            ]
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="int8ptq-speed-"))
    rows: list[list[str]] = []
    for m in a.models.split(","):
        rows += run_model(m, work, a.repeat)
    (work / "rows.json").write_text(json.dumps(rows))
    body = (
        "2 threads; median of repeated runs after warm-up; random input. Ratios are to FP32 on "
        "onnxruntime in the same run. Peers: onnxruntime `quantize_static` after `quant_pre_process`, "
        "at its default (QDQ, int8 activations) and its best setting (uint8 activations, per-channel "
        "weights); NNCF 3.4 `quantize` (preset performance) run on OpenVINO. Quantize time includes "
        "calibration (32 images; 100 for EfficientNet-Lite0).\n\n"
    )
    body += common.md_table(
        [
            "model",
            "configuration",
            "batch 1 ms",
            "b1 speed-up",
            "batch 16 img/s",
            "b16 speed-up",
            "quantize time",
        ],
        rows,
    )
    common.update_section("Speed", body, f"python benchmarks/speed.py --models {a.models}")


if __name__ == "__main__":
    main()
