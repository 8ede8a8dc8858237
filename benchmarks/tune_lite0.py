"""`int8ptq tune` on EfficientNet-Lite0 (real weights) with a 0.1-point budget (--max-drop 0.001,
a fraction as NNCF's max_drop) and a 10-minute
budget: calibrate on calib.txt, measure on eval.txt. Writes the "Tuning" section.

    python benchmarks/tune_lite0.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main() -> None:
    w = Path(tempfile.mkdtemp(prefix="int8ptq-tune-"))
    fp32 = common.export_zoo("efficientnet_lite0", w / "lite0.onnx")
    args = [
        "tune",
        fp32,
        "-o",
        w / "lite0.int8.onnx",
        "--calib",
        common.DATA / "calib.txt",
        "--eval",
        common.DATA / "eval.txt",
        "--max-drop",
        "0.001",
        "--time-budget",
        "10m",
        "--threads",
        "2",
        "--json",
        w / "t.json",
    ]
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "int8ptq.cli", *map(str, args)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    r = json.loads((w / "t.json").read_text())
    rows = [
        [
            str(x["index"]),
            x["name"],
            x["method"],
            str(len(x["fallback"])),
            "over budget (stopped early)" if x["drop"] is None else f"{100 * x['drop']:.3f}",
            f"{x['images_per_s']:.0f}",
            "yes" if x["met"] else "no",
        ]
        for x in r["trials"]
    ]
    b = r["best"]
    body = (
        f"Exit code {p.returncode}; wall time {wall / 60:.1f} min (budget 10 min); "
        f"{'within budget' if r['met'] else 'budget not met: the best model found was kept'}"
        f"{' (' + r['stopped'] + ')' if r['stopped'] else ''}. Best: trial {b['index']} ({b['name']}), "
        f"{len(b['fallback'])} layers in FP32: {', '.join(b['fallback']) or 'none'}.\n\n```\n"
        + "int8ptq "
        + " ".join(str(a).replace(str(w) + "/", "") for a in args)
        + "\n```\n\n"
    )
    body += common.md_table(
        ["#", "trial", "method", "FP32 layers", "top-1 drop (pts)", "img/s", "within budget"], rows
    )
    common.update_section(
        "Tuning: EfficientNet-Lite0, 0.1-point budget", body, "python benchmarks/tune_lite0.py"
    )


if __name__ == "__main__":
    main()
