"""Layers kept in FP32 stay FP32 on onnxruntime (quant/float_layers.py), measured.

onnxruntime's optimizer (WeightBiasQuantization, on by default) quantizes, per tensor, the
float weight of any Conv/ConvTranspose/Gemm that reads a DequantizeLinear. int8ptq gives such
layers a bias it leaves alone. For each EfficientNet-Lite: one calibration, the defaults and
the same model with every depthwise Conv kept in FP32 (`exclude`); each scored on
onnxruntime's default session (real kernels), on the same session with that model's guard
taken off (its float bias put back: what onnxruntime did before), and integer-exact (every
optimization off). 100 calibration images, the 1200 evaluation images, FP32 logits as the
reference. Writes its section of BENCHMARKS.md.

    python benchmarks/float_fallback.py [efficientnet_lite0,...] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import onnx  # noqa: E402
from accuracy_methods import _session  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import build, calibrate, prepare_model  # noqa: E402


def unguarded(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each guard's DequantizeLinear bias replaced by its float values."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    guards = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and "_float_bias" in n.name]
    for dq in guards:
        value = (inits[dq.input[0]].astype("float64") * inits[dq.input[1]]).astype("float32")
        m.graph.initializer.append(numpy_helper.from_array(value, dq.output[0]))
        m.graph.node.remove(dq)
    return m


def rows_for(name: str, limit: int | None) -> list[list[str]]:
    fp32, calib, x, y, ref = common.zoo_task(name, limit)
    prep = prepare_model(load_model(fp32))
    stats = calibrate(prep, calib, QuantConfig(), prep.plan())
    depthwise = tuple(n.name for n in prep.graph.nodes if n.op_type == "Conv" and "depthwise" in n.name)
    rows = []
    for label, exclude in (("defaults", ()), (f"{len(depthwise)} depthwise Convs in FP32", depthwise)):
        cfg = QuantConfig(exclude=exclude)
        model, _ = build(prep, stats, cfg, prep.plan(cfg.exclude))
        cells = [name, label]
        for m, exact in ((model, False), (unguarded(model), False), (model, True)):
            s = common.scores(common.predict(_session(m, exact), x), y, ref)
            cells += [f"{100 * s['agreement']:.2f}% / {s['cosine']:.4f}"]
        rows.append(cells)
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    rows = common.lite_rows(argparse.ArgumentParser(description=__doc__.splitlines()[0]), rows_for)
    cols = ["model", "configuration", "real kernels (guarded)", "real kernels, guard taken off"]
    cols += ["integer-exact"]
    cmd = " ".join(["python benchmarks/float_fallback.py", *sys.argv[1:]])
    body = (
        "onnxruntime's optimizer quantizes the float weight of a Conv that reads a "
        "DequantizeLinear, per tensor, unless its bias comes from a node: int8ptq gives such "
        "layers an exact int32 DequantizeLinear bias (`quant/float_layers.py`). 'Guard taken "
        "off' is the same model with the float bias put back. Each cell: top-1 agreement with "
        "FP32 / mean logit cosine on the eval.txt images.\n\n"
    )
    common.update_section("Layers kept in FP32 on onnxruntime", body + common.md_table(cols, rows), cmd)


if __name__ == "__main__":
    main()
