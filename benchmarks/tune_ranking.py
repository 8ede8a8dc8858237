"""How `tune` ranks its FP32 fallbacks: by each tensor's measured share of the output error
(`compare --attribute`, the default) against the error each layer adds by itself (the ranking
before; here the same code with the shares not measured). Agreement with FP32 on the first
600 eval.txt images, a budget of one point (the agreement bar of issue 16), the defaults
otherwise. Writes the "tune: fallbacks ranked by share of the output error" section.

    python benchmarks/tune_ranking.py [efficientnet_lite1,efficientnet_lite2]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from int8ptq.config import Metric, QuantConfig, TuneConfig  # noqa: E402
from int8ptq.tune import search  # noqa: E402

IMAGES = 600
BUDGET = 0.01


def _tune(fp32: Path, out: Path, by_share: bool) -> list[str]:
    """One tune run; the cells of its row."""
    compare = search.compare
    if not by_share:  # the ranking before: no shares measured, so rank() orders by added error
        search.compare = functools.partial(compare, attributed=False)
    try:
        t = time.perf_counter()
        res = search.tune(
            fp32,
            out,
            str(common.DATA / "calib.txt"),
            str(common.DATA / "eval.txt"),
            config=QuantConfig(threads=2),
            tcfg=TuneConfig(max_drop=BUDGET, metric=Metric.AGREEMENT, eval_images=IMAGES),
            report_dir=out.parent / f"{out.stem}-report",
        )
        seconds = time.perf_counter() - t
    finally:
        search.compare = compare
    best = res.best
    assert best is not None
    drop = "-" if best.drop is None else f"{100 * best.drop:.2f}"
    return [
        "yes" if res.met else "no",
        str(len(best.fallback)),
        drop,
        f"{best.images_per_s:.0f}",
        f"{best.index} of {len(res.trials)}",
        f"{seconds:.0f} s",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="?", default="efficientnet_lite1,efficientnet_lite2")
    a = ap.parse_args()
    rows = []
    for name in a.models.split(","):
        w = Path(tempfile.mkdtemp(prefix=f"int8ptq-tune-{name}-"))
        fp32 = common.export_zoo(name, w / "fp32.onnx")
        for by_share, label in ((True, "share of output error (default)"), (False, "added error (before)")):
            out = w / f"{'share' if by_share else 'added'}.onnx"
            row = [name, label, *_tune(fp32, out, by_share)]
            print(row, flush=True)
            rows.append(row)
    cols = ["model", "fallbacks ranked by", "within budget", "FP32 layers", "agreement drop (pts)"]
    cols += ["INT8 images/s (evaluation)", "best trial", "tune time"]
    body = (
        f"`int8ptq tune --metric agreement --max-drop {BUDGET} --eval-images {IMAGES}` (Python API, defaults"
        " otherwise: 100 calib.txt images; the first 600 eval.txt images), each model's two runs from"
        " the same code, the second with the shares not measured. Both try the range methods first"
        " (none meets the budget here), then keep tensors in FP32 in ranking order, fewest first.\n\n"
    )
    body += common.md_table(cols, rows)
    common.update_section(
        "tune: fallbacks ranked by share of the output error",
        body,
        "python benchmarks/tune_ranking.py " + a.models,
    )


if __name__ == "__main__":
    main()
