"""Models with several inputs, non-image inputs and dynamic H/W: data by input name."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from int8ptq.api import quantize
from int8ptq.data.feeds import Feed, group
from int8ptq.data.model_input import model_inputs
from int8ptq.data.presets import PRESETS
from int8ptq.data.source import iter_batches
from int8ptq.errors import UserError
from int8ptq.eval.compare import compare
from int8ptq.runtime import make_runner
from tests.conftest import cosine, init, make_model


def two_input_model() -> onnx.ModelProto:
    """image [N,3,H,W] (dynamic H, W) and scale_factor [N,2] -> Conv-Relu-GAP-MatMul * scale."""
    rng = np.random.default_rng(0)
    f = np.float32
    nodes = [
        helper.make_node("Conv", ["image", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["fl"], name="flat"),
        helper.make_node("MatMul", ["fl", "wm"], ["m"], name="mm"),
        helper.make_node("Mul", ["m", "scale_factor"], ["y"], name="mul"),
    ]
    inits = [
        init("w", rng.standard_normal((8, 3, 3, 3)).astype(f) * 0.3),
        init("b", rng.standard_normal(8).astype(f) * 0.1),
        init("wm", rng.standard_normal((8, 2)).astype(f)),
    ]
    ins = [
        helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]),
        helper.make_tensor_value_info("scale_factor", TensorProto.FLOAT, ["N", 2]),
    ]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])]
    return make_model(nodes, inits, ins, out)


def _samples(n: int, widths=(16, 24)) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        {
            "image": rng.standard_normal((3, 16, widths[i % len(widths)])).astype(np.float32),
            "scale_factor": rng.random(2).astype(np.float32) + 0.5,
        }
        for i in range(n)
    ]


def _check_close(model_path, int8_path, samples) -> None:  # noqa: ANN001
    f, q = make_runner(model_path), make_runner(int8_path)
    for s in samples[:4]:
        feed = {k: v[None] for k, v in s.items()}
        assert cosine(f.run(feed), q.run(feed)) > 0.99


def test_npz_with_one_array_per_input(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    rng = np.random.default_rng(2)
    np.savez(
        tmp_path / "calib.npz",
        image=rng.standard_normal((20, 3, 16, 20)).astype(np.float32),
        scale_factor=rng.random((20, 2)).astype(np.float32),
    )
    r = quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", tmp_path / "calib.npz")
    assert r.calib_images == 20 and r.quantized_nodes >= 2
    _check_close(tmp_path / "m.onnx", tmp_path / "q.onnx", _samples(4, (20,)))
    c = compare(tmp_path / "m.onnx", tmp_path / "q.onnx", tmp_path / "calib.npz")
    assert c.images == 20 and {t.tensor for t in c.tensors} >= {"image", "r"}


def test_folder_of_npz_samples_of_different_widths(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    (tmp_path / "calib").mkdir()
    samples = _samples(9)
    for i, s in enumerate(samples):
        np.savez(tmp_path / "calib" / f"{i:03d}.npz", **s)
    r = quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", tmp_path / "calib")
    assert r.calib_images == 9
    _check_close(tmp_path / "m.onnx", tmp_path / "q.onnx", samples)


def test_python_dicts_one_sample_each(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    samples = _samples(10)
    r = quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", samples)
    assert r.calib_images == 10
    inputs = model_inputs(two_input_model())
    batches, _ = iter_batches(samples, inputs, PRESETS["torchvision"], 4)
    sizes = [(len(b), b.inputs["image"].shape[3]) for b in batches]
    assert sizes == [(1, 16), (1, 24)] * 5  # alternating widths never share a batch


def test_grouping_keeps_order_and_joins_equal_shapes():
    def feed(w: int, name: str) -> Feed:
        return Feed({"x": np.zeros((1, 3, 4, w), np.float32)}, np.array([-1]), [name])

    out = list(group([feed(4, "a"), feed(4, "b"), feed(4, "c"), feed(8, "d"), feed(4, "e")], 2))
    assert [b.names for b in out] == [["a", "b"], ["c"], ["d"], ["e"]]


def test_missing_or_misshapen_input_is_one_line(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "bad.npz", image=np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(UserError, match="no array for model input 'scale_factor'"):
        quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", tmp_path / "bad.npz")
    with pytest.raises(UserError, match="'image' has shape \\(8, 8\\); the model expects 4 dimensions"):
        bad = [{"image": np.zeros((8, 8)), "scale_factor": [1, 1]}]
        quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", bad)
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "imgs" / "a.png")
    with pytest.raises(UserError, match="inputs besides the image \\(scale_factor\\)"):
        quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", tmp_path / "imgs")
    assert not (tmp_path / "q.onnx").exists()


def test_nhwc_dynamic_image_input_from_dicts(tmp_path):
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2], name="tr"),
        helper.make_node("Conv", ["t", "w"], ["y"], name="conv"),
    ]
    m = make_model(
        nodes,
        [init("w", rng.standard_normal((4, 3, 1, 1)).astype(np.float32))],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "H", "W"])],
    )
    assert model_inputs(m).image.layout == "NHWC"
    onnx.save(m, tmp_path / "m.onnx")
    data = [{"x": rng.standard_normal((2, 8, 8 + 4 * i, 3)).astype(np.float32)} for i in range(3)]
    r = quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", data)
    assert r.calib_images == 6


def recurrent_model() -> onnx.ModelProto:
    """A recurrent step: x [T, 16] (T steps), state [2, 1, 16] (no sample axis first) and a
    scalar gain -> MatMul(x, W) + the state's mean, scaled; the new state out."""
    rng = np.random.default_rng(3)
    f = np.float32
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
        helper.make_node("ReduceMean", ["state"], ["s"], axes=[0, 1], keepdims=0, name="mean"),
        helper.make_node("Add", ["m", "s"], ["a"], name="add"),
        helper.make_node("Mul", ["a", "gain"], ["y"], name="gain_mul"),
        helper.make_node("Identity", ["state"], ["state_out"], name="keep"),
    ]
    ins = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 16]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "B", 16]),
        helper.make_tensor_value_info("gain", TensorProto.FLOAT, []),
    ]
    outs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 16]),
        helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, "B", 16]),
    ]
    return make_model(nodes, [init("w", rng.standard_normal((16, 16)).astype(f))], ins, outs, opset=17)


