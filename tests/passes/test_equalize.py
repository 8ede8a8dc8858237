"""Cross-layer equalization keeps the function and evens out the weight ranges."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from int8ptq.ir.graph import Graph
from int8ptq.passes.equalize import equalize, find_pairs
from int8ptq.pipeline import equalize_model, prepare_model
from tests.conftest import init, make_model, run, tiny_convnet


def _chain(act: str, seed: int = 0) -> Graph:
    """Conv(8) -> act -> depthwise Conv -> act -> Conv(6), with channel ranges far apart."""
    rng = np.random.default_rng(seed)
    f = np.float32
    spread = np.exp(rng.uniform(-3, 3, 8)).astype(f)  # per-channel weight ranges over ~e^6
    inits = [
        init("w1", rng.standard_normal((8, 3, 3, 3)).astype(f) * spread[:, None, None, None]),
        init("b1", rng.standard_normal(8).astype(f) * spread),
        init("wd", rng.standard_normal((8, 1, 3, 3)).astype(f) / spread[:, None, None, None]),
        init("w2", rng.standard_normal((6, 8, 1, 1)).astype(f)),
        init("lo", np.array(0, f)),
        init("hi", np.array(1e4, f)),  # a Clip the data never reaches
        init("slope", np.array(0.1, f)),
    ]

    def act_node(src: str, dst: str) -> list:
        if act == "Relu":
            return [helper.make_node("Relu", [src], [dst])]
        if act == "LeakyRelu":
            return [helper.make_node("LeakyRelu", [src], [dst], alpha=0.1)]
        if act == "Clip":
            return [helper.make_node("Clip", [src, "lo", "hi"], [dst])]
        return [helper.make_node("Identity", [src], [dst])]

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="first"),
        *act_node("c1", "a1"),
        helper.make_node("Conv", ["a1", "wd"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dw"),
        *act_node("c2", "a2"),
        helper.make_node("Conv", ["a2", "w2"], ["y"], name="last"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 12])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6, 12, 12])
    g = Graph(make_model(nodes, inits, [x], [y]))
    if act == "none":
        from int8ptq.passes import remove_identity

        remove_identity(g)
    return g


def _channel_ranges(w: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).max(axis=1)


@pytest.mark.parametrize("act", ["Relu", "LeakyRelu", "none"])
def test_equalization_preserves_the_function_and_evens_ranges(act: str) -> None:
    g = _chain(act)
    x = np.random.default_rng(1).standard_normal((2, 3, 12, 12)).astype(np.float32)
    before = run(g.to_model(), x)
    assert len(find_pairs(g)) == 2
    spread_before = np.ptp(np.log(_channel_ranges(g.const(g.nodes[0].input[1]), 0)))
    assert equalize(g) == 2
    np.testing.assert_allclose(run(g.to_model(), x), before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    first = next(n for n in g.nodes if n.name == "first")
    spread_after = np.ptp(np.log(_channel_ranges(g.const(first.input[1]), 0)))
    assert spread_after < 0.5 * spread_before


def test_clip_pairs_need_channel_maxima_and_respect_the_clip() -> None:
    g = _chain("Clip")
    assert equalize(g) == 0  # no statistics: clipped pairs are left alone
    x = np.random.default_rng(1).standard_normal((4, 3, 12, 12)).astype(np.float32)
    before = run(g.to_model(), x)
    pairs = find_pairs(g)
    # channel 0 reaches the clip on the data: it must keep its scale
    maxima = {p.between: np.full(8, 10.0) for p in pairs}
    maxima[pairs[0].between][0] = 1e4
    w_first = g.const(pairs[0].first.input[1]).copy()
    assert equalize(g, maxima) == 2
    np.testing.assert_allclose(run(g.to_model(), x), before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    first = next(n for n in g.nodes if n.name == "first")
    np.testing.assert_array_equal(g.const(first.input[1])[0], w_first[0])
    assert not np.allclose(g.const(first.input[1])[1:], w_first[1:])


def test_equalization_is_opt_in_and_counts_layers(tmp_path) -> None:  # noqa: ANN001
    data = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    prep = prepare_model(tiny_convnet())
    assert equalize_model(prep, data, QuantConfig()) == 0  # off by default
    prep = prepare_model(tiny_convnet())
    n = equalize_model(prep, data, QuantConfig(per_channel=False, equalize=True))
    assert n == prep.passes["equalize"] >= 1  # conv1 -relu-> dw (the Clip pair too, with maxima)
    cfg = QuantConfig(per_channel=False, equalize=True)
    r = quantize(tiny_convnet(), tmp_path / "q.onnx", data, config=cfg)
    assert r.settings["equalized_layers"] == n
    ref = run(tiny_convnet(), data)
    got = run(str(tmp_path / "q.onnx"), data)
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.95
