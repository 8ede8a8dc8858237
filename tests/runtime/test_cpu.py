"""CPU detection: flags from numpy's dispatch table on every OS, /proc where present."""

from pathlib import Path

from numpy._core._multiarray_umath import __cpu_features__

from int8ptq.runtime.cpu import cpu_info, isa_of


def test_detected_flags_agree_with_numpy_and_proc():
    cpu = cpu_info()
    assert cpu.model
    if __cpu_features__.get("AVX2"):
        assert "avx2" in cpu.flags
    if __cpu_features__.get("AVX512VNNI"):
        assert "avx512_vnni" in cpu.flags and cpu.isa in ("vnni", "amx")
    proc = Path("/proc/cpuinfo")
    if proc.is_file():
        line = next(x for x in proc.read_text().splitlines() if x.startswith("flags"))
        assert set(line.split(":", 1)[1].split()) <= cpu.flags
    assert cpu.isa == isa_of(cpu.flags, cpu.machine)
    assert set(cpu.int8_flags) <= cpu.flags


def test_unknown_x86_is_the_saturating_case_and_arm_is_other():
    assert isa_of(frozenset(), "x86_64") == "avx2"
    assert isa_of(frozenset(), "AMD64") == "avx2"
    assert isa_of(frozenset({"neon"}), "arm64") == "other"