def test_inputs_without_a_sample_axis_are_fed_whole(tmp_path):
    # a recurrent state [layers, batch, hidden] and a scalar: each .npz file (or dict) is one
    # sample fed as given; it used to stop at "the inputs have different sample counts"
    rng = np.random.default_rng(4)
    samples = [
        {
            "x": rng.standard_normal((8 + k, 16)).astype(np.float32),
            "state": rng.standard_normal((2, 1, 16)).astype(np.float32),
            "gain": np.array(1.5, np.float32),
        }
        for k in range(6)
    ]
    onnx.save(recurrent_model(), tmp_path / "m.onnx")
    (tmp_path / "calib").mkdir()
    for k, s in enumerate(samples):
        np.savez(tmp_path / "calib" / f"{k}.npz", **s)
    for data in (tmp_path / "calib", samples):
        r = quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", data)
        assert r.calib_images == 6 and r.quantized_nodes >= 1  # the MatMul
        f, q = make_runner(tmp_path / "m.onnx"), make_runner(tmp_path / "q.onnx")
        assert cosine(f.run(samples[0]), q.run(samples[0])) > 0.99
    batches, _ = iter_batches(samples, model_inputs(recurrent_model()), PRESETS["torchvision"], 4)
    assert [b.inputs["x"].shape[0] for b in batches] == [8, 9, 10, 11, 12, 13]  # never joined
