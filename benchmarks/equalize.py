"""Cross-layer equalization: where does it help? One run, real weights.

EfficientNet-Lite0 (ReLU6 and depthwise convolutions throughout), calibrated on calib.txt,
evaluated on eval.txt against FP32 logits, onnxruntime. Weights per tensor and per
channel, each with equalization off and on. Writes the "Cross-layer equalization" section.

    python benchmarks/equalize.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.api import quantize  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.runtime.ort import OrtRunner  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="int8ptq-cle-"))
    fp32 = common.export_zoo("efficientnet_lite0", work / "fp32.onnx")
    xc, _ = common.load_images("calib.txt", "efficientnet-lite")
    xe, ye = common.load_images("eval.txt", "efficientnet-lite")
    ref = common.predict(OrtRunner(fp32).run, xe)
    rows = [["FP32", "-", "-", f"{common.scores(ref, ye, None)['top1']:.2%}", "-", "-", "-"]]
    for per_channel in (False, True):
        for eq in (False, True):
            cfg = QuantConfig(per_channel=per_channel, equalize=eq)
            t = time.perf_counter()
            r = quantize(fp32, work / "q.onnx", xc, config=cfg)
            t = time.perf_counter() - t
            s = common.scores(common.predict(OrtRunner(work / "q.onnx").run, xe), ye, ref)
            rows.append(
                [
                    "per channel" if per_channel else "per tensor",
                    "on" if eq else "off (default)",
                    str(r.settings["equalized_layers"]),
                    f"{s['top1']:.2%}",
                    f"{s['agreement']:.2%}",
                    f"{s['cosine']:.4f}",
                    f"{t:.1f} s",
                ]
            )
            print(rows[-1], flush=True)
    body = (
        "EfficientNet-Lite0, real weights; calibration on calib.txt (100 images), evaluation on "
        "eval.txt (1200 images), onnxruntime; agreement and cosine against FP32 logits; other "
        "settings default. Its activations are ReLU6: a channel is rescaled only if it never reaches 6 "
        "on the calibration data, with a 1.25 margin (see src/int8ptq/passes/equalize.py).\n\n"
    )
    body += common.md_table(
        ["weights", "equalization", "layers rescaled", "top-1", "agreement", "cosine", "quantize time"], rows
    )
    common.update_section("Cross-layer equalization", body, "python benchmarks/equalize.py")


if __name__ == "__main__":
    main()
