"""The one-command reproduction, offline, on the shared 1300 images: timed through the CLI.

1. EfficientNet-Lite0 with its real weights: the first 100 images of val.txt calibrate,
   the other 1200 are evaluated (the seed's --warmup_batch_size 100 protocol).
2. The seed's seven models with --random-weights: exports, quantizes, evaluates and times
   all seven (the issue's bar: under 20 minutes on this machine).
Writes the "Reproduction" section of BENCHMARKS.md.

    python benchmarks/reproduce.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def run(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "int8ptq.cli", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, ""


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="int8ptq-repro-"))
    val = str(common.DATA / "val.txt")
    sections = []
    for label, extra, out in [
        ("EfficientNet-Lite0, real weights", ["--models", "efficientnet_lite0"], work / "lite0"),
        ("the seed's seven models, random weights", ["--random-weights"], work / "seven"),
    ]:
        cmd = ["reproduce", "--data", val, "--out", str(out), *extra]
        seconds, _ = run(cmd)
        table = (out / "table.md").read_text()
        shown = " ".join(["int8ptq", *cmd]).replace(val, "../shared/data/imagenet-val-1300/val.txt")
        shown = shown.replace(str(out), "repro")
        sections.append(f"### {label}\n\n`{shown}`: {seconds / 60:.1f} min wall time.\n\n{table}")
        print(sections[-1], flush=True)
    body = (
        "The shared subset's `val.txt` (1300 images): the first 100 calibrate, the other 1200 are "
        "evaluated (with random weights, 300 of them: top-1 means nothing there). Speed-up: INT8 "
        "against FP32 at batch 1 on onnxruntime, in the same process. The seed's diff is its "
        "published FP32-INT8 top-1 difference on all 50,000 images, for reference only: 1200 "
        "images and another CPU are not its protocol.\n\n"
    )
    common.update_section("Reproduction", body + "\n".join(sections), "python benchmarks/reproduce.py")


if __name__ == "__main__":
    main()
