"""Error hotspots: a cheap tensor whose rounding alone ruins the output stays in float, with
the layers that produce and read it; the rest of the model stays INT8."""

import numpy as np
from onnx import TensorProto, helper

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from int8ptq.hotspots import _bisect
from int8ptq.runtime import Backend, make_runner
from tests.conftest import hotspot_model


def _error(path: str, x: np.ndarray, ref: np.ndarray) -> float:
    out = make_runner(path, Backend.ORT).run({"x": x})
    return float(((out - ref) ** 2).sum() / ((ref - ref.mean()) ** 2).sum())


def test_the_tensor_that_ruins_the_output_stays_float_with_its_layers(tmp_path) -> None:  # noqa: ANN001
    model = hotspot_model()
    x = np.random.default_rng(1).standard_normal((32, 1, 24, 24)).astype(np.float32)
    ref = make_runner(model, Backend.ORT).run({"x": x})
    hot = quantize(model, tmp_path / "hot.onnx", x)
    plain = quantize(model, tmp_path / "plain.onnx", x, config=QuantConfig(float_hotspots=False))
    [(why, layers)] = hot.error_fallbacks.items()
    assert sorted(layers) == ["a", "b"] and why.startswith("t: ")
    assert plain.error_fallbacks == {} and hot.quantized_nodes == plain.quantized_nodes - 2
    assert _error(str(tmp_path / "hot.onnx"), x, ref) < 0.1 * _error(str(tmp_path / "plain.onnx"), x, ref)


def test_bisection_finds_every_large_share_in_few_measurements() -> None:
    shares = {f"t{i}": 0.01 for i in range(40)} | {"t7": 0.3, "t31": 0.25}
    calls = []

    def share(group: list[str]) -> float:
        calls.append(group)
        return sum(shares[t] for t in group)

    found = _bisect(list(shares), share, 24)
    assert sorted(t for _, t in found) == ["t31", "t7"]
    assert len(calls) <= 24
    assert _bisect(list(shares), share, 1) == []  # out of measurements: nothing claimed


def test_without_hotspots_the_measured_model_is_the_one_written(tmp_path) -> None:  # noqa: ANN001
    """The model built to measure hotspots is written as it is when none is found: the same
    bytes as a build without the measurement."""
    from tests.conftest import tiny_convnet

    model = tiny_convnet(size=16)
    x = np.random.default_rng(0).standard_normal((32, 3, 16, 16)).astype(np.float32)
    measured = quantize(model, tmp_path / "measured.onnx", x)
    plain = quantize(model, tmp_path / "plain.onnx", x, config=QuantConfig(float_hotspots=False))
    assert measured.error_fallbacks == {}
    assert measured.settings == plain.settings and measured.rounding_fallbacks == plain.rounding_fallbacks
    assert (tmp_path / "measured.onnx").read_bytes() == (tmp_path / "plain.onnx").read_bytes()


def test_samples_of_differing_shapes_fill_the_stash_one_batch_each() -> None:
    """Samples of differing shapes come one per batch: the measure still runs on 16 of them,
    not on the first one alone, and an output whose first axis is not the batch (here the
    channels) keeps the same batches as the inputs."""
    from int8ptq.ir import Graph
    from int8ptq.pipeline import STASH_SAMPLES, calibrate_model
    from tests.conftest import tiny_convnet

    rng = np.random.default_rng(0)
    model = tiny_convnet()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"  # any image size
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_param = "W"
    model.graph.node.append(helper.make_node("Transpose", ["a"], ["at"], perm=[1, 0, 2, 3], name="t"))
    model.graph.output.append(helper.make_tensor_value_info("at", TensorProto.FLOAT, None))
    name = model.graph.input[0].name
    data = [{name: rng.standard_normal((1, 3, 16, 16 + 8 * (i % 3))).astype(np.float32)} for i in range(24)]
    cal = calibrate_model(model, data, QuantConfig())
    assert cal.stats.stash is not None
    g = Graph(model)
    feeds, reference = cal.stats.stash.pairs(g)
    assert len(feeds) == len(reference) == STASH_SAMPLES
    assert {f[name].shape[-1] for f in feeds} == {16, 24, 32}
    assert [r["at"].shape[1] for r in reference] == [1] * STASH_SAMPLES  # 8 channels first, 1 sample
    batch = [{name: np.concatenate([d[name] for d in data[:20:3]])}]
    same = calibrate_model(model, batch, QuantConfig())
    assert same.stats.stash is not None and [len(f[name]) for f in same.stats.stash.pairs(g)[0]] == [7]
