"""The AVX2 pair guard, sign-aware against magnitude-only, on the EfficientNet-Lites.

Without VNNI, vpmaddubsw adds two u8*s8 products into a saturating int16. The guard of the
portable target (quant/saturation.py) keeps every pair safe. A pair of opposite signs can
never saturate (its sum stays within +-255 * 127), so it now bounds only same-sign pairs;
before commit c04c936 it bounded |q_a| + |q_b| for every pair. This script builds both
from one calibration pass (same statistics, same plan; the old rule is `MagnitudePairs`
below), and an unguarded model (`--target-isa vnni`) as the reference, then scores each in
the columns of benchmarks/columns.py, with the real AVX2 kernels (OpenVINO, oneDNN capped
at AVX2) among them: a saturating pair would show there.

    python benchmarks/pair_guard.py [efficientnet_lite0,...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import columns  # noqa: E402
import common  # noqa: E402
import prepare  # noqa: E402

from int8ptq import algorithms  # noqa: E402
from int8ptq.config import QuantConfig  # noqa: E402
from int8ptq.ir import load_model  # noqa: E402
from int8ptq.pipeline import build, calibrate, prepare_model  # noqa: E402
from int8ptq.quant.saturation import PairConstraint, PairGuard  # noqa: E402

MODELS = {  # slug -> label
    "guard-sign": "portable, sign-aware guard (default)",
    "guard-magnitude": "portable, magnitude guard (before)",
    "guard-none": "--target-isa vnni (no guard)",
}


class MagnitudePairs(PairConstraint):
    """The rule before: |q_a| + |q_b| <= limit for every pair, whatever the signs."""

    @staticmethod
    def load(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a) + np.abs(b)

    def bounds(self, rounded_partners: list[np.ndarray], lim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        room = lim
        for qp in rounded_partners:
            room = np.minimum(room, self.limit - np.abs(qp))
        return -room, room


class MagnitudeGuard(PairGuard):
    def constraint(self, node, shape):  # noqa: ANN001, ANN201
        c = super().constraint(node, shape)
        return None if c is None else MagnitudePairs(c.perm, c.first, c.second, c.limit)


def narrowed(model: Path) -> float:
    """The fraction of guarded output channels (Conv, not depthwise) kept below the full int8
    range: where the guard cost resolution."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(model))
    qs = [numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    convs = [q for q in qs if q.ndim == 4 and q.shape[1] > 1]
    maxima = np.concatenate([np.abs(q.reshape(len(q), -1).astype(int)).max(axis=1) for q in convs])
    return float((maxima < 127).mean())


def build_models(d: Path) -> None:
    prep = prepare_model(load_model(d / "prepared.onnx"))
    plan = prep.plan()
    stats = calibrate(prep, np.load(d / "calib.npy"), QuantConfig(), plan)
    (d / "models").mkdir(exist_ok=True)
    for slug, label in MODELS.items():
        cfg = QuantConfig(target_isa="vnni") if slug == "guard-none" else QuantConfig()
        if slug == "guard-magnitude":
            with mock.patch.object(algorithms, "guard_for", lambda isa: MagnitudeGuard()):
                model, _ = build(prep, stats, cfg, plan)
        else:
            model, _ = build(prep, stats, cfg, plan)
        f = d / "models" / f"{slug}.onnx"
        f.write_bytes(model.SerializeToString())
        info = {"tool": "int8ptq", "slug": slug, "label": label, "file": f.name, "commit": common.commit()}
        (d / "models" / f"{slug}.json").write_text(json.dumps(info, indent=1))


def rows(d: Path, res: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    out = []
    for slug, label in MODELS.items():
        r = res.get(slug, {})
        cells = [d.name, label, f"{100 * narrowed(d / 'models' / f'{slug}.onnx'):.1f}%"]
        out.append(cells + columns.agreement_cells(r, columns.BUILD_COLUMNS))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="?", default=common.LITES)
    names = ap.parse_args().models.split(",")
    table = []
    for n in names:
        d = prepare.prepare(n, common.WORK / "pair_guard")
        build_models(d)
        table += rows(d, columns.score_builds(d, list(MODELS)))
    cols = ["model", "weights", "Conv channels below +-127", *columns.BUILD_HEADERS]
    body = (
        "One calibration pass per model (100 calib.txt images), three builds from it;"
        " 1200 eval.txt images, agreement with the FP32 top-1. Columns as in the accuracy sections."
        " A pair that saturated on AVX2 would lower the AVX2 column below the others (as it does for"
        " the unguarded model). Conv channels below +-127: the guarded output channels (not depthwise)"
        " whose largest weight the guard kept below the full range.\n\n"
        + common.md_table(cols, table)
    )
    command = "python benchmarks/pair_guard.py " + ",".join(names)
    common.update_section("Pair guard: sign-aware", body, command)


if __name__ == "__main__":
    main()
