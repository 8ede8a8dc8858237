"""Issue 16's reference: AMD Quark's AdaRound against int8ptq's defaults on EfficientNet-Lite0,
same prepared FP32 graph, same 100 calibration and 1200 evaluation images, three columns
(onnxruntime's VNNI kernels, OpenVINO's AVX2 kernels, integer-exact). AdaRound takes over an
hour on 2 cores, so it is a section of its own, run when asked:

    INT8PTQ_QUARK_PYTHON=quark/bin/python python benchmarks/adaround.py

The Quark model is made once by benchmarks/peers.py (in Quark's environment) and cached in
WORK/efficientnet_lite0/models/ like every peer's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import accuracy  # noqa: E402
import columns  # noqa: E402
import common  # noqa: E402
import prepare  # noqa: E402
import tables  # noqa: E402

MODEL = "efficientnet_lite0"
ADAROUND = "quark-u8s8-pc-percentile-cle-adaround200"
OURS = "int8ptq-default"
COLUMNS = ("ort", "ov-avx2", "exact")


def main() -> None:
    d = prepare.prepare(MODEL)
    if not (d / "models" / f"{ADAROUND}.json").exists():
        quark = os.environ.get("INT8PTQ_QUARK_PYTHON", sys.executable)
        peers = Path(__file__).with_name("peers.py")
        subprocess.run([quark, str(peers), "quark", str(d), "--only", ADAROUND], check=True)
    accuracy.quantize_ours(d)
    columns.eval_arrays(d)
    for c in COLUMNS:
        columns.spawn(d, c, ["fp32", OURS, ADAROUND])
    rs = [r for r in tables.rows(d) if r.slug in ("fp32", OURS, ADAROUND)]
    text = (
        "EfficientNet-Lite0, every column as in its accuracy section (same prepared graph, 100 "
        "calibration images, 1200 evaluation images). Quark: U8S8 per-channel, Percentile, CLE and "
        "AdaRound with 200 iterations per layer (its `U8S8_AAWS_ADAROUND` preset), the setting issue "
        "16 names. Its quantize time ran under the load shown (other jobs shared the 2 cores).\n\n"
    )
    text += common.md_table(tables.HEAD, [tables.cells(r, r.tool == "int8ptq") for r in rs])
    common.update_section("Quark AdaRound: EfficientNet-Lite0", text, "python benchmarks/adaround.py")


if __name__ == "__main__":
    main()
