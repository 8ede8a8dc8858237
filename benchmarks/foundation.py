"""EfficientNet-Lite0 end to end through the CLI, exactly as a user runs it: export,
quantize on calib.txt, evaluate on eval.txt, benchmark. Writes the "Foundation" section.

    python benchmarks/foundation.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def cli(*args: object) -> None:
    subprocess.run(
        [sys.executable, "-m", "int8ptq.cli", *map(str, args)], check=True, stdout=subprocess.DEVNULL
    )


def main() -> None:
    common.require_quiet(force="--force" in sys.argv)
    w = Path(tempfile.mkdtemp(prefix="int8ptq-found-"))
    fp32, int8 = w / "lite0.onnx", w / "lite0.int8.onnx"
    cmds = [
        ["zoo", "export", "efficientnet_lite0", "-o", fp32],
        ["quantize", fp32, "-o", int8, "--calib", common.DATA / "calib.txt", "--json", w / "q.json"],
        [
            "evaluate",
            fp32,
            int8,
            "--data",
            common.DATA / "eval.txt",
            "--threads",
            "2",
            "--json",
            w / "e.json",
        ],
        [
            "benchmark",
            fp32,
            int8,
            "--batch-size",
            "1,16",
            "--threads",
            "1,2",
            "--repeat",
            "20",
            "--json",
            w / "b.json",
        ],
    ]
    for c in cmds:
        cli(*c)
    q, e, b = (json.loads((w / f"{k}.json").read_text()) for k in "qeb")
    f, i = e["models"]
    rows = [
        [
            "FP32 file",
            f"{q['fp32_bytes'] / 1e6:.2f} MB",
            "INT8 file",
            f"{q['int8_bytes'] / 1e6:.2f} MB ({100 * q['int8_bytes'] / q['fp32_bytes']:.0f}%)",
        ],
        [
            "FP32 top-1",
            f"{100 * f['top1']:.2f}%",
            "INT8 top-1",
            f"{100 * i['top1']:.2f}% (drop {100 * i['top1_drop']:+.2f} pts)",
        ],
        ["agreement", f"{100 * i['agreement']:.2f}%", "logit cosine", f"{i['cosine']:.4f}"],
        [
            "quantize time",
            f"{q['seconds']:.1f} s",
            "INT8 ops / FP32 ops left",
            f"{q['quantized_nodes']} / {sum(q['float_nodes'].values())}",
        ],
    ]
    body = (
        "Through the CLI (commands below), 1200 images of eval.txt, calibration on calib.txt. "
        "`int8ptq benchmark` divides by the first model given, here the model as exported: its "
        "speed-ups include what int8ptq's FP32 graph passes alone give. The Speed section divides "
        "by the FP32 graph after those passes instead.\n\n```\n"
    )
    body += (
        "\n".join("int8ptq " + " ".join(str(a).replace(str(w) + "/", "") for a in c) for c in cmds)
        + "\n```\n\n"
    )
    body += common.md_table(["", "", "", ""], rows) + "\n"
    speed = [
        [
            Path(r["model"]).name,
            str(r["batch"]),
            str(r["threads"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p90_ms']:.2f}",
            f"{r['images_per_s']:.1f}",
            f"{r['speedup']:.2f}x",
        ]
        for r in b["rows"]
    ]
    body += common.md_table(["model", "batch", "threads", "p50 ms", "p90 ms", "images/s", "speed-up"], speed)
    common.update_section(
        "Foundation: EfficientNet-Lite0 through the CLI", body, "python benchmarks/foundation.py"
    )


if __name__ == "__main__":
    main()
