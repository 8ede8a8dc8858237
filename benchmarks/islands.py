"""INT8 islands (quant/islands.py), measured: when does an op between float neighbours run
faster in FP32 than as INT8 with conversions of its own?

1. Small graphs: Conv "pw" -> activation -> Conv "mid" -> activation -> Conv "pw", 64 channels;
   "mid" as INT8 against "mid" in FP32 (everything else as placed), on onnxruntime, for
   several kinds of "mid" (depthwise, grouped, dense) and both kinds of neighbour (HardSwish
   stays float; Relu folds into the INT8 Conv before it).
2. The real models of benchmarks/realworld.py (its work folders must exist: `python
   benchmarks/realworld.py quantize --only int8ptq`): one calibration, the model placed
   without the island rule (the layout before it) and with it (the default), each timed
   against FP32 on onnxruntime and OpenVINO and scored by its task metric against FP32.

    python benchmarks/islands.py [--models yolo,det,rec,cls] [--rounds 7] [--micro-rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
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


def _islands(old: QuantPlan, new: QuantPlan, prep_nodes: dict[str, str]) -> str:
    kinds = Counter(prep_nodes[n] for n in old.nodes if n not in new.nodes)
    return ", ".join(f"{op} x{c}" for op, c in sorted(kinds.items())) or "none"


def model_rows(key: str, rounds: int, d: Path) -> list[list[str]]:
    task = rw.make_task(key)
    work = rw.WORK / key
    prep = prepare_model(load_model(task.fp32))
    old, new = build_plan(prep.graph), prep.plan()
    stats = calibrate(prep, str(work / "calib"), QuantConfig(), old)  # old plans every tensor new does
    paths = {"FP32": Path(task.fp32)}
    for name, plan in (("islands INT8", old), ("islands FP32 (default)", new)):
        paths[name] = d / f"{key}-{len(paths)}.onnx"
        onnx.save(build(prep, stats, QuantConfig(), plan)[0], str(paths[name]))
    scores = {k: rw.evaluate(task, work, p) for k, p in paths.items() if k != "FP32"}
    x = max(rw._load_list(work / "eval.npz"), key=lambda s: s.size)[None]
    kinds = {n.name: n.op_type for n in prep.graph.nodes}
    rows = []
    for backend, label in (("ort", "onnxruntime"), ("ov", "OpenVINO")):
        times = common.alternating({k: _loader(p, backend, x) for k, p in paths.items()}, rounds, calls=40)
        ratio = _ratios(times, "FP32")
        cells = [f"{ratio[k]:.2f}x / {scores[k].get(backend, float('nan')):.3f}" for k in list(paths)[1:]]
        rows.append([key, label, _islands(old, new, kinds), f"{1000 * np.median(times['FP32']):.2f}", *cells])
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="yolo,det,rec,cls")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--micro-rounds", type=int, default=5)
    a = ap.parse_args()
    print(common.isa_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        micro = micro_rows(a.micro_rounds, Path(tmp))
        models = [r for key in a.models.split(",") for r in model_rows(key, a.rounds, Path(tmp))]
    cmd = (
        f"python benchmarks/islands.py --models {a.models} --rounds {a.rounds} "
        f"--micro-rounds {a.micro_rounds}"
    )
    body = (
        "An op between float neighbours pays for INT8 with conversions of its own (quant/islands.py). "
        f"Small graphs: Conv -> activation -> *mid* -> activation -> Conv, {C} channels of {H} x {W}, "
        "onnxruntime, batch 1, 2 threads, median of rounds that alternate the two models "
        "(one session alive at a time). *mid* INT8 or FP32, every other op as placed.\n\n"
        + common.md_table(
            ["mid", "neighbours", "products per output", "INT8 µs", "FP32 µs", "INT8 / FP32 time"], micro
        )
        + "\n\nThe rule: on the onnxruntime layout an op whose every input and output would be converted "
        "for it alone stays FP32 when it does fewer than 48 products per output value. Real models "
        "as shipped (benchmarks/realworld.py's samples): one calibration, placed without the rule "
        "(the layout before it) and with it (the default). Cell: FP32/INT8 speed (> 1: INT8 faster; "
        "median of rounds, batch 1, 2 threads, the largest held-out input) / task metric against FP32.\n\n"
        + common.md_table(
            [
                "model",
                "backend",
                "left in FP32 by the rule",
                "FP32 ms",
                "islands INT8",
                "islands FP32 (default)",
            ],
            models,
        )
    )
    common.update_section("INT8 islands", body, cmd)


if __name__ == "__main__":
    main()
