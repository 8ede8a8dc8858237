"""NNCF's post-training quantization of a shipped ONNX model, read by OpenVINO, calibrated on
a folder of .npz samples (one sample each, shapes may differ: the folder `int8ptq quantize
--calib` reads). Standalone: numpy, nncf and openvino only, so it runs in NNCF's own
environment (benchmarks/requirements-nncf.txt); benchmarks/realworld.py calls it:

    NNCF_VENV/bin/python benchmarks/realworld_nncf.py MODEL.onnx CALIB_DIR OUT.xml --preset mixed

Writes OUT.xml/.bin (OpenVINO IR) and prints one JSON line: {"seconds": quantize time}.
A failure exits 1 with the exception's type and first line on stderr's last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def samples(folder: Path) -> list[dict[str, np.ndarray]]:
    """One {input name: array with a batch axis of 1} per .npz file, in name order."""
    out = []
    for f in sorted(folder.glob("*.npz")):
        with np.load(f) as z:
            out.append({k: z[k][None] for k in z.files})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("calib", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--preset", choices=("performance", "mixed"), default="performance")
    a = ap.parse_args()
    try:
        import nncf
        import openvino as ov

        model = ov.Core().read_model(str(a.model))
        data = samples(a.calib)
        names = [p.get_any_name() for p in model.inputs]
        ds = nncf.Dataset(data, lambda s: {n: s[n] for n in names})
        t = time.perf_counter()
        q = nncf.quantize(
            model,
            ds,
            preset=getattr(nncf.QuantizationPreset, a.preset.upper()),
            subset_size=len(data),
        )
        seconds = time.perf_counter() - t
        ov.save_model(q, str(a.out), compress_to_fp16=False)
    except Exception as e:  # noqa: BLE001 - a peer that fails counts as a failure: say how
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"{type(e).__name__}: {first}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main()
