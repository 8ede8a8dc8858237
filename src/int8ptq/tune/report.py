"""The tuning report: a markdown file with every trial, the fallen-back layers, and two
plots (accuracy drop against speed for every trial; per-layer sensitivity)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from int8ptq.config import TuneConfig
from int8ptq.tune.result import TuneResult
from int8ptq.util.atomic import atomic_path, write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def load_matplotlib() -> bool:
    """Whether matplotlib is there. Tuning loads it before the first trial, so an interrupt
    never lands inside its import. Figures draw on their own Agg canvas: no pyplot, and the
    process's matplotlib backend is never switched."""
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(size: tuple[float, float]) -> tuple[Figure, Any]:
    """A figure on its own Agg canvas, and its one axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _plots(res: TuneResult, folder: Path) -> list[str]:
    try:
        return _draw(res, folder)
    except Exception:  # noqa: BLE001 - a plot is never worth losing the report
        return []


def _draw(res: TuneResult, folder: Path) -> list[str]:
    if not load_matplotlib():
        return []
    names = []
    done = [t for t in res.trials if t.drop is not None]
    if done:
        fig, ax = _figure((6, 4))
        ax.scatter(
            [t.images_per_s for t in done],
            [100 * (t.drop or 0.0) for t in done],
            c=["tab:green" if t.met else "tab:red" for t in done],
        )
        for t in done:
            ax.annotate(str(t.index), (t.images_per_s, 100 * (t.drop or 0.0)), fontsize=8)
        ax.set_xlabel("INT8 images/s (evaluation run)")
        ax.set_ylabel("drop (percentage points)")
        ax.set_title("trials: green within budget")
        names.append(_save(fig, folder / "trials.png"))
    top = res.sensitivity[:20]
    if top:
        fig, ax = _figure((7, max(3, 0.3 * len(top))))
        shares = all(s.error_share is not None for s in top)
        values = [100 * (s.error_share or 0.0) if shares else s.added_nsr for s in top]
        ax.barh([s.layer[-40:] for s in top][::-1], values[::-1])
        ax.set_xlabel(
            "% of the output error (the tensor alone in FP32)"
            if shares
            else "noise-to-signal ratio the layer adds"
        )
        ax.set_title("per-layer sensitivity (worst at the top)")
        names.append(_save(fig, folder / "sensitivity.png"))
    return names


def _save(fig: Figure, path: Path) -> str:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path.name


def _drop(d: float | None) -> str:
    return "over budget (stopped early)" if d is None else f"{100 * d:.2f}"


def write_report(res: TuneResult, tc: TuneConfig, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plots = _plots(res, folder)
    b = res.best
    lines = [
        "# int8ptq tune report",
        "",
        f"- budget: drop of at most {tc.max_drop} ({100 * tc.max_drop:.2f} points) of {tc.metric.value}",
        f"- result: {'within budget' if res.met else 'budget NOT met; the best model found is kept'}"
        + (f" ({res.stopped})" if res.stopped else ""),
        f"- model: `{res.output}`",
    ]
    if b is not None:
        lines.append(
            f"- best: trial {b.index} ({b.name}), drop {_drop(b.drop)} points, method {b.method}, "
            f"{len(b.fallback)} layers in FP32"
        )
        lines.append(f"- layers kept in FP32: {', '.join(f'`{n}`' for n in b.fallback) or 'none'}")
    lines += [
        "",
        "| # | trial | method | FP32 layers | drop (pts) | images/s | time (s) | within budget |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in res.trials:
        drop = _drop(t.drop)
        lines.append(
            f"| {t.index} | {t.name} | {t.method} | {len(t.fallback)} | {drop} | {t.images_per_s:.1f} "
            f"| {t.seconds:.1f} | {'yes' if t.met else 'no'}{' (' + t.note + ')' if t.note else ''} |"
        )
    if res.sensitivity:
        lines += [
            "",
            "## Sensitivity (share of the output error, then the error each layer adds; worst first)",
            "",
            "| layer | tensor | share of output error | SQNR dB | added NSR |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{s.layer}` | `{s.tensor}` | {_share(s.error_share)} | {s.sqnr_db:.1f} | {s.added_nsr:.2e} |"
            for s in res.sensitivity[:20]
        ]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    path = folder / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def _share(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"
