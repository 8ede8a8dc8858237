"""Calibration cost against the FP32 forward pass over the same images, one run.

EfficientNet-Lite0, batch 16, onnxruntime, 100 images (calib.txt) and 500 (eval.txt).
Every timing starts from the loaded model and includes creating the onnxruntime session,
for the reference forward passes too. Writes the "Calibration cost" section of BENCHMARKS.md.

    python benchmarks/calibration.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import calibrate, prepare_model  # noqa: E402
from int8ptq.runtime.ort import OrtRunner  # noqa: E402

REPEATS = 3


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="int8ptq-cal-"))
    fp32 = common.export_zoo("efficientnet_lite0", work / "fp32.onnx")
    given = load_model(fp32)
    prep = prepare_model(given)
    plan = prep.plan()
    cfg = QuantConfig()
    sets = {"100 (calib.txt)": common.load_images("calib.txt", "efficientnet-lite")[0]}
    sets["500 (eval.txt)"] = common.load_images("eval.txt", "efficientnet-lite", limit=500)[0]

    def forward(model: object, batches: list) -> None:
        runner = OrtRunner(model)  # type: ignore[arg-type]
        for b in batches:
            runner.run(b)

    prepared = prep.graph.to_model()

    def cal(hist: bool, cov: bool, exact: bool = False) -> Callable[[list], object]:
        return lambda bs: calibrate(prep, bs, cfg, plan, hist, cov, exact=exact)

    passes: list[tuple[str, Callable[[list], object]]] = [
        ("FP32 forward, the model as given", lambda bs: forward(given, bs)),
        (
            "FP32 forward, after int8ptq's FP32 passes (what calibration runs)",
            lambda bs: forward(prepared, bs),
        ),
        ("exact min/max (method minmax)", cal(False, False)),
        ("**histograms (mse, kl, percentile, auto)**", cal(True, False)),
        ("histograms + weight statistics (the defaults)", cal(True, True)),
        ("histograms with exact min/max + weight statistics (tune)", cal(True, True, exact=True)),
    ]
    cols: dict[str, list[float]] = {}
    for name, x in sets.items():
        batches = [x[i : i + 16] for i in range(0, len(x), 16)]
        times = []
        for label, fn in passes:
            times.append(min(common.timed(lambda f=fn, b=batches: f(b)) for _ in range(REPEATS)))
            print(name, label, f"{times[-1]:.2f} s", flush=True)
        cols[name] = times
    rows = []
    for k, (label, _) in enumerate(passes):
        row = [label]
        for times in cols.values():
            row.append(f"{times[k]:.2f} s ({times[k] / times[1]:.2f}x; {times[k] / times[0]:.2f}x)")
        rows.append(row)
    body = (
        f"EfficientNet-Lite0, batch 16, onnxruntime, best of {REPEATS}. Each time includes creating the "
        "session (the references too). Ratios are to the FP32 forward pass of the graph calibration runs "
        "on (after int8ptq's FP32 passes, which make this model 2x faster than as exported); against the "
        "model as given, calibration is cheaper still.\n\n"
        "Histogram calibration samples each activation inside the graph (a strided 1x1 MaxPool, which "
        "onnxruntime runs in its blocked layout) and returns only the samples; weight statistics are "
        "patch Gram matrices computed in the graph. Exact min/max needs a reduction over every tensor, "
        "which makes onnxruntime convert each convolution output out of its blocked layout.\n\n"
    )
    body += "Each cell: time (vs the forward pass after int8ptq's passes; vs the model as given).\n\n"
    body += common.md_table(["pass", *[f"{n} images" for n in cols]], rows)
    common.update_section("Calibration cost", body, "python benchmarks/calibration.py")


if __name__ == "__main__":
    main()
