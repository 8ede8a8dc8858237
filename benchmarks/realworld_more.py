"""YOLOv8n and the single-output PP-OCRv5 models (rec and cls) re-scored on more held-out samples.

benchmarks/realworld.py judges each tool on 200 photos (about 70 FP32 boxes), 60 rec lines and
100 cls lines, where one box or sample moves a score by 0.7 to 1.7 points. This script takes N
held-out samples the same way (the first ones are the same), and scores every model file
realworld.py left in WORK/<model>/models (int8ptq, each onnxruntime setting, NNCF) against FP32
on each backend that loads it. Writes its section of BENCHMARKS.md.

    python benchmarks/realworld_more.py [--yolo 600] [--rec 400] [--cls 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import realworld as rw  # noqa: E402

BACKENDS = {"ort": "onnxruntime", "ov": "OpenVINO"}


def _outputs(path: Path, backend: str, xs: Path, d: Path) -> list[np.ndarray] | str:
    """Each sample's output (run in a child process: OpenVINO crashes on some peers' files), or
    why the backend cannot run the file (one line)."""
    out = d / f"out-{backend}.npz"
    try:
        rw.child("outputs", path, backend, xs, out)
        return rw._load_list(out)
    except Exception as e:  # noqa: BLE001 - a peer's file a backend rejects: reported
        return rw._one_line(e, 120)


def rows_for(key: str, n: int) -> list[list[str]]:
    task = rw.make_task(key, n_eval=n)
    models = rw.WORK / key / "models"
    files = sorted(models.glob("*.onnx")) + sorted(models.glob("*.xml"))
    if not files:
        raise SystemExit(f"no models in {models}: run benchmarks/realworld.py quantize first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rw._save_list(d / "eval.npz", task.eval)
        refs = {b: _outputs(task.fp32, b, d / "eval.npz", d) for b in BACKENDS}
        for f in files:
            cells = []
            for b in BACKENDS:
                if f.suffix == ".xml" and b == "ort":
                    cells.append("- (NNCF's IR: OpenVINO only)")
                    continue
                got, ref = _outputs(f, b, d / "eval.npz", d), refs[b]
                ok = isinstance(got, list) and isinstance(ref, list)
                cells.append(f"{task.score(ref, got):.4f}" if ok else f"- ({got})")
            rows.append([key, task.metric, f.stem, *cells])
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--yolo", type=int, default=600, help="eval.txt photos for YOLOv8n")
    ap.add_argument("--rec", type=int, default=400, help="rendered rec lines")
    ap.add_argument("--cls", type=int, default=600, help="rendered cls lines")
    a = ap.parse_args()
    rows = rows_for("yolo", a.yolo) + rows_for("rec", a.rec) + rows_for("cls", a.cls)
    body = (
        f'The models of "Real models as shipped" (same files, same calibration) on {a.yolo} held-out '
        f"eval.txt photos, {a.rec} held-out rec lines and {a.cls} held-out cls lines (every other turned "
        "180 degrees), made as there (the first 200, 60 and 100 are the same samples). Score against "
        "FP32 on the same backend.\n\n"
        + common.md_table(["model", "metric", "file", *BACKENDS.values()], rows)
    )
    common.update_section(
        "Real models: more held-out samples",
        body,
        f"python benchmarks/realworld_more.py --yolo {a.yolo} --rec {a.rec} --cls {a.cls}",
    )


if __name__ == "__main__":
    main()
