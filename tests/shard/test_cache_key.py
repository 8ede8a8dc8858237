"""The shard cache key covers everything that changes a result, and a real onnxruntime run
and a real OpenVINO run on the same files never share an entry."""

import dataclasses

import onnx

from int8ptq.api import evaluate, quantize
from int8ptq.data.dataset import open_dataset
from int8ptq.shard.work import EvalJob, data_fingerprint
from tests.conftest import tiny_convnet


def test_every_setting_that_changes_a_result_changes_the_key(imagenet, tmp_path):
    lst = tmp_path / "list.txt"
    lines = (imagenet / "eval.txt").read_text().splitlines()[:8]
    lst.write_text("\n".join(lines) + "\n")
    fp = data_fingerprint(open_dataset(lst))
    job = EvalJob((b"model",), str(lst), "torchvision", 224, "NCHW", 16, "ort", 2, fp, None)
    variants = [
        {"models": (b"model2",)},
        {"preset": "inception"},
        {"crop": 240},
        {"layout": "NHWC"},
        {"batch_size": 8},
        {"backend": "openvino"},
        {"threads": 1},
        {"limit": 100},
    ]
    keys = {job.key} | {dataclasses.replace(job, **v).key for v in variants}
    assert len(keys) == len(variants) + 1
    lst.write_text("\n".join(reversed(lines)) + "\n")  # same path, other content
    assert data_fingerprint(open_dataset(lst)) != fp
    assert dataclasses.replace(job, data_key=data_fingerprint(open_dataset(lst))).key != job.key


def test_openvino_after_ort_equals_openvino_without_cache(imagenet, tmp_path):
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(tiny_convnet(size=32), fp32)
    quantize(fp32, int8, _calib(tmp_path))
    cache, data = tmp_path / "cache", imagenet / "eval.txt"
    models = [fp32, int8]
    ort = evaluate(models, data, limit=48, backend="ort", cache=cache)
    assert len(list(cache.iterdir())) == 1
    ov = evaluate(models, data, limit=48, backend="openvino", cache=cache)
    assert len(list(cache.iterdir())) == 2  # its own entry, not onnxruntime's
    ov_fresh = evaluate(models, data, limit=48, backend="openvino", cache=None)

    def figures(r):
        return [(m.top1, m.top5, m.agreement, m.cosine) for m in r.models]

    assert figures(ov) == figures(ov_fresh)
    assert figures(ov) != figures(ort)  # the backends' INT8 kernels differ: sharing would show
    again = evaluate(models, data, limit=48, backend="openvino", cache=cache)  # served from cache
    assert figures(again) == figures(ov_fresh)


def _calib(tmp_path):
    import numpy as np

    p = tmp_path / "c32.npy"
    np.save(p, np.random.default_rng(1).standard_normal((16, 3, 32, 32)).astype(np.float32))
    return p
