"""The accuracy tables of BENCHMARKS.md, from the cached results of benchmarks/columns.py
and the sidecar of each quantized model (settings, quantize time, load average)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import columns
import common

TOOL_NAMES = {"ort": "onnxruntime quantize_static", "nncf": "NNCF", "quark": "AMD Quark"}


@dataclass(frozen=True)
class Row:
    slug: str
    tool: str
    label: str
    res: dict[str, dict[str, float]]  # column -> result
    info: dict[str, object]  # the sidecar (empty for FP32)

    @property
    def native(self) -> str:
        """The backend the tool makes its model for: OpenVINO for NNCF, onnxruntime otherwise."""
        return "ov" if self.tool == "nncf" else "ort"

    def get(self, column: str, key: str) -> float | None:
        return self.res.get(column, {}).get(key)

    def rank(self) -> tuple[float, float]:
        return (self.get(self.native, "agreement") or 0.0, self.get(self.native, "cosine") or 0.0)


def rows(d: Path) -> list[Row]:
    res = columns.load_results(d)
    out = [Row("fp32", "fp32", "FP32, the prepared graph every tool quantizes", res.get("fp32", {}), {})]
    for meta in sorted((d / "models").glob("*.json"), key=lambda p: p.stem):
        if meta.name.endswith(".quantize.json"):
            continue
        info = json.loads(meta.read_text())
        if info["slug"] in res:
            out.append(Row(info["slug"], info["tool"], info["label"], res[info["slug"]], info))
    order = ["fp32", "int8ptq", "ort", "nncf", "quark"]
    return sorted(out, key=lambda r: (order.index(r.tool), r.slug))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _cos(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _time(info: dict[str, object]) -> str:
    if not info:
        return "-"
    load = max(float(info["load_before"]), float(info["load_after"]))  # type: ignore[arg-type]
    return f"{float(info['seconds']):.0f} s (load {load:.1f})"  # type: ignore[arg-type]


def cells(r: Row, bold: bool = False) -> list[str]:
    top1, ref = r.get(r.native, "top1"), r.get(r.native, "ref_top1")
    drop = "-" if r.tool == "fp32" or top1 is None or ref is None else f"{100 * (ref - top1):+.2f}"
    name = f"**{r.label}**" if bold else r.label
    agree = [_pct(r.get(c, "agreement")) for c in columns.COLUMNS]
    if r.tool == "fp32":
        agree = ["-"] * len(columns.COLUMNS)
    cos = [_cos(r.get(r.native, "cosine")), _cos(r.get("exact", "cosine"))]
    if r.tool == "fp32":
        cos = ["-", "-"]
    return [name, _pct(top1), drop, *agree, *cos, _time(r.info)]


HEAD = [
    "configuration",
    "top-1",
    "top-1 drop (pts)",
    "agreement: onnxruntime (VNNI kernels)",
    "agreement: OpenVINO (VNNI kernels)",
    "agreement: OpenVINO, AVX2 kernels",
    "agreement: integer-exact",
    "cosine (native backend)",
    "cosine: integer-exact",
    "quantize time (load average)",
]


def best_rows(all_rows: list[Row], column: str | None = None) -> list[Row]:
    """FP32, int8ptq's settings, then each peer's best setting: on its own backend, or by
    agreement in `column`; plus Quark's AdaRound if it ran (what issue 16 compares against)."""
    out = [r for r in all_rows if r.tool in ("fp32", "int8ptq")]

    def rank(r: Row) -> tuple[float, float]:
        return r.rank() if column is None else (r.get(column, "agreement") or 0.0, r.rank()[1])

    for tool in ("ort", "nncf", "quark"):
        mine = [r for r in all_rows if r.tool == tool]
        if mine:
            out.append(max(mine, key=rank))
    out += [r for r in all_rows if "adaround" in r.slug and r not in out]
    return out


