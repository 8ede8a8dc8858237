"""What tuning reports: every trial, and the result."""

from __future__ import annotations

from dataclasses import dataclass, field

from int8ptq.eval.sensitivity import Sensitivity


@dataclass
class Trial:
    index: int
    name: str
    method: str
    fallback: list[str]  # nodes kept in FP32
    drop: float | None  # a fraction, as max_drop (None: stopped early, cannot meet the budget)
    images_per_s: float
    seconds: float
    met: bool
    note: str = ""


@dataclass
class TuneResult:
    output: str
    met: bool
    best: Trial | None
    trials: list[Trial] = field(default_factory=list)
    sensitivity: list[Sensitivity] = field(default_factory=list)
    stopped: str = ""  # "", "time budget", "interrupted"
    fp32_top1: float | None = None
    report: str = ""
