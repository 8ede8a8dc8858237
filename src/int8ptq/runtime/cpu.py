"""The CPU this process runs on: model name, instruction-set flags and its INT8 class.

Flags come from numpy's runtime dispatch table (every OS numpy supports), merged with
Linux's /proc/cpuinfo and macOS's sysctl where present (they also know AMX). The INT8 class
is one of ISA_NAMES; the semantics (which classes saturate) live in `int8ptq.quant.isa`.
A CPU whose instruction set cannot be read is assumed to saturate (AVX2): the safe case.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

# numpy's feature names -> the Linux /proc/cpuinfo spelling used throughout
_NUMPY_FLAGS = {
    "AVX2": "avx2",
    "FMA3": "fma",
    "AVX512F": "avx512f",
    "AVX512BW": "avx512bw",
    "AVX512VNNI": "avx512_vnni",
    "AVX512_VNNI": "avx512_vnni",
    "AVXVNNI": "avx_vnni",
    "AVX_VNNI": "avx_vnni",
    "NEON": "neon",
    "ASIMD": "asimd",
}
INT8_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile")
ISA_NAMES = ("avx2", "avx512", "vnni", "amx", "other")


def _numpy_flags() -> set[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as feats  # type: ignore[no-redef]  # numpy < 2: same name
        except ImportError:
            return set()
    return {_NUMPY_FLAGS[k] for k, on in feats.items() if on and k in _NUMPY_FLAGS}


def _proc_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = path.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _sysctl(name: str) -> str:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _sysctl_flags() -> set[str]:
    """macOS on Intel: machdep.cpu.*features lists e.g. AVX2, AVX512BW, AVX512VNNI, AMXINT8."""
    if platform.system() != "Darwin":
        return set()
    words = " ".join(_sysctl(k) for k in ("machdep.cpu.features", "machdep.cpu.leaf7_features")).split()
    rename = {"AVX512VNNI": "avx512_vnni", "AMXINT8": "amx_int8", "AMXTILE": "amx_tile", "FMA": "fma"}
    return {rename.get(w, w.lower()) for w in words}


def _model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin" and (name := _sysctl("machdep.cpu.brand_string")):
        return name
    return platform.processor() or platform.machine()


def _is_x86(machine: str) -> bool:
    return machine.lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def isa_of(flags: set[str] | frozenset[str], machine: str = "x86_64") -> str:
    """The INT8 class of a CPU with these flags: amx, vnni, avx512, avx2 or other (not x86).
    An x86 CPU whose flags say nothing (unreadable) counts as avx2, the saturating case."""
    if not _is_x86(machine):
        return "other"
    if "amx_int8" in flags:
        return "amx"
    if "avx512_vnni" in flags or "avx_vnni" in flags:
        return "vnni"
    if "avx512bw" in flags:
        return "avx512"
    return "avx2"


@dataclass(frozen=True)
class CpuInfo:
    model: str
    machine: str
    flags: frozenset[str]

    @property
    def isa(self) -> str:
        return isa_of(self.flags, self.machine)

    @property
    def int8_flags(self) -> list[str]:
        """The INT8-relevant flags, for benchmark reports."""
        return [f for f in INT8_FLAGS if f in self.flags]


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU (detected once per process)."""
    flags = _numpy_flags() | _proc_flags() | _sysctl_flags()
    return CpuInfo(_model_name(), platform.machine() or "unknown", frozenset(flags))
