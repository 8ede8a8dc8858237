"""Mutated ONNX bytes and image bytes: a clean error or a valid result, never a traceback
or a hang. Bounded: a fixed number of seeded cases, each under a time limit."""

import io
import random
import signal

import numpy as np
import onnx
import pytest
from PIL import Image

from int8ptq.api import quantize
from int8ptq.data import PRESETS
from int8ptq.data.dataset import _decode
from int8ptq.errors import UserError
from tests.cli.test_app import cli
from tests.conftest import run, tiny_convnet


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.choice(["flip", "cut", "insert", "zero"])
        i = rng.randrange(len(b)) if b else 0
        if op == "flip" and b:
            b[i] ^= 1 << rng.randrange(8)
        elif op == "cut":
            b = b[: max(1, i)]
        elif op == "insert":
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif b:
            b[i : i + 4] = b"\x00\x00\x00\x00"
    return bytes(b)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ANN001
    raise _Timeout


@pytest.mark.parametrize("seed", range(40))
def test_mutated_models_fail_cleanly_or_work(seed, tmp_path, calib_npy):
    rng = random.Random(seed)
    p = tmp_path / "m.onnx"
    p.write_bytes(_mutate(tiny_convnet().SerializeToString(), rng))
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    try:
        quantize(p, tmp_path / "q.onnx", calib_npy)
    except UserError as e:
        assert str(e) and "\n" not in str(e)
        assert not (tmp_path / "q.onnx").exists()  # no partial output
    else:
        _check_output(p, tmp_path / "q.onnx", calib_npy)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _check_output(fp32, int8, calib_npy) -> None:
    """A mutation the quantizer accepted gives a valid model that runs like its FP32 source."""
    onnx.checker.check_model(onnx.load(str(int8)))
    x = np.load(calib_npy, allow_pickle=False)[:4]
    ref, out = run(fp32, x), run(int8, x)
    assert out.shape == ref.shape
    if np.isfinite(ref).all():
        assert np.isfinite(out).all()


def test_mutated_model_on_the_cli_has_no_traceback(tmp_path, calib_npy):
    rng = random.Random(1234)
    for i in range(6):
        p = tmp_path / f"m{i}.onnx"
        p.write_bytes(_mutate(tiny_convnet().SerializeToString(), rng))
        r = cli("quantize", p, "-o", tmp_path / f"q{i}.onnx", "--calib", calib_npy)
        assert "Traceback" not in r.stderr and r.returncode in (0, 2), r.stderr
        if r.returncode == 0:
            _check_output(p, tmp_path / f"q{i}.onnx", calib_npy)
        else:
            assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / f"q{i}.onnx").exists()


def test_mutated_images_decode_or_skip(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8)).save(buf, "JPEG")
    png = io.BytesIO()
    Image.new("RGB", (30, 30), (1, 2, 3)).save(png, "PNG")
    rng = random.Random(7)
    for k in range(150):
        src = buf.getvalue() if k % 2 else png.getvalue()
        f = tmp_path / f"{k}.img"
        f.write_bytes(_mutate(src, rng))
        x = _decode(f, PRESETS["torchvision"])
        assert x is None or (x.shape == (3, 224, 224) and np.isfinite(x).all())
