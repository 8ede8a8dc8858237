"""Peak memory (VmHWM) of a process that loads and runs a model, FP32 against our INT8,
and the file sizes. One fresh process per model, so nothing else is counted.
Writes the "Memory" section of BENCHMARKS.md.

    python benchmarks/memory.py [--models resnet50,vgg16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.api import quantize  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402

# VmHWM, not ru_maxrss: the latter keeps the forked parent's peak across exec
PROBE = """
import sys, numpy as np
from int8ptq.runtime import make_runner
r = make_runner(sys.argv[1], sys.argv[2], 2)
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
for _ in range(5):
    r.run(x)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def peak_mb(model: Path, backend: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(model), backend], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,vgg16,googlenet,mobilenet_v2,efficientnet_lite0")
    a = ap.parse_args()
    w = Path(tempfile.mkdtemp(prefix="int8ptq-mem-"))
    rows = []
    for name in a.models.split(","):
        real = name == "efficientnet_lite0"
        fp32 = common.export_zoo(name, w / f"{name}.onnx", random_weights=not real)
        int8 = w / f"{name}.int8.onnx"
        quantize(fp32, int8, common.DATA / "calib.txt", config=QuantConfig(calib_images=16))
        for backend in ("ort", "openvino"):
            f, q = peak_mb(fp32, backend), peak_mb(int8, backend)
            rows.append(
                [
                    name,
                    backend,
                    f"{fp32.stat().st_size / 1e6:.1f} MB",
                    f"{int8.stat().st_size / 1e6:.1f} MB",
                    f"{f:.0f} MB",
                    f"{q:.0f} MB",
                    f"{q / f:.2f}",
                ]
            )
            print(rows[-1], flush=True)
    body = (
        "Peak resident memory (VmHWM) of a fresh process that loads the model and runs batch 1 five times "
        "(2 threads), and the file sizes.\n\n"
    )
    body += common.md_table(
        ["model", "backend", "FP32 file", "INT8 file", "FP32 peak RSS", "INT8 peak RSS", "INT8 / FP32"], rows
    )
    common.update_section("Memory", body, f"python benchmarks/memory.py --models {a.models}")


if __name__ == "__main__":
    main()
