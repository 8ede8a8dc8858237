"""Portable by default, the target recorded in the model, and the one-line saturation warning
from load(), evaluate() and benchmark() when the CPU (injected here) saturates."""

import numpy as np
import onnx
import pytest

from int8ptq.api import benchmark, evaluate, load, quantize
from int8ptq.config import QuantConfig
from int8ptq.eval.target import recorded_target
from int8ptq.quant.isa import Isa, resolve, saturates_on
from int8ptq.runtime.cpu import cpu_info


@pytest.fixture
def models(convnet_path, calib_npy, tmp_path):
    out = {}
    for target in ("portable", "vnni"):
        p = tmp_path / f"{target}.onnx"
        quantize(convnet_path, p, calib_npy, config=QuantConfig(target_isa=target))
        out[target] = p
    return out


def test_default_is_portable_and_recorded(models):
    assert QuantConfig().target_isa is Isa.PORTABLE
    assert recorded_target(onnx.load(str(models["portable"]))) is Isa.PORTABLE
    assert recorded_target(onnx.load(str(models["vnni"]))) is Isa.VNNI
    assert resolve("auto", cpu_info().isa) is Isa(cpu_info().isa)
    assert resolve("portable", "vnni") is Isa.PORTABLE


def test_saturation_semantics():
    for cpu in ("avx2", "avx512"):
        assert saturates_on("vnni", cpu) and saturates_on("amx", cpu) and saturates_on("other", cpu)
        assert not saturates_on("portable", cpu) and not saturates_on("avx2", cpu)
    for cpu in ("vnni", "amx", "other"):
        assert not saturates_on("vnni", cpu) and not saturates_on("portable", cpu)


def _lines(err: str) -> list[str]:
    return [x for x in err.splitlines() if "saturation" in x]


def test_load_warns_once_naming_both_isas(models, capfd):
    load(models["vnni"], cpu_isa="avx2")
    lines = _lines(capfd.readouterr().err)
    assert len(lines) == 1 and "vnni" in lines[0] and "avx2" in lines[0]
    load(models["portable"], cpu_isa="avx2")
    load(models["vnni"], cpu_isa="vnni")
    assert _lines(capfd.readouterr().err) == []


def test_evaluate_and_benchmark_warn_for_the_saturating_model_only(models, convnet_path, capfd):
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    evaluate([convnet_path, models["portable"], models["vnni"]], [x], cpu_isa="avx512")
    lines = _lines(capfd.readouterr().err)
    assert len(lines) == 1 and str(models["vnni"]) in lines[0] and "avx512" in lines[0]
    benchmark(
        [models["vnni"]], batches=[1], threads=[1], backends=["ort"], warmup=0, repeat=1, cpu_isa="avx2"
    )
    lines = _lines(capfd.readouterr().err)
    assert len(lines) == 1 and "vnni" in lines[0] and "avx2" in lines[0]
    benchmark([models["vnni"]], batches=[1], threads=[1], backends=["ort"], warmup=0, repeat=1, cpu_isa="amx")
    assert _lines(capfd.readouterr().err) == []
