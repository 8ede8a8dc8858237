"""benchmarks/ops.py builds, for every op type issue 13 names, an FP32 graph and its QDQ INT8
twin that both backends run, and its decision follows the numbers (no timing here)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ops  # noqa: E402

CASES = ops.cases()
MOVES_DATA = ("Resize", "Split", "Slice", "Concat", "Transpose", "Reshape")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_qdq_twin_runs_on_both_backends_close_to_fp32(case, tmp_path):
    q, xq, x_dq = ops.samples(case)
    fp32 = ops._save(ops.fp32_model(case), tmp_path, "fp32")
    int8 = ops._save(ops.qdq_model(case, q), tmp_path, "int8")
    for backend in ("ort", "ov"):
        ref = ops.runner(fp32, backend)(x_dq)
        raw = ops.runner(int8, backend)(xq)
        assert all(r.dtype == np.uint8 for r in raw)
        got = [(r.astype(np.float32) - q[o][1]) * q[o][0] for r, o in zip(raw, case.outputs, strict=True)]
        db = ops.sqnr(ref, got)
        if case.name.split()[0] in MOVES_DATA:
            assert db == float("inf"), (backend, db)  # data movement on a shared scale is exact
        else:
            assert db > 20, (backend, db)


def _result(ort: tuple[float, float], ov: tuple[float, float], db: float = 40.0) -> dict[str, object]:
    return {
        "ort_fp32_us": ort[0],
        "ort_int8_us": ort[1],
        "ov_fp32_us": ov[0],
        "ov_int8_us": ov[1],
        "ort_sqnr": db,
        "ov_sqnr": db,
    }


def test_decision_follows_the_numbers():
    assert ops.decide(_result((100, 50), (100, 95))) == "quantize"
    assert ops.decide(_result((100, 50), (100, 200))) == "quantize"  # OpenVINO's edges: not decisive
    assert ops.decide(_result((50, 100), (100, 50))) == "keep FP32 (INT8 slower)"
    assert ops.decide(_result((100, 50), (100, 50), db=20)).startswith("keep FP32 (error")
    assert ops.decide(_result((100, 100), (100, 100))).startswith("keep FP32 (no faster")
    assert ops.decide(_result((100, 100), (100, 100), db=float("inf"))) == "quantize"
    assert ops.decide(_result((1, 3), (2, 4))).startswith("either")
    assert ops.decide({"ov_error": "x"}).startswith("keep FP32 (ov fails")
