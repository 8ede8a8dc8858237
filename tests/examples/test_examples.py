"""The examples as a user runs them: real models shipped in PyPI packages (the `examples`
extra), quantized by `int8ptq quantize` as shipped, judged by their own tasks against FP32
on held-out inputs. Small sample counts keep the suite short; the bars are the issue's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Issue 13's bars where int8ptq meets them; where it does not yet, a floor (what it measures
# today less a margin) so a regression still fails. Measured (benchmarks/results/realworld.md):
CLS_BAR = 0.98  # issue bar, met: 0.99 of 100 lines
DET_BAR = 0.95  # issue bar, met: 0.958 on 10 pages
REC_FLOOR = 0.84  # issue bar 0.95 NOT met: 0.8975 of 400 lines
YOLO_FLOOR = 0.78  # issue bar 0.95 NOT met: 0.898 on 1200 photos (336 FP32 boxes); 0.866 here
PIPELINE_FLOOR = 0.5
LAYOUT_FLOOR = 0.88  # no issue bar; first run: 0.938 (8 calibration pages, 20 held out), 0.945 (32 / 60)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("examples")


def example(script: str, work: Path, *args: str) -> dict:
    out = work / f"{Path(script).stem}.json"
    r = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / script),
            "--work",
            str(work / Path(script).stem),
            "--json",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=EXAMPLES,
        env={**os.environ, "INT8PTQ_QUIET": "1"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(out.read_text())


def test_ocr_cls_opset11_upgraded_and_identical(work):
    r = example("ocr_cls.py", work, "--calib", "64", "--eval", "100")
    assert r["opset_upgraded"] == "11->14"
    assert r["fp32_accuracy"] >= 0.9  # the rendered lines are readable: the check means something
    assert r["identical"] >= CLS_BAR


def test_ocr_rec_strings_identical(work):
    r = example("ocr_rec.py", work, "--calib", "48", "--eval", "200")
    assert r["fp32_exact"] >= 0.8
    assert r["identical"] >= REC_FLOOR


def test_ocr_det_text_mask_f1(work):
    r = example("ocr_det.py", work, "--calib", "16", "--eval", "10")
    assert r["text_pixels"] > 10_000
    assert r["mask_f1"] >= DET_BAR


def test_yolov8n_box_f1(work, imagenet):
    r = example("yolov8n.py", work, "--calib", "32", "--eval", "100")
    assert r["fp32_boxes"] >= 20  # enough boxes for F1 to mean something
    assert r["box_f1"] >= YOLO_FLOOR


def test_layout_box_f1(work, imagenet):
    r = example("layout.py", work, "--calib", "8", "--eval", "20")
    assert r["fp32_boxes"] >= 100  # the rendered pages have layout the model sees: F1 means something
    assert r["box_f1"] >= LAYOUT_FLOOR


def test_ocr_pipeline_det_cls_rec(work):
    models = {k: work / f"ocr_{k}" / f"{k}-int8.onnx" for k in ("det", "cls", "rec")}
    given = [a for k, p in models.items() if p.exists() for a in (f"--{k}", str(p))]
    r = example("ocr_pipeline.py", work, "--calib", "16", "--eval", "6", *given)
    assert r["fp32_lines_exact"] >= 0.5
    assert r["lines_identical"] >= PIPELINE_FLOOR
