"""The CPU's INT8 instruction set, and what it means for weights.

Without VNNI, x86 u8*s8 kernels use vpmaddubsw: two adjacent u8*s8 products are added into
a saturating int16. With activations up to 255, a pair of weights whose magnitudes add up
to more than 128 can overflow (255 * 128 = 32640 fits, 255 * 129 does not). VNNI (and AMX)
accumulate in int32 and never saturate.
"""

from __future__ import annotations

import enum
import platform
from pathlib import Path


class Isa(str, enum.Enum):
    AUTO = "auto"  # this machine's
    AVX2 = "avx2"  # u8*s8 through int16: pairs can saturate
    AVX512 = "avx512"  # AVX-512BW without VNNI: also int16 pairs
    VNNI = "vnni"  # AVX-VNNI or AVX512-VNNI: int32 accumulation
    AMX = "amx"  # AMX-INT8
    OTHER = "other"  # ARM and the rest: no u8*s8 pair saturation

    @property
    def saturates(self) -> bool:
        return self in (Isa.AVX2, Isa.AVX512)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def detect_isa(flags: set[str] | None = None) -> Isa:
    f = cpu_flags() if flags is None else flags
    if "amx_int8" in f:
        return Isa.AMX
    if "avx512_vnni" in f or "avx_vnni" in f:
        return Isa.VNNI
    if "avx512bw" in f:
        return Isa.AVX512
    if "avx2" in f:
        return Isa.AVX2
    return Isa.OTHER


def isa_flags(flags: set[str] | None = None) -> list[str]:
    """The INT8-relevant flags, for benchmark reports."""
    f = cpu_flags() if flags is None else flags
    want = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile"]
    return [x for x in want if x in f]


def resolve(isa: Isa | str) -> Isa:
    i = Isa(isa)
    return detect_isa() if i is Isa.AUTO else i
