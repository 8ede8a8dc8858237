"""Hostile or unusual models: clean one-line errors, never a traceback; big models work."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from int8ptq.api import quantize
from int8ptq.config import QuantConfig
from int8ptq.errors import UserError
from int8ptq.ir import load_model, save_model
from tests.cli.test_app import cli
from tests.conftest import init, make_model, tiny_convnet


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_truncated_and_garbage_files(tmp_path):
    good = tiny_convnet().SerializeToString()
    for i, data in enumerate([good[: len(good) // 2], b"\x08\x07" + bytes(range(256)) * 3, b""]):
        p = tmp_path / f"bad{i}.onnx"
        p.write_bytes(data)
        with pytest.raises(UserError, match="not a valid ONNX model"):
            load_model(p)


def test_cycle_and_dangling_input_are_named(tmp_path):
    cyc = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Relu", ["b"], ["a"], name="r1"),
                helper.make_node("Relu", ["a"], ["b"], name="r2"),
                helper.make_node("Add", ["x", "a"], ["y"], name="add"),
            ],
            "g",
            [_vi("x", [1])],
            [_vi("y", [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.save(cyc, tmp_path / "cyc.onnx")
    with pytest.raises(UserError, match="dangling input|cycle"):
        load_model(tmp_path / "cyc.onnx")
    dang = helper.make_model(
        helper.make_graph(
            [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")],
            "g",
            [_vi("x", [1])],
            [_vi("y", [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.save(dang, tmp_path / "dang.onnx")
    with pytest.raises(UserError, match="dangling input: node 'add' reads 'ghost'"):
        load_model(tmp_path / "dang.onnx")


def test_external_data_path_traversal_is_rejected(tmp_path):
    m = tiny_convnet()
    t = next(t for t in m.graph.initializer if t.name == "w1")
    t.ClearField("float_data")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../etc/passwd")
    (tmp_path / "m").mkdir()
    p = tmp_path / "m" / "evil.onnx"
    p.write_bytes(m.SerializeToString())
    with pytest.raises(UserError, match="escapes the model's folder"):
        load_model(p)


def test_model_over_2gb_saves_and_loads_with_external_data(tmp_path):
    n = (2**30 // 4) + 1024  # two tensors of just over 1 GB: protobuf caps each message at 2 GB
    inits = []
    for k in range(2):
        w = np.zeros(n, np.float32)
        w[-1] = 7.0 + k
        inits.append(init(f"w{k}", w))
        del w
    nodes = [
        helper.make_node("Gather", ["w0", "i"], ["a"], name="g0"),
        helper.make_node("Gather", ["w1", "i"], ["b"], name="g1"),
        helper.make_node("Add", ["a", "b"], ["y"], name="add"),
    ]
    m = helper.make_model(
        helper.make_graph(
            nodes,
            "big",
            [helper.make_tensor_value_info("i", TensorProto.INT64, [1])],
            [_vi("y", [1])],
            initializer=inits,
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    del inits
    p = tmp_path / "big.onnx"
    save_model(m, p)
    del m
    data = list(tmp_path.glob("big.onnx.*.data"))
    assert p.stat().st_size < 10_000 and len(data) == 1 and data[0].stat().st_size >= 2**31
    loaded = load_model(p)
    ws = [onnx.numpy_helper.to_array(t) for t in loaded.graph.initializer]
    assert [w.size for w in ws] == [n, n] and [w[-1] for w in ws] == [7.0, 8.0]
    del ws
    from int8ptq.runtime.ort import OrtRunner  # an in-memory model over 2 GB still runs

    r = OrtRunner(loaded)
    assert float(r.session.run(None, {"i": np.array([n - 1])})[0][0]) == 15.0


def test_custom_domain_op_stays_fp32_with_a_warning(tmp_path, calib_npy):
    base = tiny_convnet()
    g = base.graph
    relu = next(n for n in g.node if n.name == "relu1")
    relu.op_type, relu.domain = "Gelu", "com.microsoft"  # an op onnxruntime knows, in a custom domain
    base.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    p = tmp_path / "custom.onnx"
    onnx.save(base, p)
    with pytest.warns(UserWarning, match="com.microsoft::Gelu"):
        r = quantize(p, tmp_path / "q.onnx", calib_npy)
    assert r.float_nodes.get("Gelu") == 1 and r.quantized_nodes > 3


def test_unknown_op_is_a_clean_error(tmp_path, calib_npy):
    m = tiny_convnet()
    relu = next(n for n in m.graph.node if n.name == "relu1")
    relu.op_type, relu.domain = "Frobnicate", "acme.ops"
    m.opset_import.append(helper.make_opsetid("acme.ops", 1))
    p = tmp_path / "unknown.onnx"
    onnx.save(m, p)
    r = cli("quantize", p, "-o", tmp_path / "q.onnx", "--calib", calib_npy)
    assert r.returncode == 2 and "onnxruntime cannot run this model" in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("int8ptq: warning: ") and "acme.ops::Frobnicate" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("int8ptq: error: ") and not (tmp_path / "q.onnx").exists()


def test_model_without_image_input_or_static_batch_one(tmp_path):
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [], [_vi("x", [1, 4])], [_vi("y", [1, 4])])
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "a.png")
    with pytest.raises(UserError, match="no image input"):  # images, for a model that takes none
        quantize(m, tmp_path / "q.onnx", tmp_path / "imgs")
    assert quantize(m, tmp_path / "q.onnx", [np.zeros((1, 4), np.float32)]).calib_images == 1
    fixed = tiny_convnet(batch=1)
    x = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    r = quantize(fixed, tmp_path / "b1.onnx", [x[:3], x[3:]])  # re-batched to the static batch of 1
    assert r.calib_images == 5 and r.quantized_nodes > 3


def test_a_dynamic_dimension_written_as_minus_one_is_dynamic(tmp_path, calib_npy):
    # Paddle2ONNX writes a dynamic batch as dim_value -1 (rapidocr's PP-OCR cls): read as a static
    # batch of -1, calibration used to loop forever
    m = tiny_convnet(batch=-1, size=16)
    onnx.save(m, tmp_path / "m.onnx")
    out = tmp_path / "int8.onnx"
    args = ("quantize", tmp_path / "m.onnx", "-o", out, "--calib", calib_npy, "--json", tmp_path / "q.json")
    r = cli(*args, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "q.json").read_text())["calib_images"] == 32  # every sample, no batch of -1
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(out).graph.node)
    folder = tmp_path / "samples"  # one sample per .npz file: the case that hung
    folder.mkdir()
    for i, x in enumerate(np.load(calib_npy)[:4]):
        np.savez(folder / f"{i}.npz", x=x)
    args = ("quantize", tmp_path / "m.onnx", "-o", out, "--calib", folder, "--json", tmp_path / "q.json")
    r = cli(*args, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "q.json").read_text())["calib_images"] == 4


def test_opset_11_model_is_upgraded_and_quantized(tmp_path, calib_npy):
    m = tiny_convnet()
    m.opset_import[0].version = 11
    onnx.save(m, tmp_path / "old.onnx")
    out = tmp_path / "int8.onnx"
    r = cli("quantize", tmp_path / "old.onnx", "-o", out, "--calib", calib_npy, "--json", tmp_path / "q.json")
    assert r.returncode == 0, r.stderr
    assert "11 -> 14 (upgraded in memory)" in r.stdout
    assert json.loads((tmp_path / "q.json").read_text())["opset_upgraded"] == "11->14"
    q = onnx.load(out)
    assert q.opset_import[0].version >= 13
    assert any(n.op_type == "QuantizeLinear" for n in q.graph.node)


def test_arrays_fed_as_given_record_no_invented_preprocessing(tmp_path):
    # a guessed preset (torchvision) was written into the model although the arrays were never
    # preprocessed by it; a named preset, or images decoded by one, is still recorded
    x = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    folder = tmp_path / "samples"
    folder.mkdir()
    for i, xi in enumerate(x):
        np.savez(folder / f"{i}.npz", x=xi)

    def meta(path):
        return {p.key: p.value for p in onnx.load(str(path)).metadata_props}

    r = quantize(tiny_convnet(), tmp_path / "a.onnx", folder)
    assert r.settings["preset"] == "none" and r.settings["preprocessing"] == {}
    assert "int8ptq.preprocessing" not in meta(tmp_path / "a.onnx")
    r = quantize(tiny_convnet(), tmp_path / "b.onnx", folder, config=QuantConfig(preset="inception"))
    assert r.settings["preset"] == "inception" and meta(tmp_path / "b.onnx")["int8ptq.preset"] == "inception"