def accuracy_section(d: Path, source: str, preset: str, size: int) -> str:
    rs = rows(d)
    fp32 = next((r for r in rs if r.tool == "fp32"), None)
    ref_top1 = fp32.get("ort", "ref_top1") if fp32 else None
    versions = sorted({f"{TOOL_NAMES[r.tool]} {r.info['version']}" for r in rs if r.tool in TOOL_NAMES})
    text = (
        f"Weights: {source}. Every tool quantizes the same FP32 graph: the model after int8ptq's FP32 "
        "passes (`prepared.onnx`, benchmarks/prepare.py), calibrated on the same 100 images of "
        f"`calib.txt`; evaluation on the 1200 images of `eval.txt`, preset {preset} at {size}x{size}. "
        f"Agreement (top-1 equal to FP32's), cosine (of the logits) and top-1 drop are against the FP32 "
        f"model on onnxruntime (top-1 {_pct(ref_top1)}). Peers: {', '.join(versions) or 'none'}.\n\n"
        "Columns. *onnxruntime* and *OpenVINO*: their real INT8 kernels on this CPU, which has "
        "AVX512-VNNI (int32 accumulation: no int16 saturation can show here). *OpenVINO, AVX2 "
        "kernels*: OpenVINO with oneDNN capped at AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`), i.e. the real "
        "AVX2 kernels (u8 x s8 pairs summed into a saturating int16) run on this CPU: what an "
        "AVX2-only machine computes. onnxruntime has no such switch, so its AVX2 kernels could not "
        "be run here. *integer-exact*: the QDQ graph on onnxruntime with every graph optimization "
        "off (ORT_DISABLE_ALL), which computes what an int32-accumulating kernel computes (up to "
        "float32 rounding); it needs an ONNX file, so not for NNCF's OpenVINO IR. top-1 and cosine "
        "are from the tool's own backend (OpenVINO for NNCF, onnxruntime otherwise). Quantize "
        "times were measured on a shared machine: each shows the load average it ran under.\n\n"
    )
    text += "### Each tool's best setting on this CPU (VNNI)\n\n"
    text += "A peer's best is its setting with the highest agreement on its own backend here.\n\n"
    text += common.md_table(HEAD, [cells(r, r.tool == "int8ptq") for r in best_rows(rs)])
    text += "\n### Each tool's best setting for an AVX2 CPU\n\n"
    text += "A peer's best is its setting with the highest agreement on OpenVINO's AVX2 kernels.\n\n"
    text += common.md_table(HEAD, [cells(r, r.tool == "int8ptq") for r in best_rows(rs, "ov-avx2")])
    text += "\n### Every setting\n\n"
    text += common.md_table(HEAD, [cells(r) for r in rs])
    return text


def portable_section(dirs: list[Path]) -> str:
    head = [
        "model",
        "setting",
        "agreement: AVX2 kernels (OpenVINO capped)",
        "agreement: VNNI kernels (onnxruntime / OpenVINO)",
        "agreement: integer-exact",
        "cosine: integer-exact",
        "top-1 drop (onnxruntime, pts)",
    ]
    body = []
    for d in dirs:
        for r in rows(d):
            if r.tool != "int8ptq":
                continue
            top1, ref = r.get("ort", "top1"), r.get("ort", "ref_top1")
            body.append(
                [
                    d.name,
                    r.label,
                    _pct(r.get("ov-avx2", "agreement")),
                    f"{_pct(r.get('ort', 'agreement'))} / {_pct(r.get('ov', 'agreement'))}",
                    _pct(r.get("exact", "agreement")),
                    _cos(r.get("exact", "cosine")),
                    "-" if top1 is None or ref is None else f"{100 * (ref - top1):+.2f}",
                ]
            )
    text = (
        "What a model made with int8ptq's defaults computes on each kind of x86 CPU, against the "
        "model made for VNNI only (`--target-isa vnni`). 100 calibration images (calib.txt), 1200 "
        "evaluation images (eval.txt), agreement with FP32 top-1. This machine has AVX512-VNNI; the "
        "AVX2 column runs OpenVINO's real AVX2 kernels on it (oneDNN capped with "
        "`ONEDNN_MAX_CPU_ISA=AVX2`); the per-model sections have the columns' definitions and the peers.\n\n"
    )
    return text + common.md_table(head, body)
