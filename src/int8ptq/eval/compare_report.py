"""`compare --report DIR`: a markdown report with a per-layer SQNR plot (tensors in graph order,
the worst marked) and the table. Drawn with matplotlib's Agg canvas, no global backend switch."""

from __future__ import annotations

import math
import os
from pathlib import Path

from int8ptq.errors import UserError
from int8ptq.eval.compare import CompareResult, TensorError
from int8ptq.util.atomic import atomic_path, write_text

MARKED = 5  # the worst tensors named on the plot


def _finite(rows: list[TensorError]) -> list[float]:
    """SQNR per row; an exact tensor (infinite SQNR) is drawn at the top of the axis."""
    top = max((r.sqnr_db for r in rows if math.isfinite(r.sqnr_db)), default=60.0) + 5
    return [r.sqnr_db if math.isfinite(r.sqnr_db) else top for r in rows]


def plot_sqnr(res: CompareResult, path: Path, title: str) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("compare --report draws a plot: pip install 'int8ptq[plot]' (matplotlib)") from None
    rows = sorted(res.tensors, key=lambda r: r.graph_index)
    y = _finite(rows)
    x = list(range(len(rows)))
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(x, y, color="tab:blue", linewidth=1, marker="o", markersize=3, label="SQNR per tensor")
    worst = sorted(range(len(rows)), key=lambda i: rows[i].sqnr_db)[:MARKED]
    ax.scatter([x[i] for i in worst], [y[i] for i in worst], color="tab:red", s=40, zorder=3, label="worst")
    listing = []
    for rank, i in enumerate(worst, 1):
        ax.annotate(
            str(rank),
            (x[i], y[i]),
            xytext=(0, -13),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="tab:red",
            weight="bold",
        )
        name = rows[i].tensor if len(rows[i].tensor) <= 42 else "..." + rows[i].tensor[-39:]
        listing.append(f"{rank}. {name}\n    {rows[i].source}, {rows[i].sqnr_db:.1f} dB")
    ax.set_xlabel("quantized tensor, in graph order (0: the input)")
    ax.set_ylabel("SQNR (dB, higher is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.margins(y=0.12)
    fig.subplots_adjust(left=0.06, right=0.66, bottom=0.12, top=0.9)
    fig.text(
        0.68,
        0.9,
        f"worst {len(worst)}:\n\n" + "\n".join(listing),
        va="top",
        fontsize=8,
        family="monospace",
        color="tab:red",
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def write_report(res: CompareResult, folder: str | os.PathLike[str], *, fp32: str, int8: str) -> Path:
    """Write DIR/report.md and DIR/sqnr.png; return the report's path."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    title = f"{Path(int8).name} vs {Path(fp32).name}: SQNR per tensor ({res.images} images)"
    plot_sqnr(res, d / "sqnr.png", title)
    worst = res.tensors[0] if res.tensors else None
    lines = [
        "# int8ptq compare report",
        "",
        f"- FP32 model: `{fp32}`",
        f"- INT8 model: `{int8}`",
        f"- images: {res.images}; quantized tensors: {len(res.tensors)}",
    ]
    if worst is not None:
        lines.append(f"- worst: `{worst.tensor}` ({worst.source}), SQNR {worst.sqnr_db:.1f} dB")
    lines += [
        "",
        "![SQNR per tensor, graph order](sqnr.png)",
        "",
        "SQNR: 10 log10(signal / noise) of the INT8 values against FP32, error accumulated from the "
        "input; per-channel: from the median channel's noise-to-signal ratio.",
        "",
        "| # | tensor | producer | graph position | SQNR dB | per-channel SQNR dB | cosine | max abs err |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k, t in enumerate(res.tensors, 1):
        lines.append(
            f"| {k} | `{t.tensor}` | {t.source} | {t.graph_index} | {t.sqnr_db:.1f} | "
            f"{t.channel_sqnr_db:.1f} | {t.cosine:.5f} | {t.max_abs_err:.3g} |"
        )
    path = d / "report.md"
    write_text(path, "\n".join(lines + _shares_section(res)) + "\n")
    return path


def _shares_section(res: CompareResult, top: int = 20) -> list[str]:
    """The largest shares of the output error (`compare --attribute`), if they were measured."""
    ranked = res.by_share()
    if not ranked:
        return []
    lines = [
        "",
        "## Where the output error comes from",
        "",
        "Share: the part of the model's output error that goes away with that tensor alone back in "
        "FP32; compute: the share of the quantized multiply-adds its FP32 layers would hold.",
        "",
        "| # | tensor | share of output error | compute in FP32 | --exclude |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k, t in enumerate(ranked[:top], 1):
        lines.append(
            f"| {k} | `{t.tensor}` | {100 * (t.error_share or 0):.1f}% | {100 * (t.compute_share or 0):.1f}% "
            f"| `{','.join(t.exclude)}` |"
        )
    return lines
