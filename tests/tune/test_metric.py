"""tune meets a budget on the user's own metric (NNCF's validation_fn, INC's eval_func)."""

import numpy as np

from int8ptq.tune import TuneConfig, tune


def relative_error_score(fp32, int8, inputs) -> float:
    """Higher is better: minus the relative L2 error of the outputs (0 for FP32 itself)."""
    assert len(fp32) == len(int8) == len(inputs) and all("y" in b for b in int8)  # batches of dicts
    ref = np.concatenate([b["y"] for b in fp32])
    got = np.concatenate([b["y"] for b in int8])
    return -float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def test_tune_falls_back_until_the_users_metric_is_within_budget(convnet_path, calib_npy, tmp_path):
    out = tmp_path / "tuned.onnx"
    budget = TuneConfig(max_drop=1e-6)
    r = tune(convnet_path, out, calib_npy, calib_npy, tcfg=budget, metric=relative_error_score)
    first = r.trials[0]
    assert first.name == "defaults" and first.drop is not None and first.drop > 1e-6  # INT8 has some error
    assert r.met and r.best is not None and r.best.fallback  # met only by keeping layers in FP32
    assert r.best.drop is not None and r.best.drop <= 1e-6
    assert out.exists()
