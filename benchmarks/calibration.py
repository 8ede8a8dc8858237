"""Calibration cost against the FP32 forward pass over the same images, one run.

EfficientNet-Lite0, the 100 images of calib.txt, batch 16, onnxruntime. Writes the
"Calibration cost" section of BENCHMARKS.md.

    python benchmarks/calibration.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import calibrate, prepare_model  # noqa: E402
from int8ptq.runtime.ort import OrtRunner  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="int8ptq-cal-"))
    fp32 = common.export_zoo("efficientnet_lite0", work / "fp32.onnx")
    x, _ = common.load_images("calib.txt", "efficientnet-lite")
    prep = prepare_model(load_model(fp32))
    plan = prep.plan()
    batches = [x[i : i + 16] for i in range(0, len(x), 16)]
    runner = OrtRunner(fp32)
    runner.run(batches[0])
    rows = []
    forward = min(common.timed(lambda: [runner.run(b) for b in batches]) for _ in range(3))
    rows.append(["FP32 forward pass (reference)", f"{forward:.2f} s", "1.00x"])
    for label, hist, cov in [
        ("min/max observers", False, False),
        ("histogram observers (mse, kl, percentile)", True, False),
        ("histograms + weight statistics (defaults)", True, True),
    ]:
        t = min(
            common.timed(lambda h=hist, c=cov: calibrate(prep, batches, QuantConfig(), plan, h, c))
            for _ in range(3)
        )
        rows.append([label, f"{t:.2f} s", f"{t / forward:.2f}x"])
        print(rows[-1], flush=True)
    body = (
        f"EfficientNet-Lite0, {len(x)} images (calib.txt), batch 16, onnxruntime, best of 3. The calibration "
        "pass runs the model with every observed tensor as an output and feeds the observers.\n\n"
    )
    body += common.md_table(["pass", "time", "vs FP32 forward"], rows)
    common.update_section("Calibration cost", body, "python benchmarks/calibration.py")


if __name__ == "__main__":
    main()
