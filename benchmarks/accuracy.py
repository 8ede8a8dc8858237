"""A real-weights model from the zoo: this project against the peers, one run.

Calibrate on calib.txt (100 images), evaluate on eval.txt (1200), real INT8 kernels.
Writes the "Accuracy: EfficientNet-LiteK" section of BENCHMARKS.md. Lite0 is the model
the issues set the bar on; Lite1 and Lite2 (other weights, sizes and depths) check that
nothing was tuned to it.

    python benchmarks/accuracy.py [efficientnet_lite0|efficientnet_lite1|efficientnet_lite2]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import peers  # noqa: E402

from int8ptq.api import quantize  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model, save_model  # noqa: E402
from int8ptq.pipeline import prepare_model  # noqa: E402
from int8ptq.zoo.registry import get  # noqa: E402


def main(name: str) -> None:
    entry = get(name)
    work = Path(tempfile.mkdtemp(prefix="int8ptq-acc-"))
    fp32 = common.export_zoo(name, work / "fp32.onnx")
    calib, _ = common.load_images("calib.txt", entry.preset, crop=entry.input_size)
    x, y = common.load_images("eval.txt", entry.preset, crop=entry.input_size)
    ref = common.predict(common.ort_session(fp32), x)
    fp32_speed = common.throughput(common.ort_session(fp32), 16, entry.input_size)
    rows = [
        [
            "FP32 (onnxruntime)",
            f"{100 * common.scores(ref, y, None)['top1']:.2f}%",
            "-",
            "-",
            "-",
            f"{fp32_speed:.1f} img/s (1.00x)",
        ]
    ]

    def add(label: str, qtime: float, run) -> None:  # noqa: ANN001
        s = common.scores(common.predict(run, x), y, ref)
        ips = common.throughput(run, 16, entry.input_size)
        rows.append(
            [
                label,
                f"{100 * s['top1']:.2f}%",
                f"{100 * s['agreement']:.2f}%",
                f"{s['cosine']:.4f}",
                f"{qtime:.1f} s",
                f"{ips:.1f} img/s ({ips / fp32_speed:.2f}x)",
            ]
        )
        print(rows[-1], flush=True)

    # the FP32 graph after our preparation passes (constant folding, BN and Pad folding): part of
    # the INT8 speed-up against the model as exported comes from these, not from INT8 kernels
    prepared = work / "prepared.onnx"
    save_model(prepare_model(load_model(fp32)).graph.to_model(), prepared)
    p_speed = common.throughput(common.ort_session(prepared), 16, entry.input_size)
    rows.append(
        [
            "FP32 after int8ptq's FP32 passes (onnxruntime)",
            "-",
            "-",
            "-",
            "-",
            f"{p_speed:.1f} img/s ({p_speed / fp32_speed:.2f}x)",
        ]
    )

    ours = work / "ours.onnx"
    t = common.timed(lambda: quantize(fp32, ours, common.DATA / "calib.txt", config=QuantConfig()))
    add("**int8ptq, defaults (onnxruntime)**", t, common.ort_session(ours))
    add("**int8ptq, defaults (OpenVINO)**", t, common.ov_session(ours))
    for best, label in [
        (True, "ORT quantize_static: per-channel, reduce_range, Percentile"),
        (False, "ORT quantize_static: defaults"),
    ]:
        out = work / f"ort_{best}.onnx"
        t = common.timed(lambda out=out, best=best: peers.ort_quantize(fp32, out, calib, best))
        add(label, t, common.ort_session(out))
    holder = {}
    t = common.timed(lambda: holder.setdefault("m", peers.nncf_quantize(fp32, calib)))
    add("NNCF 3.4 + OpenVINO, preset performance", t, common.ov_session(holder["m"]))

    body = (
        f"Weights: {entry.source}. Calibration: `calib.txt` (100 images); evaluation: `eval.txt` "
        f"(1200 images), preset {entry.preset} at {entry.input_size}x{entry.input_size}. "
        "Agreement and cosine are against FP32 logits on the same images. "
        "Speed: batch 16, 2 threads, median of 10 runs, ratio to FP32 (the model as exported) in the "
        "same run; the second row is the same FP32 model after int8ptq's graph passes, so the INT8 "
        "kernels' own share of the speed-up is the ratio of the INT8 rows to it.\n\n"
    )
    body += common.md_table(
        ["configuration", "top-1", "agreement", "cosine", "quantize time", "INT8 speed"], rows
    )
    title = "Accuracy: EfficientNet-Lite" + name[-1]
    cmd = "python benchmarks/accuracy.py" + ("" if name == "efficientnet_lite0" else f" {name}")
    common.update_section(title, body, cmd)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "efficientnet_lite0")
