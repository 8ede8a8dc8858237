"""evaluate/compare on any model: per-output cosine, SQNR, argmax; a user's task metric in
evaluate and tune."""

import numpy as np
import onnx

from int8ptq.api import evaluate, quantize
from int8ptq.config import TuneConfig
from int8ptq.eval.compare import compare
from int8ptq.tune import tune
from tests.data.test_feeds import two_input_model


def _data(tmp_path, n: int = 24, seed: int = 0):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(seed)
    path = tmp_path / f"data{seed}.npz"
    np.savez(
        path,
        image=rng.standard_normal((n, 3, 12, 12)).astype(np.float32),
        scale_factor=rng.random((n, 2)).astype(np.float32) + 0.5,
    )
    return path


def sign_agreement(ref, got, inputs) -> float:  # noqa: ANN001
    """Share of outputs whose sign INT8 keeps: a task metric in the hook's form."""
    assert len(ref) == len(got) == len(inputs) and "image" in inputs[0]
    a = np.concatenate([r["y"] for r in ref]) > 0
    b = np.concatenate([g["y"] for g in got]) > 0
    return float((a == b).mean())


def test_evaluate_reports_each_output_and_the_metric(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", _data(tmp_path))
    r = evaluate([tmp_path / "m.onnx", tmp_path / "q.onnx"], _data(tmp_path, seed=1), metric=sign_agreement)
    ref, q = r.models
    assert ref.images == q.images == 24
    (out,) = q.outputs
    assert out.output == "y" and 0.99 < out.cosine <= 1.0 and out.sqnr_db > 20
    assert out.argmax_agreement is not None and out.argmax_agreement > 0.9  # last axis: 2 classes
    assert q.metric is not None and 0.9 < q.metric <= 1.0
    plain = evaluate([tmp_path / "m.onnx", tmp_path / "q.onnx"], _data(tmp_path, seed=1))
    assert plain.models[1].outputs[0].cosine == out.cosine and plain.models[1].metric is None


def test_compare_reports_model_outputs(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", _data(tmp_path))
    c = compare(tmp_path / "m.onnx", tmp_path / "q.onnx", _data(tmp_path, seed=2))
    assert [o.output for o in c.outputs] == ["y"] and c.outputs[0].cosine > 0.99


def test_tune_meets_a_budget_on_the_users_metric(tmp_path):
    onnx.save(two_input_model(), tmp_path / "m.onnx")
    calls = []

    def metric(ref, got, inputs) -> float:  # noqa: ANN001
        calls.append(len(inputs))
        return sign_agreement(ref, got, inputs)

    r = tune(
        tmp_path / "m.onnx",
        tmp_path / "t.onnx",
        _data(tmp_path),
        _data(tmp_path, seed=3),
        tcfg=TuneConfig(max_drop=0.1),  # top-1 would need labels: the metric replaces it
        metric=metric,
    )
    assert r.met and r.best is not None and r.best.drop is not None and r.best.drop <= 0.1
    assert calls[0] >= 1 and len(calls) >= 2  # FP32 against itself, then each trial
    assert (tmp_path / "t.onnx").exists()


def test_argmax_is_not_reported_for_a_recurrent_state():
    from onnx import TensorProto, helper

    from int8ptq.eval.fidelity import class_axis_outputs
    from tests.conftest import init, make_model

    h, f = 8, np.float32
    nodes = [
        helper.make_node("LSTM", ["x", "w", "r"], ["y", "y_h"], hidden_size=h, name="lstm"),
        helper.make_node("Squeeze", ["y", "ax"], ["ys"], name="sq"),  # (T, N, h): a state too
        helper.make_node("MatMul", ["ys", "head"], ["logits"], name="head"),
    ]
    inits = [
        init("w", np.ones((1, 4 * h, 4), f)),
        init("r", np.ones((1, 4 * h, h), f)),
        init("ax", np.array([1], np.int64)),
        init("head", np.ones((h, 5), f)),
    ]
    outs = [
        helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [1, "N", h]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", "N", 5]),
    ]
    m = make_model(nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "N", 4])], outs)
    assert class_axis_outputs(m) == {"logits"}  # y_h's last axis holds hidden units, not classes
