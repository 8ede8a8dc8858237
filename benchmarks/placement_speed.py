"""Placement by speed (quant/placement.py), measured: which layers does onnxruntime run
faster in FP32 than in INT8? INT8 islands (quant/islands.py) and narrow grouped convolutions
(quant/grouped.py).

1. Small graphs: Conv "pw" -> activation -> Conv "mid" -> activation -> Conv "pw", 64 channels;
   "mid" as INT8 against "mid" in FP32 (everything else as placed), on onnxruntime, for
   several kinds of "mid" (depthwise, grouped, dense) and both kinds of neighbour (HardSwish
   stays float; Relu folds into the INT8 Conv before it).
2. Whole models: the real models of benchmarks/realworld.py (its work folders must exist:
   `python benchmarks/realworld.py quantize --only int8ptq`) and a ResNeXt-50 (32x4d, random
   weights: speed and output cosine only). One calibration each; the model placed without the
   speed rules (the layout before them) and with them (the default), each timed against FP32
   on onnxruntime and OpenVINO and scored against FP32.

    python benchmarks/placement_speed.py [--models yolo,det,rec,cls,resnext50] [--rounds 7]
        [--micro-rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import realworld as rw  # noqa: E402

from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import build, calibrate, prepare_model  # noqa: E402
from int8ptq.quant.islands import products_per_output  # noqa: E402
from int8ptq.quant.plan import QuantPlan, build_plan  # noqa: E402

C, H, W = 64, 24, 96
# (label, activation around "mid", its group count, its kernel size)
MIDS = [
    ("depthwise 3x3", "HardSwish", C, 3),
    ("depthwise 3x3", "Relu", C, 3),
    ("depthwise 5x5", "HardSwish", C, 5),
    ("grouped 3x3, 4 channels per group", "HardSwish", C // 4, 3),
    ("grouped 3x3, 4 channels per group", "Relu", C // 4, 3),
    ("grouped 3x3, 8 channels per group", "Relu", C // 8, 3),
    ("grouped 3x3, 16 channels per group", "Relu", C // 16, 3),
    ("grouped 1x1, 16 channels per group", "Relu", C // 16, 1),
    ("dense 1x1", "HardSwish", 1, 1),
    ("dense 3x3", "HardSwish", 1, 3),
]


def small_model(act: str, groups: int, k: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def w(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name
        )

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="pw1"),
        helper.make_node(act, ["a"], ["a2"], name="act1"),
        helper.make_node("Conv", ["a2", "wm"], ["m"], name="mid", group=groups, pads=[k // 2] * 4),
        helper.make_node(act, ["m"], ["m2"], name="act2"),
        helper.make_node("Conv", ["m2", "w2"], ["y"], name="pw2"),
    ]
    inits = [w("w1", (C, C, 1, 1)), w("wm", (C, C // groups, k, k)), w("w2", (C, C, 1, 1))]
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, C, H, W])  # noqa: E731
    g = helper.make_graph(nodes, "g", [vi("x")], [vi("y")], inits)
    return onnx.shape_inference.infer_shapes(
        helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    )


def _loader(path: Path, backend: str, feed: object) -> common.Loader:
    def load() -> Callable[[], object]:
        run = columns.runner(path, backend)
        return lambda: run(feed)

    return load


def _ratios(times: dict[str, list[float]], base: str) -> dict[str, float]:
    return {k: float(np.median(times[base]) / np.median(v)) for k, v in times.items()}


def micro_rows(rounds: int, d: Path) -> list[list[str]]:
    rows = []
    for label, act, groups, k in MIDS:
        model = small_model(act, groups, k)
        prep = prepare_model(model)
        x = np.random.default_rng(1).standard_normal((1, C, H, W)).astype(np.float32)
        stats = calibrate(prep, [{"x": x}], QuantConfig(), build_plan(prep.graph))
        paths = {}
        for name, plan in (
            ("int8", build_plan(prep.graph)),
            ("fp32", build_plan(prep.graph, frozenset({"mid"}))),
        ):
            paths[name] = d / f"mid-{name}.onnx"
            onnx.save(build(prep, stats, QuantConfig(), plan)[0], str(paths[name]))
        times = common.alternating({k2: _loader(p, "ort", x) for k2, p in paths.items()}, rounds)
        mid = next(n for n in prep.graph.nodes if n.name == "mid")
        us = {k2: 1e6 * float(np.median(v)) for k2, v in times.items()}
        rows.append(
            [
                label,
                act,
                str(products_per_output(prep.graph, mid)),
                f"{us['int8']:.0f}",
                f"{us['fp32']:.0f}",
                f"{us['int8'] / us['fp32']:.2f}x",
            ]
        )
        print(rows[-1], flush=True)
    return rows


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    x, y = (np.asarray(v, np.float64).ravel() for v in (a, b))
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def _left_float(old: QuantPlan, new: QuantPlan, kinds: dict[str, str]) -> str:
    counts = Counter(kinds[n] for n in old.nodes if n not in new.nodes)
    return ", ".join(f"{op} x{c}" for op, c in sorted(counts.items())) or "none"


@dataclass
class Subject:
    """A whole model: its FP32 file, calibration data, timing input and scorer."""

    fp32: Path
    calib: object  # what calibrate() takes
    x: np.ndarray  # the timing input
    metric: str
    score: Callable[[Path], dict[str, object]]  # INT8 file -> {"ort": value, "ov": value}


def real_subject(key: str) -> Subject:
    task, work = rw.make_task(key), rw.WORK / key
    x = max(rw._load_list(work / "eval.npz"), key=lambda s: s.size)[None]
    return Subject(Path(task.fp32), str(work / "calib"), x, task.metric, lambda p: rw.evaluate(task, work, p))


def resnext_subject(d: Path) -> Subject:
    """ResNeXt-50 32x4d with random weights (zoo-style export): output cosine against FP32."""
    import torch
    from resnext import resnext50

    fp32 = d / "resnext50.onnx"
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((16, 3, 224, 224)).astype(np.float32)
    held = rng.standard_normal((4, 3, 224, 224)).astype(np.float32)
    torch.onnx.export(
        resnext50(),
        torch.from_numpy(held[:1]),
        str(fp32),
        input_names=["x"],
        dynamic_axes={"x": {0: "N"}},
        dynamo=False,
    )

    def score(p: Path) -> dict[str, object]:
        ref = columns.runner(fp32, "ort")(held)
        return {b: _cosine(ref, columns.runner(p, b)(held)) for b in ("ort", "ov")}

    return Subject(fp32, calib, held[:1], "output cosine (random weights)", score)


def model_rows(key: str, rounds: int, d: Path) -> list[list[str]]:
    subject = resnext_subject(d) if key == "resnext50" else real_subject(key)
    prep = prepare_model(load_model(subject.fp32))
    old, new = build_plan(prep.graph), prep.plan()
    stats = calibrate(prep, subject.calib, QuantConfig(), old)  # old plans every tensor new does
    paths = {"FP32": subject.fp32}
    for name, plan in (("without", old), ("with", new)):
        paths[name] = d / f"{key}-{name}.onnx"
        onnx.save(build(prep, stats, QuantConfig(), plan)[0], str(paths[name]))
    scores = {k: subject.score(p) for k, p in paths.items() if k != "FP32"}
    kinds = {n.name: n.op_type for n in prep.graph.nodes}
    rows = []
    for backend, label in (("ort", "onnxruntime"), ("ov", "OpenVINO")):
        loaders = {k: _loader(p, backend, subject.x) for k, p in paths.items()}
        times = common.alternating(loaders, rounds, calls=40)
        ratio = _ratios(times, "FP32")
        cells = [f"{ratio[k]:.2f}x / {scores[k].get(backend, float('nan')):.3f}" for k in ("without", "with")]
        ms = f"{1000 * np.median(times['FP32']):.2f}"
        rows.append([key, subject.metric, label, _left_float(old, new, kinds), ms, *cells])
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="yolo,det,rec,cls,resnext50")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--micro-rounds", type=int, default=5)
    a = ap.parse_args()
    print(common.isa_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        micro = micro_rows(a.micro_rounds, Path(tmp))
        models = [r for key in a.models.split(",") for r in model_rows(key, a.rounds, Path(tmp))]
    cmd = (
        f"python benchmarks/placement_speed.py --models {a.models} --rounds {a.rounds} "
        f"--micro-rounds {a.micro_rounds}"
    )
    common.update_section(
        "Placement by speed",
        BODY.format(c=C, h=H, w=W, micro=_micro_table(micro), models=_model_table(models)),
        cmd,
    )


def _micro_table(rows: list[list[str]]) -> str:
    cols = ["mid", "neighbours", "products per output", "INT8 µs", "FP32 µs", "INT8 / FP32 time"]
    return common.md_table(cols, rows)


def _model_table(rows: list[list[str]]) -> str:
    cols = [
        "model",
        "score",
        "backend",
        "left in FP32 by the rules",
        "FP32 ms",
        "without the rules",
        "with (default)",
    ]
    return common.md_table(cols, rows)


BODY = """\
Which layers onnxruntime runs faster in FP32 (quant/placement.py). Small graphs: Conv ->
activation -> *mid* -> activation -> Conv, {c} channels of {h} x {w}, onnxruntime, batch 1,
2 threads, median of rounds that alternate the two models (one session alive at a time); *mid*
INT8 or FP32, every other op as placed. HardSwish stays float (so an INT8 *mid* between two
HardSwish is an island: its input and output are converted for it alone); Relu folds into the
INT8 Conv before it.

{micro}

The rules, on the onnxruntime layout only (OpenVINO's layout keeps every layer INT8):

- an INT8 island that does fewer than 48 products per output value stays FP32 (quant/islands.py);
- a grouped Conv with a k x k kernel (not depthwise, not 1x1) and fewer than 100 products per
  output value stays FP32 (quant/grouped.py): onnxruntime runs it as an im2col and one small
  integer GEMM per group.

Whole models: one calibration each, placed without the rules (the layout before them) and with
them (the default). Cell: FP32/INT8 speed (> 1: INT8 faster; median of rounds, batch 1, 2
threads; real models: the largest held-out input) / score against FP32 (real models: the task
metric on their held-out samples, benchmarks/realworld.py; ResNeXt-50 32x4d with random weights:
output cosine on 4 random inputs).

{models}
"""


if __name__ == "__main__":
    main()
