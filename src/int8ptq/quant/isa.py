"""The INT8 instruction sets a model can target, and what each means for weights.

Without VNNI, x86 u8*s8 kernels use vpmaddubsw: two adjacent u8*s8 products are added into
a saturating int16. With activations up to 255, a pair of weights of one sign whose
magnitudes add up to more than 128 can overflow (255 * 128 = 32640 fits, 255 * 129 does not;
opposite signs never can). VNNI (and AMX) accumulate in int32 and never saturate.

Pure semantics: detecting this machine's CPU is `int8ptq.runtime.cpu`'s job.
"""

from __future__ import annotations

import enum


class Isa(str, enum.Enum):
    PORTABLE = "portable"  # correct on every x86 CPU: weights pair-guarded (the default)
    AUTO = "auto"  # this machine's, whatever it is
    AVX2 = "avx2"  # u8*s8 through int16: pairs can saturate
    AVX512 = "avx512"  # AVX-512BW without VNNI: also int16 pairs
    VNNI = "vnni"  # AVX-VNNI or AVX512-VNNI: int32 accumulation
    AMX = "amx"  # AMX-INT8
    OTHER = "other"  # ARM and the rest: no u8*s8 pair saturation

    @property
    def saturates(self) -> bool:
        """A CPU of this class adds weight pairs in saturating int16."""
        return self in (Isa.AVX2, Isa.AVX512)

    @property
    def guarded(self) -> bool:
        """A model made for this target keeps every weight pair within the int16 bound."""
        return self in (Isa.PORTABLE, Isa.AVX2, Isa.AVX512)


def resolve(target: Isa | str, cpu: Isa | str) -> Isa:
    """The concrete target: `auto` becomes `cpu` (this machine's class); the rest stay."""
    t = Isa(target)
    return Isa(cpu) if t is Isa.AUTO else t


def saturates_on(target: Isa | str, cpu: Isa | str) -> bool:
    """A model made for `target` can overflow int16 pairs on a CPU of class `cpu`."""
    return Isa(cpu).saturates and not Isa(target).guarded


def saturation_warning(model: str, target: Isa | str, cpu: Isa | str) -> str | None:
    """The one-line warning for a model whose target saturates on this CPU, else None."""
    if not saturates_on(target, cpu):
        return None
    return (
        f"warning: {model} was made for {Isa(target).value} (int32 accumulation) but this CPU is "
        f"{Isa(cpu).value}: weight pairs can hit int16 saturation and accuracy can drop; "
        f"re-quantize with --target-isa portable"
    )
